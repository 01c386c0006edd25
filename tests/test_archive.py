"""The reject archive: what it writes, its quota, a full disk, and the export for retraining."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from station import supervisor
from station.archive import Archive
from station.config import load_config
from station.locate import Circle
from station.messages import Reason, Verdict
from station.metrics import Metrics
from station.model import Model
from station.pipeline import Pipeline, RunOptions
from station.sources import source_for
from station.stages.publish import Identity, to_message
from station.wire import Disposition

from .archived import archived_files, archived_verdict
from .conftest import MODEL, ROOT, SAMPLE, free_port


def _sets(archive: Path, *extra: str) -> list[str]:
    return [
        f"archive.dir={archive}",
        "metrics.enabled=false",
        "publisher.endpoint=tcp://127.0.0.1:*",
        "publisher.resend_endpoint=null",
        *extra,
    ]


@pytest.mark.integration
def test_replay_archives_every_reject_and_sampled_passes_then_exports(tmp_path: Path) -> None:
    archive, photos = tmp_path / "archive", tmp_path / "photos"
    photos.mkdir()
    for kind in ("def_front", "ok_front"):  # good parts and defective ones: passes and rejects
        for f in sorted((SAMPLE / kind).iterdir())[:9]:
            (photos / f.name).write_bytes(f.read_bytes())
    cfg = load_config(None, _sets(archive, "archive.pass_sample=1.0", "archive.full_frame=true"))
    assert supervisor.run_pipeline(cfg, Model(MODEL), source_for(str(photos)), RunOptions(out=tmp_path / "v.jsonl")) == 0
    verdicts = [json.loads(x) for x in (tmp_path / "v.jsonl").read_text().splitlines()]
    sides = sorted(archive.glob("*/*/*.json"))
    assert len(sides) == len(verdicts) == 18
    assert {side.parent.name for side in sides} == {"reject", "pass"}  # every pass sampled (pass_sample 1), every reject
    for side in sides:
        meta = json.loads(side.read_text())
        v = next(x for x in verdicts if x["part_id"] == meta["part_id"])
        assert side.parent.name == ("reject" if v["verdict"] == "reject" else "pass")
        assert (meta["reason"], meta["model"], meta["config"]) == (v["reason"], v["model"], v["config"])
        assert side.with_suffix(".png").exists() and side.with_suffix(".frame.png").exists()
        heat = side.with_name(side.stem + ".heat.png")
        assert heat.exists() == (meta["reason"] in ("defect", "uncertain")), "a heat map with each defect or uncertain reject"
        assert (meta["where"] is not None) == heat.exists()
    assert not list(archive.rglob(".*.tmp")), "no half-written files"
    out = tmp_path / "export"
    cmd = [sys.executable, "-m", "station.cli", "archive", "export", str(archive), str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    rows = (out / "labels.csv").read_text().splitlines()
    assert len(rows) == 19 and rows[0].startswith("file,reason")
    assert len(list(out.glob("*/*.png"))) == 18


def test_drain_writes_every_queued_part_before_the_thread_ends(tmp_path: Path) -> None:
    cfg = load_config(None, [f"archive.dir={tmp_path}", "archive.full_frame=true"]).archive
    a = Archive(cfg, Metrics(), "run", "cfg")
    a.start()
    for pid in range(1, 31):  # queued far faster than PNGs are written
        a.submit(*archived_verdict(pid, "reject"))
    a.drain(60)
    assert not a.is_alive()
    assert len(list(tmp_path.glob("*/reject/*.json"))) == 30


def test_quota_deletes_the_oldest_passes_first(tmp_path: Path) -> None:
    cfg = load_config(None, [f"archive.dir={tmp_path}", "archive.max_bytes=1000000", "archive.pass_sample=1.0"]).archive
    m = Metrics()
    a = Archive(cfg, m, "run", "cfg")
    a.start()
    for pid in range(1, 6):
        a.submit(*archived_verdict(pid, "reject"))
    for pid in range(6, 26):
        a.submit(*archived_verdict(pid, "pass"))
        time.sleep(0.01)  # the queue holds 64; keep it honest about order
    a.drain(20)
    left = {int(p.stem.split("-")[1]): p.parent.name for p in tmp_path.glob("*/*/*.json")}
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total <= 1_000_000
    assert all(left.get(pid) == "reject" for pid in range(1, 6)), "rejects outlive passes"
    passes = sorted(pid for pid, kind in left.items() if kind == "pass")
    assert passes and passes == list(range(26 - len(passes), 26)), "the newest passes are the ones kept"
    assert m.registry.get_sample_value("station_archive_bytes") == pytest.approx(total, rel=0.01)


def test_the_quota_deletes_a_parts_sidecar_last_and_keeps_it_when_a_file_beside_it_stays(tmp_path: Path) -> None:
    cfg = load_config(None, [f"archive.dir={tmp_path}"]).archive
    m = Metrics()
    a = Archive(cfg, m, "run", "cfg")
    day = tmp_path / "2026-01-01" / "reject"
    archived_files(day, "run-0000001", json.dumps({"reason": "defect"}))
    (day / "run-0000001.heat.png").write_bytes(b"x")
    gone: list[str] = []
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        gone.append(path.name)
        real_unlink(path, missing_ok)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "unlink", unlink)
        a._delete(day / "run-0000001")
    assert gone[-1] == "run-0000001.json" and not list(day.iterdir()), "every file, the sidecar last"
    archived_files(day, "run-0000002", json.dumps({"reason": "defect"}))
    (day / "run-0000002.frame.png").mkdir()  # a file the quota cannot delete
    (day / "run-0000002.frame.png" / "x").write_bytes(b"x")
    a._delete(day / "run-0000002")
    assert sorted(p.name for p in day.iterdir()) == ["run-0000002.frame.png", "run-0000002.json"], "its sidecar keeps it counted"
    assert m.registry.get_sample_value("station_archive_errors_total") == 1


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real full file system: a 64 kB tmpfs, filled up."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root in a mount namespace)")
    try:
        with (mnt / "filler").open("wb") as f, contextlib.suppress(OSError):
            f.write(b"\0" * 200_000)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.integration
def test_a_full_disk_does_not_stop_inspection(full_disk: Path, tmp_path: Path) -> None:
    port = free_port()
    cfg = load_config(None, [*_sets(full_disk / "archive"), "metrics.enabled=true", f"metrics.port={port}", "camera.fps=8"])
    m = Metrics()
    pipe = Pipeline(cfg, source_for(str(SAMPLE / "def_front"), 8.0), Model(MODEL), m, RunOptions(realtime=True, out=tmp_path / "v.jsonl"))
    pipe.start()
    try:
        end = time.monotonic() + 20
        while m.registry.get_sample_value("station_archive_errors_total") == 0 and time.monotonic() < end:
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            body = json.loads(r.read())
        assert r.status == 200 and body["status"] == "degraded" and "archive" in body["degraded"][0]
        while not pipe.finished() and time.monotonic() < end:
            time.sleep(0.1)
    finally:
        pipe.drain(10)
        pipe.close()
    assert len((tmp_path / "v.jsonl").read_text().splitlines()) == 18, "every part still got its verdict"
    assert (m.registry.get_sample_value("station_archive_errors_total") or 0) >= 1


def test_probe_refuses_a_read_only_folder_and_takes_a_new_one(tmp_path: Path) -> None:
    from station.archive import probe
    from station.errors import ConfigError

    probe(tmp_path / "new" / "archive")  # to be made on the first write: its parent is writable
    assert not (tmp_path / "new").exists(), "a check makes nothing"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ConfigError) as err:
            probe(ro)
    finally:
        ro.chmod(0o755)
    assert err.value.key == "archive.dir" and "read-only" in str(err.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError):
        probe(tmp_path / "file")
    ro.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="read-only"):
            probe(ro / "below" / "archive")
    finally:
        ro.chmod(0o755)


def test_a_part_the_archive_cannot_encode_degrades_it_and_the_thread_lives_on(tmp_path: Path) -> None:
    m = Metrics()
    cfg = load_config(None, [f"archive.dir={tmp_path / 'a'}"]).archive
    arch = Archive(cfg, m, "run", "cfg")
    arch.start()
    v, msg = archived_verdict(1, "reject")
    arch.submit(Verdict(**{**v.__dict__, "circle": Circle(99999.0, 99999.0, 5.0)}), msg)  # crop outside the frame: empty
    arch.submit(*archived_verdict(2, "reject"))
    arch.drain(10)
    assert arch.failed is None and arch.failing is None, "the next part was written again"
    assert m.registry.get_sample_value("station_archive_errors_total") == 1
    assert m.registry.get_sample_value("station_archive_writes_total", {"kind": "reject"}) == 1


def test_a_frame_opencv_cannot_encode_leaves_none_of_its_parts_files_and_says_which(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Before 2026-12-07 a PNG OpenCV declined to encode was left out without a word or a count, and the entry written as whole."""

    encode, calls = cv2.imencode, []

    def no_frame(ext: str, img: Any) -> Any:
        calls.append(img.shape)
        return (False, None) if len(calls) == 2 else encode(ext, img)  # the crop, then the whole frame

    monkeypatch.setattr(cv2, "imencode", no_frame)
    m = Metrics()
    arch = Archive(load_config(None, [f"archive.dir={tmp_path / 'a'}", "archive.full_frame=true"]).archive, m, "run", "cfg")
    arch.start()
    arch.submit(*archived_verdict(1, "reject"))
    arch.drain(10)
    assert arch.failing is not None and "frame.png: cannot be encoded as PNG" in arch.failing, arch.failing
    assert m.registry.get_sample_value("station_archive_errors_total") == 1
    assert [p for p in (tmp_path / "a").rglob("*") if p.is_file()] == []


