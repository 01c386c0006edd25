"""The HTTP endpoints over real HTTP: /healthz, the live page's data and its annotated frame."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import structlog
import yaml

from station import httpserve
from station.errors import ConfigError
from station.locate import Circle
from station.messages import Reason, Verdict
from station.metrics import Metrics
from station.stages.publish import Identity, to_message
from station.web import GET_ROUTES, GLARE_WARN, Health, LiveView, WebServer
from station.wire import VerdictMessage

from .conftest import ROOT, free_port

pytestmark = pytest.mark.integration  # real processes, sockets, servers or browsers


def _get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def _verdict(pid: int, reason: Reason = Reason.DEFECT) -> tuple[Verdict, VerdictMessage]:
    img = np.full((360, 640), 90, np.uint8)
    cv2.circle(img, (320, 180), 120, 200, -1)
    v = Verdict(pid, pid * 10, reason, 0.91, "d", time.time(), time.monotonic(), Circle(320, 180, 120), image=img)
    return v, to_message(v, Identity("s", "c", "m"), {"station": "s", "run_id": "r", "seq": pid, "sent_at": 0.0}, 0.5, 0.0)


def test_healthz_says_why_with_the_status_code() -> None:
    m = Metrics()
    state = {"h": Health(False, {"problems": ["camera disconnected"]})}
    server = WebServer("127.0.0.1", 0, m, LiveView(m), lambda: state["h"])
    try:
        code, ctype, body = _get(server.port, "/healthz")
        assert code == 503 and ctype == "application/json" and json.loads(body)["problems"] == ["camera disconnected"]
        state["h"] = Health(True, {"problems": []})
        assert _get(server.port, "/healthz")[0] == 200
        assert _get(server.port, "/nope")[0] == 404
    finally:
        server.close()


def test_live_page_state_and_annotated_frame() -> None:
    m = Metrics()
    live = LiveView(m)
    server = WebServer("127.0.0.1", 0, m, live, lambda: Health(True, {}))
    try:
        code, ctype, page = _get(server.port, "/")
        assert code == 200 and ctype.startswith("text/html")
        assert b"<script>" in page and not re.search(rb"(src|href)\s*=\s*[\"'](https?:)?//", page)  # no external assets
        assert _get(server.port, "/frame.jpg")[0] == 404  # nothing inspected yet
        m.parts.labels(verdict="reject", reason="defect").inc()
        live.record(*_verdict(1))
        live.record(*_verdict(2, Reason.OK))
        state = json.loads(_get(server.port, "/state.json")[2])
        assert [r["part_id"] for r in state["recent"]] == [2, 1] and state["frame_part"] == 2
        assert state["counts"]["defect"] == 1
        assert state["clipped"] == 0.0 and state["clipped_warn"] == 0.25 and b'id="glare"' in page
        m.clipped.set(0.4)  # a glare-burnt image: the page warns of it
        assert json.loads(_get(server.port, "/state.json")[2])["clipped"] == 0.4
        code, ctype, jpeg = _get(server.port, "/frame.jpg")
        assert code == 200 and ctype == "image/jpeg"
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None
        b, g, r = img[180, 320 + 120].astype(int)  # on the outline: green for a pass
        assert g > r + 60 and g > b + 60
    finally:
        server.close()


def test_every_path_get_serves_answers_a_post_with_405_and_the_rest_with_404() -> None:
    """One table says which paths GET serves; a POST to one of them is a wrong method, to any other path a wrong path."""
    m = Metrics()
    server = WebServer("127.0.0.1", 0, m, LiveView(m), lambda: Health(True, {}))
    try:
        served = {"/": 200, "/metrics": 200, "/healthz": 200, "/state.json": 200, "/frame.jpg": 404, "/review": 404}
        for path, code in served.items():  # /frame.jpg: nothing inspected yet; /review: review is off
            assert path in GET_ROUTES and _get(server.port, path)[0] == code, path
        for path in GET_ROUTES:
            req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=b"{}", method="POST")
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=5)
            assert err.value.code == 405 and err.value.headers["Allow"] == "GET", path
        req = urllib.request.Request(f"http://127.0.0.1:{server.port}/nothing", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 404
    finally:
        server.close()


def test_port_in_use_names_metrics_port() -> None:
    port = free_port()
    m = Metrics()
    a = WebServer("127.0.0.1", port, m, LiveView(m), lambda: Health(True, {}))
    try:
        with pytest.raises(ConfigError) as err:
            WebServer("127.0.0.1", port, m, LiveView(m), lambda: Health(True, {}))
        assert err.value.key == "metrics.port"
    finally:
        a.close()


def test_the_live_page_warns_of_glare_at_the_alert_s_level() -> None:
    rules = yaml.safe_load((ROOT / "config/prometheus/alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["StationGlare"].endswith(f"> {GLARE_WARN}")


def test_the_live_frame_shows_the_heat_map_of_a_defect_beside_the_part() -> None:
    """A defect reject carries its evidence: the frame gets the model's view of the part, coloured by where the score came from."""
    from dataclasses import replace

    from station.messages import Frame, Part
    from station.model import Model
    from station.reload import ModelSlot
    from station.stages.decision import DecisionStage
    from station.stages.inference import InferenceStage
    from station.stages.preprocess import PreprocessStage
    from station.stills import read_image
    from station.web import annotate

    from .conftest import MODEL, SAMPLE

    model, m = Model(MODEL), Metrics()
    slot = ModelSlot(model)
    for path in sorted((SAMPLE / "def_front").iterdir()):
        photo = read_image(path).image
        assert photo is not None
        image = np.pad(photo, ((150, 150), (300, 300)), mode="edge")  # a wide frame: the part in the middle, belt around it
        part = Part(1, Frame(1, image, time.monotonic(), time.time()))
        v = DecisionStage(model.info, m)(InferenceStage(slot, m)(PreprocessStage(slot, m)(part)[0])[0])[0]
        if v.reason is Reason.DEFECT:
            break
    assert v.reason is Reason.DEFECT and v.evidence is not None

    def colourful(jpeg: bytes) -> float:
        """Share of strongly coloured pixels in the top right third, clear of the part (the frame itself is grey)."""
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None
        corner = img[40 : img.shape[0] // 2, img.shape[1] * 2 // 3 :].astype(int)
        return float(np.mean(corner.max(axis=2) - corner.min(axis=2) > 60))

    assert colourful(annotate(v, 800)) > 0.05 and colourful(annotate(replace(v, evidence=None), 800)) < 0.01


def test_the_live_frame_boxes_a_part_that_was_not_located() -> None:
    """Line mode, the trigger refused the part (or no rim was found): the frame shows the box it was seen in, in the
    reject colour, so that the operator sees which of the parts in view was meant."""
    from station.web import annotate

    frame = np.full((360, 640), 60, np.uint8)
    v = Verdict(3, 9, Reason.UNABLE, None, "never seen whole", 0.0, 0.0, None, image=frame, blob=(300.0, 200.0, 100.0))

    def red(jpeg: bytes, rows: slice, cols: slice) -> float:
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None
        img = img[rows, cols].astype(int)
        return float(np.mean((img[..., 2] > 150) & (img[..., 0] < 100)))

    edge, inside = (slice(148, 153), slice(260, 340)), (slice(170, 230), slice(270, 330))  # the box's top edge; its middle
    assert red(annotate(v, 800), *edge) > 0.5 and red(annotate(v, 800), *inside) == 0
    assert red(annotate(Verdict(**{**v.__dict__, "blob": None}), 800), *edge) == 0, "a frame that is a part: no box"
    half = annotate(v, 320)  # scaled to half: the box with it
    assert red(half, slice(73, 77), slice(130, 170)) > 0.5


def _ok_server(m: Metrics) -> WebServer:
    return WebServer("127.0.0.1", 0, m, LiveView(m), lambda: Health(True, {"problems": []}))


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """True when the server closes ``sock`` (reads EOF or a reset) within ``seconds``, a byte of ``trickle`` sent every 0.2 s."""
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    for k in range(10**6):
        if time.monotonic() > end:
            return False
        try:
            if trickle:
                sock.sendall(trickle[k % len(trickle) : k % len(trickle) + 1])
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset, or a send after the server closed: closed either way
            return True
    return False


def test_a_request_that_trickles_in_is_cut_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpserve, "REQUEST_S", 1.0)
    m = Metrics()
    server = _ok_server(m)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow:
            slow.sendall(b"GET /metrics HTTP/1.1\r\nX-Long: ")
            t0 = time.monotonic()
            assert _closed_within(slow, 8.0, b"x")  # one header, a byte every 0.2 s: open for ever before
            assert time.monotonic() - t0 < 8.0
        assert _get(server.port, "/healthz")[0] == 200
    finally:
        server.close()


