"""The review page served by a running station: over HTTP behind its token, off without one, and clicked in a real
Chromium."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from station.config import load_config
from station.export import export
from station.metrics import Metrics
from station.model import Model
from station.pipeline import Pipeline, RunOptions
from station.sources import source_for

from .archived import REVIEW_TOKEN, archive_of_passes
from .browser import CHROMIUM, Browser
from .conftest import MODEL, SAMPLE, free_port, wait_for


def _http(port: int, path: str, token: str | None = None, body: dict[str, Any] | bytes | None = None) -> tuple[int, bytes]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data is not None else "GET")
    if token is not None:
        req.add_header("X-Review-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


@pytest.fixture
def station_with_review(tmp_path: Path) -> Any:
    """A replay of 18 defective parts archived, the station's HTTP port left up with review on."""
    tok = tmp_path / "token"
    tok.write_text(REVIEW_TOKEN + "\n")
    port = free_port()
    sets = [f"metrics.port={port}", f"archive.dir={tmp_path / 'archive'}", f"review.token_file={tok}",
            "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]  # fmt: skip
    m = Metrics()
    pipe = Pipeline(load_config(None, sets), source_for(str(SAMPLE / "def_front")), Model(MODEL), m, RunOptions())
    pipe.start()
    try:
        assert wait_for(pipe.finished, 60)
        assert pipe.drain(10)
        yield port, tmp_path / "archive", m
    finally:
        pipe.close()


@pytest.mark.integration
def test_review_over_http_needs_the_token_and_writes_the_label(station_with_review: Any) -> None:
    port, archive, m = station_with_review
    assert _http(port, "/review/items")[0] == 403
    assert _http(port, "/review/items", token="wrong-token-wrong-token")[0] == 403
    code, body = _http(port, "/review/items", token=REVIEW_TOKEN)
    items = json.loads(body)["items"]
    assert code == 200 and len(items) == 18 and all(i["heat"] for i in items)
    first = items[0]["id"]
    code, png = _http(port, f"/review/image?id={first}&kind=heat", token=REVIEW_TOKEN)
    assert code == 200 and png.startswith(b"\x89PNG")
    assert _http(port, "/review/label", token=None, body={"id": first, "label": "good", "who": "Ana"})[0] == 403
    assert _http(port, "/review/label", token=REVIEW_TOKEN, body=b"{" * 5000)[0] == 413
    assert _http(port, "/review/label", token=REVIEW_TOKEN, body={"id": first, "label": "maybe", "who": "Ana"})[0] == 400
    assert _http(port, "/review/label", token=REVIEW_TOKEN, body=b"[NaN]")[0] == 400
    assert _http(port, "/review/label", token=REVIEW_TOKEN, body={"id": first, "label": "good", "who": "Ana\n"})[0] == 400
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # a length that is no number: an answer, not a traceback
        sock.sendall(f"POST /review/label HTTP/1.1\r\nX-Review-Token: {REVIEW_TOKEN}\r\nContent-Length: abc\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.0 413")
    label = json.dumps({"id": first, "label": "good", "who": "Ana"}).encode()
    for head, status in [  # read one way only: a length int() reads kindly, two lengths, or a length and chunks
        (f"Content-Length: {len(label) // 10}_{len(label) % 10}", b"413"),
        (f"Content-Length: {len(label)}\r\nContent-Length: 4000", b"400"),
        (f"Content-Length: {len(label)}\r\nTransfer-Encoding: chunked", b"400"),
    ]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"POST /review/label HTTP/1.1\r\nX-Review-Token: {REVIEW_TOKEN}\r\n{head}\r\n\r\n".encode() + label)
            assert sock.recv(64).startswith(b"HTTP/1.0 " + status), head
    extra = {"id": first, "label": "good", "who": "Ana", "by": "Bo"}  # a key the contract does not have: refused, not passed over
    assert _http(port, "/review/label", token=REVIEW_TOKEN, body=extra)[0] == 400
    assert _http(port, "/metrics", token=REVIEW_TOKEN, body={"id": first})[0] == 405  # a page that is only read
    assert _http(port, "/nothing", token=REVIEW_TOKEN, body={"id": first})[0] == 404
    code, body = _http(port, "/review/label", token=REVIEW_TOKEN, body={"id": first, "label": "good", "who": "Ana"})
    assert code == 200 and json.loads(body)["review"]["by"] == "Ana"
    assert json.loads((archive / f"{first}.json").read_text())["review"]["label"] == "good"
    assert m.registry.get_sample_value("station_review_overruled_total") == 1
    for item in items[1:]:  # the rest confirmed as defective: a labelled folder with both kinds
        assert _http(port, "/review/label", token=REVIEW_TOKEN, body={"id": item["id"], "label": "defect", "who": "Bo"})[0] == 200
    out = archive.parent / "reviewed"
    assert export(archive, out, reviewed_only=True).counts == {"def_front": 17, "ok_front": 1, "review": 0}
    from station.offline.evaluate import evaluate_folder

    assert evaluate_folder(out, Model(MODEL), archive.parent / "report") == 0, "station eval reads the export"
    figures = json.loads((archive.parent / "report" / "metrics.json").read_text())
    assert figures["images"] == 18