def test_a_part_whose_sidecar_cannot_be_written_leaves_none_of_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk filled between its crop and its sidecar: the crop stayed, outside every later count of the quota (the scan
    and the quota know a part by its sidecar), for good (before 2026-12-07)."""
    from station import archive
    from station.archive_layout import atomic_write as written

    def full_at_the_sidecar(path: Path, data: bytes) -> None:
        if path.suffix == ".json":
            raise OSError(28, "No space left on device")
        written(path, data)

    monkeypatch.setattr(archive, "atomic_write", full_at_the_sidecar)
    m = Metrics()
    arch = Archive(load_config(None, [f"archive.dir={tmp_path / 'a'}"]).archive, m, "run", "cfg")
    arch.start()
    arch.submit(*archived_verdict(1, "reject"))
    arch.drain(10)
    assert arch.failing is not None and "No space left on device" in arch.failing
    assert [p for p in (tmp_path / "a").rglob("*") if p.is_file()] == []


def test_a_second_archive_in_one_folder_is_refused_naming_archive_dir_until_the_first_lets_go(tmp_path: Path) -> None:
    """Each archive counts its own parts against archive.max_bytes: two stations in one folder kept twice the quota there
    (before 2026-12-07)."""
    from station.errors import ConfigError

    cfg = load_config(None, [f"archive.dir={tmp_path / 'a'}"]).archive
    first = Archive(cfg, Metrics(), "run1", "cfg")
    with pytest.raises(ConfigError, match="another station archives into this folder") as err:
        Archive(cfg, Metrics(), "run2", "cfg")
    assert err.value.key == "archive.dir"
    first.start()
    first.drain(10)  # its thread's end lets go of the folder
    second = Archive(cfg, Metrics(), "run2", "cfg")
    second.release()


def test_an_archive_folder_on_a_file_system_without_locks_is_archived_into_unheld(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """flock failing for want of locks (some NFS, CIFS or FUSE mounts) is no second station: refused as one, the station
    would never start there (found by review)."""
    import errno
    import fcntl

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    cfg = load_config(None, [f"archive.dir={tmp_path / 'a'}"]).archive
    first, second = Archive(cfg, Metrics(), "run1", "cfg"), Archive(cfg, Metrics(), "run2", "cfg")
    assert first._hold is None and second._hold is None


@pytest.mark.integration
def test_a_second_station_on_one_archive_folder_exits_2_naming_archive_dir(tmp_path: Path) -> None:
    from .proc import Station, one_line_error, run, sets

    archive = str(tmp_path / "a")
    first = Station("replay", str(SAMPLE / "ok_front"), "--realtime", "--no-progress",
                    extra=tuple(sets(f"archive.dir={archive}", "camera.fps=1")))  # fmt: skip
    try:
        assert first.up(), first.stderr()[-2000:]
        ports = ("metrics.port=0", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null")
        second = run("run", *sets(f"archive.dir={archive}", f"camera.source={SAMPLE / 'ok_front'}", *ports))
        one_line_error(second, "archive.dir", "another station archives into this folder")
        assert first.proc.poll() is None
    finally:
        first.close()


def test_a_part_not_located_is_archived_as_the_triggers_box_round_it_and_a_frame_part_as_its_frame(tmp_path: Path) -> None:
    """Line mode: the trigger refused it (never seen whole, too large) or no rim was found. The crop is the box the trigger
    saw it in, grown by the crop margin, not the whole frame with the other parts in it; the sidecar says where."""
    from station.archive import crop_of

    v, msg = archived_verdict(1, "reject")
    image = np.zeros((360, 640), np.uint8)
    image[150:250, 250:350] = 200  # the part meant
    v = replace(v, reason=Reason.UNABLE, circle=None, image=image, blob=(300.0, 200.0, 100.0))
    crop = crop_of(v)
    assert crop.shape == (113, 113) and crop.mean() > 0.75 * 200, "56 px either side of the blob's centre"
    assert crop_of(replace(v, blob=(600.0, 330.0, 200.0))).shape == (360 - 218, 640 - 488), "cut by the frame"
    assert crop_of(replace(v, blob=None)).shape == (360, 640), "a frame is a part: its crop is the frame"
    cfg = load_config(None, [f"archive.dir={tmp_path}"]).archive
    arch = Archive(cfg, Metrics(), "run", "cfg")
    arch.start()
    arch.submit(v, msg)
    arch.drain(10)
    (side,) = tmp_path.glob("*/reject/*.json")
    assert json.loads(side.read_text())["blob"] == [300.0, 200.0, 100.0]
    kept = cv2.imread(str(side.with_suffix(".png")), cv2.IMREAD_GRAYSCALE)
    assert kept is not None and kept.shape == (113, 113)


def test_a_shadow_disagreement_is_archived_whatever_the_pass_sample_with_both_verdicts(tmp_path: Path) -> None:
    from station.wire import ShadowVerdict

    cfg = load_config(None, [f"archive.dir={tmp_path}", "archive.pass_sample=0"]).archive
    a = Archive(cfg, Metrics(), "run", "cfg")
    a.start()
    agree = ShadowVerdict(verdict=Disposition.PASS, reason=Reason.OK, score=0.01, model="cand")
    differ = ShadowVerdict(verdict=Disposition.REJECT, reason=Reason.DEFECT, score=0.9, model="cand")
    for pid, shadow in ((1, None), (2, agree), (3, differ)):
        v, _ = archived_verdict(pid, "pass")
        v = replace(v, shadow=shadow)
        a.submit(v, to_message(v, Identity("s", "c", "m"), {"station": "s", "run_id": "r", "seq": pid, "sent_at": 0.0}, 0.5, 0.0))
    a.drain(20)
    sides = {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in tmp_path.glob("*/*/*.json")}
    assert list(sides) == [3], "only the disagreement is kept when no pass is sampled"
    assert sides[3]["verdict"] == "pass" and sides[3]["score"] == 0.5
    assert sides[3]["shadow"] == {"verdict": "reject", "reason": "defect", "score": 0.9, "model": "cand"}
    assert sides[3]["circle"] == [200.0, 200.0, 150.0]


def test_the_quota_never_deletes_through_a_linked_day_folder_nor_a_file_the_archive_did_not_write(tmp_path: Path) -> None:
    """A day folder linked elsewhere had its files deleted there by the quota, and so was any file whose name began
    with a part's (notes.txt beside an archived part)."""
    root, victim = tmp_path / "archive", tmp_path / "elsewhere"
    (victim / "reject").mkdir(parents=True)
    for name in ("ffff-0000001.json", "ffff-0000001.png", "ffff-0000001.txt"):
        (victim / "reject" / name).write_text("{}")
    os.utime(victim / "reject" / "ffff-0000001.json", (1.0, 1.0))  # 1970: far over any age limit
    root.mkdir()
    (root / "2001-09-09").symlink_to(victim)
    own = root / "2001-09-10" / "reject"
    own.mkdir(parents=True)
    for name in ("aaaa-0000001.json", "aaaa-0000001.png", "aaaa-0000001.heat.png", "aaaa-0000001.notes.txt"):
        (own / name).write_text("{}")
    os.utime(own / "aaaa-0000001.json", (1.0, 1.0))
    a = Archive(load_config(None, [f"archive.dir={root}", "archive.max_age_days=1"]).archive, Metrics(), "run", "cfg")
    a._scan()
    assert [e.stem for e in a._entries] == [own / "aaaa-0000001"] and a._entries[0].size == 6  # its three files, 2 bytes each
    a._enforce_quota()
    assert sorted(p.name for p in (victim / "reject").iterdir()) == ["ffff-0000001.json", "ffff-0000001.png", "ffff-0000001.txt"]
    assert [p.name for p in own.iterdir()] == ["aaaa-0000001.notes.txt"]  # not the archive's: left where it is