def test_clients_past_the_limit_are_closed_unanswered_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpserve, "MAX_CLIENTS", 2)
    m = Metrics()
    server = _ok_server(m)
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
    try:
        for s in idle:  # each holds a handler thread, waiting for its request line
            s.sendall(b"GET")
        extra = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        assert _closed_within(extra, 5.0)  # closed at once: no thread, no descriptor held for it
        extra.close()
        assert m.registry.get_sample_value("station_http_connections_refused_total") == 1
    finally:
        for s in idle:
            s.close()
    try:
        assert _wait(lambda: _get(server.port, "/healthz")[0] == 200, 5.0)  # the slots come back as the idle ones go
    finally:
        server.close()


def test_one_client_never_takes_every_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """16 connections trickling a byte a second from one address kept /healthz and /metrics from every other client."""
    import http.client

    monkeypatch.setattr(httpserve, "MAX_CLIENTS", 4)
    monkeypatch.setattr(httpserve, "MAX_PER_CLIENT", 2)
    m = Metrics()
    server = _ok_server(m)
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=("127.0.0.1", 0)) for _ in range(2)]
    try:
        for s in idle:
            s.sendall(b"GET")
        extra = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=("127.0.0.1", 0))
        assert _closed_within(extra, 5.0)  # its third: closed at once, two slots still free
        extra.close()
        other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5, source_address=("127.0.0.2", 0))
        other.request("GET", "/healthz")
        assert other.getresponse().status == 200  # another address is served
        other.close()
        assert m.registry.get_sample_value("station_http_connections_refused_total") == 1
    finally:
        for s in idle:
            s.close()
        server.close()