@pytest.mark.integration
def test_review_is_off_without_a_token_file(tmp_path: Path) -> None:
    port = free_port()
    cfg = load_config(None, [f"metrics.port={port}", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"])
    pipe = Pipeline(cfg, source_for(str(SAMPLE / "def_front")), Model(MODEL), Metrics(), RunOptions())
    try:
        for path in ("/review", "/review/items"):
            assert _http(port, path, token=REVIEW_TOKEN)[0] == 404
        assert _http(port, "/review/label", token=REVIEW_TOKEN, body={"id": "x", "label": "good", "who": "A"})[0] == 404
    finally:
        pipe.close()


@pytest.mark.integration
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed (.ci/run installs it)")
def test_an_operator_clicks_good_in_chromium_and_the_sidecar_changes(station_with_review: Any, tmp_path: Path) -> None:
    port, archive, _m = station_with_review
    with Browser(f"http://127.0.0.1:{port}/review#token={REVIEW_TOKEN}&name=Ana", tmp_path) as page:
        listed = "(document.body && document.body.dataset.loaded) || 0"  # evaluated from the first moment: the page may still load
        assert wait_for(lambda: int(page.js(listed) or 0) == 18, 30, poll=0.2), "the review view never listed the parts"
        first = page.js("document.querySelector('.card').dataset.id")
        page.click("document.querySelector('.card button.good')")
        side = archive / f"{first}.json"
        assert wait_for(lambda: "review" in json.loads(side.read_text()), 10), "the click never reached the sidecar"
        review = json.loads(side.read_text())["review"]
        assert review["label"] == "good" and review["by"] == "Ana"
        assert wait_for(lambda: "good (by Ana" in str(page.js("document.querySelector('.card .label').textContent")), 10)
        meta = json.loads(side.read_text())  # a sidecar is a file on disk: what it holds is shown as text, never run as markup
        meta.update(part_id='<img src="x" onerror="document.title=\'owned\'">', score="high")
        side.write_text(json.dumps(meta))
        page.js("location.reload()")
        meta_of_first = f"(document.querySelector('.card[data-id=\"{first}\"] .meta') || {{}}).textContent"
        assert wait_for(lambda: '#<img src="x"' in str(page.js(meta_of_first)), 30, poll=0.2), "the reloaded view never showed it"
        assert "defect -" in page.js(meta_of_first) and page.js("document.title") != "owned"  # a score that is no number shows as -
        assert page.js("document.querySelectorAll('.card img[src=\"x\"]').length") == 0
        (trial,) = archive_of_passes(archive, 1)  # a trial run's pass: listed once "passes too" is ticked
        page.click("document.getElementById('passes')")
        assert wait_for(lambda: int(page.js(listed) or 0) == 19, 30, poll=0.2), "ticking passes too never listed the pass"
        assert page.js(f"document.querySelectorAll('.card[data-id=\"{trial}\"]').length") == 1
        _a_link_asks_before_it_replaces_the_stored_token_and_name(page)


def _a_link_asks_before_it_replaces_the_stored_token_and_name(page: Browser) -> None:
    """A link with another token and name fills the login form and stores nothing until Start; a token the station refuses
    brings the form back, saying so."""
    page.js("location.hash = 'token=wrong&name=Mallory'; location.reload()")
    shown = "getComputedStyle(document.getElementById('login')).display"
    assert wait_for(lambda: page.js(shown) == "block", 30, poll=0.2), "the link was taken without asking"
    assert "another token or name" in page.js("document.getElementById('status').textContent")
    assert page.js("[localStorage.getItem('reviewName'), document.getElementById('name').value]") == ["Ana", "Mallory"]
    page.click("document.getElementById('save')")
    assert wait_for(lambda: page.js(shown) == "block" and "refused" in page.js("document.getElementById('status').textContent"), 30)
    assert page.js("localStorage.getItem('reviewName')") == "Mallory"