def test_the_quota_deletes_only_what_is_named_as_the_archive_names_its_parts(tmp_path: Path) -> None:
    """archive.dir set to a folder that held other files: any DAY/KIND/NAME.json with its NAME.png was taken for an archived
    part and deleted by age (a photo album's 2020/holiday/beach.png and .json)."""
    root = tmp_path / "photos"
    for rel in ("2020/holiday/beach", "2020-01-01/holiday/beach", "2020-01-01/reject/beach", "2020-01-01/reject/IMG_2.jpg"):
        for suffix in (".json", ".png"):
            (root / f"{rel}{suffix}").parent.mkdir(parents=True, exist_ok=True)
            (root / f"{rel}{suffix}").write_text("{}")
            os.utime(root / f"{rel}{suffix}", (1.0, 1.0))  # 1970: far over any age limit
    own = root / "2020-01-01" / "pass" / "ab12-0000007"
    own.parent.mkdir(parents=True)
    own.with_suffix(".json").write_text("{}")
    os.utime(own.with_suffix(".json"), (1.0, 1.0))
    a = Archive(load_config(None, [f"archive.dir={root}", "archive.max_age_days=1"]).archive, Metrics(), "run", "cfg")
    a._scan()
    assert [e.stem for e in a._entries] == [own]
    a._enforce_quota()
    assert len(list(root.rglob("*.json"))) == 4 and len(list(root.rglob("*.png"))) == 4 and not own.with_suffix(".json").exists()