def test_every_answer_says_its_type_is_meant_and_the_review_page_is_never_framed(tmp_path: Path) -> None:
    from station.review import Review

    m = Metrics()
    server = WebServer("127.0.0.1", 0, m, LiveView(m), lambda: Health(True, {"problems": []}), Review(tmp_path, "t" * 16, m))
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):  # someone guessing the token: said, once in 10 s
                with contextlib.suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(f"http://127.0.0.1:{server.port}/review/items", timeout=5).close()
        assert [e["event"] for e in logs if e["event"].startswith("review_token")] == ["review_token_refused"]
        for path in ("/", "/healthz", "/metrics", "/review", "/review/items", "/nowhere"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
                    headers = r.headers
            except urllib.error.HTTPError as refused:  # 403 without the token, 404
                headers = refused.headers
            assert headers["X-Content-Type-Options"] == "nosniff"
            framed = headers["X-Frame-Options"], headers["Content-Security-Policy"]
            assert framed == (("DENY", "frame-ancestors 'none'") if path == "/review" else (None, None))  # the live page may be
    finally:
        server.close()


def test_a_method_no_handler_takes_is_refused_in_one_plain_line() -> None:
    import http.client

    m = Metrics()
    server = _ok_server(m)
    try:
        for method in ("DELETE", "PUT", "OPTIONS"):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request(method, "/metrics")
            answer = conn.getresponse()
            assert (answer.status, answer.headers["Content-Type"]) == (501, "text/plain")  # not the standard library's HTML
            assert answer.read() == f"Unsupported method ('{method}')\n".encode()
            conn.close()
    finally:
        server.close()


def _wait(ok: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if ok():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def test_head_answers_as_get_would_without_the_body() -> None:
    m = Metrics()
    server = _ok_server(m)
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{server.port}/healthz", method="HEAD")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/json" and r.read() == b""
            assert int(r.headers["Content-Length"]) == len(_get(server.port, "/healthz")[2])
    finally:
        server.close()


def test_a_client_gone_mid_answer_is_one_log_line_never_a_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    from station.log import LogFormat, LogLevel, configure

    configure(LogLevel.INFO, LogFormat.JSON)
    m = Metrics()
    server = _ok_server(m)
    try:
        for _ in range(3):
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except ConnectionResetError:
                server._server.handle_error(None, ("127.0.0.1", 1))
    finally:
        server.close()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    lines = [json.loads(x) for x in (out + err).splitlines() if "http_request_failed" in x]
    assert [x.get("suppressed") for x in lines] == [None, 2]  # the first, then the count of the rest as the server closed
