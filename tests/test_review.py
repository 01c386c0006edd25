"""Operator review: labels written into the archive's sidecars, behind a token (served by a running station:
test_review_served.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from station.config import load_config
from station.errors import ConfigError, InputError
from station.export import export
from station.metrics import Metrics
from station.review import Review, load_token

from .archived import REVIEW_TOKEN, archive_of_passes, archive_of_rejects
from .conftest import ROOT


def test_the_token_file_is_checked_at_start(tmp_path: Path) -> None:
    assert load_token(load_config(None, [])) is None
    tok = tmp_path / "token"
    tok.write_text(REVIEW_TOKEN + "\n")
    with pytest.raises(ConfigError, match=r"review\.token_file.*archive\.dir"):
        load_token(load_config(None, [f"review.token_file={tok}"]))
    assert load_token(load_config(None, [f"review.token_file={tok}", f"archive.dir={tmp_path / 'a'}"])) == REVIEW_TOKEN
    tok.write_text("a" * 40 + "\n")
    with pytest.raises(ConfigError, match="fewer than 4 different characters, which is guessable"):
        load_token(load_config(None, [f"review.token_file={tok}", f"archive.dir={tmp_path / 'a'}"]))
    tok.write_text("short\n")
    with pytest.raises(ConfigError, match="at least 16"):
        load_token(load_config(None, [f"review.token_file={tok}", f"archive.dir={tmp_path / 'a'}"]))
    with pytest.raises(ConfigError, match="cannot read"):
        load_token(load_config(None, [f"review.token_file={tmp_path / 'none'}", f"archive.dir={tmp_path / 'a'}"]))
    for bad in ("é" * 20, "a" * 20 + "\x00" + "b"):  # no browser can send these in a header
        tok.write_text(bad)
        with pytest.raises(ConfigError, match="printable ASCII"):
            load_token(load_config(None, [f"review.token_file={tok}", f"archive.dir={tmp_path / 'a'}"]))
    os.mkfifo(tmp_path / "pipe")  # would block start-up for ever
    with pytest.raises(ConfigError, match="pipe: not a regular file"):
        load_token(load_config(None, [f"review.token_file={tmp_path / 'pipe'}", f"archive.dir={tmp_path / 'a'}"]))


def test_a_token_file_others_can_read_is_warned_of(tmp_path: Path) -> None:
    tok = tmp_path / "token"
    tok.write_text(REVIEW_TOKEN)
    sets = [f"review.token_file={tok}", f"archive.dir={tmp_path / 'a'}"]
    for mode, warned in ((0o600, False), (0o644, True)):
        tok.chmod(mode)
        with structlog.testing.capture_logs() as logs:
            assert load_token(load_config(None, sets)) == REVIEW_TOKEN
        assert any(e["event"] == "review_token_readable" for e in logs) == warned


def test_under_systemd_the_token_is_read_from_its_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit's dynamic user cannot read a token only root may read: as a CURVE key, it comes by LoadCredential."""
    tok, credentials = tmp_path / "review.token", tmp_path / "credentials"
    tok.write_text("not-read-under-the-unit-0123456789\n")
    credentials.mkdir()
    (credentials / "review.token").write_text(REVIEW_TOKEN + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert load_token(load_config(None, [f"review.token_file={tok}", f"archive.dir={tmp_path / 'a'}"])) == REVIEW_TOKEN


def test_a_token_this_process_may_not_read_says_how_a_unit_is_given_it(tmp_path: Path) -> None:
    """chmod 600, as the warning says, and the service's dynamic user may no longer read it: the error says how it may."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to read the token as another user (nobody)")
    tok = tmp_path / "review.token"
    tok.write_text(REVIEW_TOKEN)
    tok.chmod(0o600)
    tmp_path.chmod(0o755)
    code = (
        "import os\nfrom station.config import load_config\nfrom station.review import load_token\nos.setgid(65534); os.setuid(65534)\n"
        f"try:\n    load_token(load_config(None, ['review.token_file={tok}', 'archive.dir={tmp_path / 'a'}']))\n"
        "except Exception as e:\n    print(e)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    said = f"cannot read: Permission denied; a systemd unit is given it with LoadCredential=review.token:{tok}"
    assert said in p.stdout and "review.token_file" in p.stdout, p.stdout + p.stderr


def test_a_label_is_written_into_the_sidecar_with_who_and_when_and_counted(tmp_path: Path) -> None:
    ids = archive_of_rejects(tmp_path)
    m = Metrics()
    review = Review(tmp_path, REVIEW_TOKEN, m)
    reject = next(i for i in ids if "/reject/" in i)
    meta = review.label(reject, "good", "Ana", 1795800000.0)
    side = json.loads((tmp_path / f"{reject}.json").read_text())
    assert side["review"] == meta["review"] == {"label": "good", "by": "Ana", "at": 1795800000.0}
    assert side["verdict"] == "reject" and side["part_id"] == meta["part_id"], "the rest of the sidecar is kept"
    review.label(reject, "defect", "Bo", 1795800001.0)  # a second opinion replaces the first
    assert json.loads((tmp_path / f"{reject}.json").read_text())["review"]["by"] == "Bo"
    for _ in range(3):  # the same label again (a double click, two operators agreeing): written, not counted again
        review.label(reject, "defect", "Cy", 1795800002.0)
    assert json.loads((tmp_path / f"{reject}.json").read_text())["review"]["by"] == "Cy"
    assert m.registry.get_sample_value("station_reviewed_total") == 2
    assert m.registry.get_sample_value("station_review_overruled_total") == 1  # good on a reject
    assert not list(tmp_path.rglob(".*.tmp")), "no half-written sidecar"


@pytest.mark.parametrize(
    ("item", "label", "who", "names"),
    [
        ("../../etc/passwd", "good", "Ana", "not an archived part"),
        ("2026-12-01/reject/0a1b-9999999", "good", "Ana", "no such archived part"),
        (None, "maybe", "Ana", "label"),
        (None, "good", "", "who"),
        (None, "good", "<script>", "who"),
        (None, "good", "Ana\n", "who"),
        (None, "good", "   ", "who"),  # a name of no one
        (None, "good", "Station", "'station' is how an export names the station's own verdicts"),
        ("ITEM\n", "good", "Ana", "not an archived part"),
        ("2026-12-01/reject/0a1b-12345678901234567", "good", "Ana", "not an archived part"),  # a part id over 2 ** 53
        ("2026-12-01/reject/0a1b-12345678", "good", "Ana", "no such archived part"),  # the 12,345,678th part: an id
    ],
)
def test_a_bad_label_request_is_refused_naming_what(tmp_path: Path, item: str | None, label: str, who: str, names: str) -> None:
    ids = archive_of_rejects(tmp_path)
    with pytest.raises(InputError, match=names):
        Review(tmp_path, REVIEW_TOKEN, Metrics()).label((item or "ITEM").replace("ITEM", ids[0]), label, who, 0.0)


def test_a_sidecar_the_archive_did_not_write_is_never_listed_nor_labelled_and_is_named_once(tmp_path: Path) -> None:
    ids = archive_of_rejects(tmp_path)
    bad = {ids[0]: b"{not json", ids[1]: b"[1, 2]", ids[2]: b"\xff\xfe\x00"}
    for item, data in bad.items():
        (tmp_path / f"{item}.json").write_bytes(data)
    os.mkfifo(tmp_path / Path(ids[0]).parent / "0a1b-0000009.json")  # a pipe named .json: a read would block the listing for ever
    review = Review(tmp_path, REVIEW_TOKEN, Metrics())
    with structlog.testing.capture_logs() as logs:
        assert [i["id"] for i in review.items()] == [ids[3]] and [i["id"] for i in review.items()] == [ids[3]]
    named = [e["why"] for e in logs if e["event"] == "review_sidecar_unreadable"]
    assert len(named) == 4 and all("not a sidecar the archive wrote" in w for w in named), "each named once, not at every poll"
    for item in bad:
        with pytest.raises(InputError, match="its sidecar cannot be labelled"):
            review.label(item, "good", "Ana", 0.0)


def test_a_part_whose_crop_is_gone_is_not_labelled_and_keeps_its_sidecar(tmp_path: Path) -> None:
    ids = archive_of_rejects(tmp_path)
    (tmp_path / f"{ids[0]}.png").unlink()
    with pytest.raises(InputError, match="no crop beside its sidecar"):
        Review(tmp_path, REVIEW_TOKEN, Metrics()).label(ids[0], "good", "Ana", 0.0)
    assert "review" not in json.loads((tmp_path / f"{ids[0]}.json").read_text())


def test_a_label_racing_the_quotas_delete_leaves_no_sidecar_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from station import review as review_module

    ids = archive_of_rejects(tmp_path)
    side, crop = tmp_path / f"{ids[0]}.json", tmp_path / f"{ids[0]}.png"
    from station.archive_layout import atomic_write as write

    def quota_first(path: Path, data: bytes) -> None:  # the quota deletes the part just before the label is written
        crop.unlink()
        side.unlink()
        write(path, data)

    monkeypatch.setattr(review_module, "atomic_write", quota_first)
    m = Metrics()
    with pytest.raises(InputError, match="no such archived part"):
        Review(tmp_path, REVIEW_TOKEN, m).label(ids[0], "good", "Ana", 0.0)
    assert not side.exists() and not list(tmp_path.rglob(f"{Path(ids[0]).name}*")), "nothing of the part is left"
    assert m.registry.get_sample_value("station_reviewed_total") == 0


def test_an_image_that_is_a_pipe_is_not_read(tmp_path: Path) -> None:
    ids = archive_of_rejects(tmp_path)
    os.mkfifo(tmp_path / f"{ids[0]}.heat.png")  # a read would hold the web thread for ever
    with pytest.raises(InputError, match="no heat image"):
        Review(tmp_path, REVIEW_TOKEN, Metrics()).image(ids[0], "heat")


def test_the_listing_holds_rejects_and_disagreements_newest_first(tmp_path: Path) -> None:
    ids = archive_of_rejects(tmp_path)
    items = Review(tmp_path, REVIEW_TOKEN, Metrics()).items()
    assert sorted(i["id"] for i in items) == ids
    assert items[0]["verdict"] == "pass" and items[0]["disagreement"] is True, "the newest first: the disagreement"
    assert all(i["verdict"] == "reject" for i in items[1:])
    assert Review(tmp_path, REVIEW_TOKEN, Metrics(), recent=2).items() == items[:2]
    (tmp_path / "agreed").mkdir()
    plain = archive_of_rejects(tmp_path / "agreed", shadow_pass=False)
    trial = archive_of_passes(tmp_path / "agreed", 2)
    assert {i["id"] for i in Review(tmp_path / "agreed", REVIEW_TOKEN, Metrics()).items()} == set(plain), "a pass both agree on: not listed"
    listed = Review(tmp_path / "agreed", REVIEW_TOKEN, Metrics()).items(passes=True)
    assert {i["id"] for i in listed} == {*plain, *trial} and [i["verdict"] for i in listed[:2]] == ["pass", "pass"]
    assert Review(tmp_path, REVIEW_TOKEN, Metrics()).allowed(REVIEW_TOKEN) and not Review(tmp_path, REVIEW_TOKEN, Metrics()).allowed(
        REVIEW_TOKEN[:-1]
    )


def test_export_reviewed_only_writes_the_operators_labels_as_a_training_folder(tmp_path: Path) -> None:
    ids = archive_of_rejects(tmp_path / "a")
    review = Review(tmp_path / "a", REVIEW_TOKEN, Metrics())
    review.label(ids[0], "good", "Ana", 0.0)
    review.label(ids[1], "defect", "Ana", 0.0)
    counts = export(tmp_path / "a", tmp_path / "out", reviewed_only=True).counts
    assert counts == {"def_front": 1, "ok_front": 1, "review": 0}
    assert (tmp_path / "out" / "ok_front" / f"{Path(ids[0]).name}.png").exists()
    with (tmp_path / "out" / "labels.csv").open(newline="") as f:
        assert [r["label_by"] for r in csv.DictReader(f)] == ["Ana", "Ana"]
    with pytest.raises(InputError):
        review.image(ids[0], "frame")
    with pytest.raises(InputError):
        review.image("x", "crop")


def test_a_label_keeps_the_parts_place_in_the_listing(tmp_path: Path) -> None:
    """Labelling rewrites the sidecar: with its new time a labelled part came first, and once review.recent parts were
    labelled the listing showed only those, the unlabelled ones never again."""
    archive_of_rejects(tmp_path, shadow_pass=False)
    review = Review(tmp_path, REVIEW_TOKEN, Metrics(), recent=2)
    before = [i["id"] for i in review.items()]
    oldest = [i["id"] for i in Review(tmp_path, REVIEW_TOKEN, Metrics()).items()][-1]
    time.sleep(0.02)
    review.label(oldest, "defect", "Ana", time.time())
    assert [i["id"] for i in review.items()] == before, "the newest archived parts, labelled or not"


def test_a_sidecar_nested_past_the_stack_or_holding_nan_is_named_not_listed_and_the_rest_still_are(tmp_path: Path) -> None:
    """200 kB of nested brackets raised a RecursionError that ended every listing and label request with no answer; a NaN
    score was sent to the page as NaN, which no JSON parser takes, and the page stayed empty."""
    ids = archive_of_rejects(tmp_path)
    (tmp_path / f"{ids[0]}.json").write_text('{"verdict": "reject", "shadow": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (tmp_path / f"{ids[1]}.json").write_text('{"verdict": "reject", "part_id": 5, "score": NaN}')
    (tmp_path / f"{ids[2]}.json").write_text('{"verdict": "reject", "part_id": 6, "score": 1e999}')  # read as inf
    review = Review(tmp_path, REVIEW_TOKEN, Metrics())
    with structlog.testing.capture_logs() as logs:
        assert [i["id"] for i in review.items()] == [ids[3]]
    named = sorted(e["why"] for e in logs if e["event"] == "review_sidecar_unreadable")
    assert "nested too deep" in named[0] and "NaN is no number the archive writes" in named[1]
    assert "1e999 is no number the archive writes" in named[2]
    for item in ids[:3]:
        with pytest.raises(InputError, match="its sidecar cannot be labelled"):
            review.label(item, "good", "Ana", 0.0)


def test_a_link_in_the_archive_leads_nowhere_out_of_it(tmp_path: Path) -> None:
    """A heat map linked to /etc/shadow was served as a PNG; a day folder linked elsewhere was listed and labelled there."""
    root, outside = tmp_path / "archive", tmp_path / "outside"
    rejects = [i for i in archive_of_rejects(root) if "/reject/" in i]
    secret = tmp_path / "secret"
    secret.write_text("root:*:20228:0:99999:7:::")
    heat = root / f"{rejects[0]}.heat.png"
    heat.unlink(missing_ok=True)
    heat.symlink_to(secret)
    review = Review(root, REVIEW_TOKEN, Metrics())
    with pytest.raises(InputError, match="no heat image"):
        review.image(rejects[0], "heat")
    assert review.image(rejects[1], "crop").startswith(b"\x89PNG")
    day = root / rejects[2].split("/")[0]
    day.rename(outside)
    day.symlink_to(outside)
    assert review.items() == []
    with pytest.raises(InputError, match="no such archived part"):
        review.label(rejects[2], "good", "Ana", 0.0)
    assert all("review" not in json.loads(p.read_text()) for p in outside.glob("*/*.json"))


def test_an_archived_image_larger_than_any_the_archive_writes_is_not_served(tmp_path: Path) -> None:
    from station.review import MAX_ARCHIVED_IMAGE

    ids = archive_of_rejects(tmp_path)
    with (tmp_path / f"{ids[0]}.png").open("r+b") as f:  # sparse: four such requests at once took 6 GB
        f.truncate(MAX_ARCHIVED_IMAGE + 1)
    with pytest.raises(InputError, match="no crop image"):
        Review(tmp_path, REVIEW_TOKEN, Metrics()).image(ids[0], "crop")
    assert Review(tmp_path, REVIEW_TOKEN, Metrics()).image(ids[1], "crop").startswith(b"\x89PNG")


def test_a_listing_reads_only_the_sidecars_new_or_changed_since_the_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial run leaves tens of thousands of sidecars: every poll of the page read them all (about 1 s for 20,000)."""
    from station import review as review_module

    ids = archive_of_rejects(tmp_path)
    review = Review(tmp_path, REVIEW_TOKEN, Metrics())
    from station.archive_layout import read_sidecar

    reads: list[Path] = []

    def counted(side: Path) -> dict[str, Any]:
        reads.append(side)
        return read_sidecar(side)

    monkeypatch.setattr(review_module, "read_sidecar", counted)
    first = review.items(passes=True)
    assert len(reads) == 4
    assert review.items(passes=True) == first and len(reads) == 4  # nothing changed: nothing read
    reject = next(i for i in ids if "/reject/" in i)
    review.label(reject, "good", "Ana", 1795800000.0)  # read once to label it, once more to list it as it is now
    listed = {i["id"]: i for i in review.items(passes=True)}
    assert listed[reject]["review"]["label"] == "good" and len(reads) == 6