def test_the_start_up_scan_counts_a_folder_whatever_vanishes_during_it_and_skips_hidden_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file gone between the listing and its stat dropped the whole day from the quota; a desktop's .Trash folder on
    the archive disk was indexed (and exported before the real part)."""
    root = tmp_path / "archive"
    day = root / "2026-12-01" / "reject"
    day.mkdir(parents=True)
    for k in range(1, 6):
        for suffix in (".png", ".json"):
            (day / f"aaaa-{k:07d}{suffix}").write_text("{}")
    (root / ".Trash-1000" / "files").mkdir(parents=True)
    (root / ".Trash-1000" / "files" / "aaaa-0000009.json").write_text("{}")
    real_scandir = os.scandir

    def vanishing(path: Any) -> Any:  # the listing names part 3's sidecar; it is gone before its stat
        entries = list(real_scandir(path))
        (day / "aaaa-0000003.json").unlink(missing_ok=True)
        return iter(entries)

    monkeypatch.setattr(os, "scandir", vanishing)
    a = Archive(load_config(None, [f"archive.dir={root}"]).archive, Metrics(), "run", "cfg")
    a._scan()
    assert sorted(e.stem.name for e in a._entries) == ["aaaa-0000001", "aaaa-0000002", "aaaa-0000004", "aaaa-0000005"]
