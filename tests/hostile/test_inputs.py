"""Bad inputs and outputs: files that vanish, parts too big to inspect, a full disk under --out, contradictions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from station.footage import Envelope, compose, labelled_photos, read_truth

from ..conftest import SAMPLE, wait_for
from ..proc import Station, one_line_error, run, sets, strict_json

PORTS = ("metrics.port=0", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null")


def test_every_file_that_cannot_be_read_is_a_reject_named_on_stderr(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[0], folder / "a-good.jpeg")
    (folder / "b-dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (folder / "c-loop.jpg").symlink_to(folder / "c-loop.jpg")
    os.mkfifo(folder / "d-fifo.jpg")
    (folder / "e-empty.png").write_bytes(b"")
    out = tmp_path / "v.jsonl"
    p = run("replay", str(folder), "--no-progress", "--out", str(out), *sets(*PORTS, "logging.format=json"))
    assert p.returncode == 0, p.stderr[-2000:]
    verdicts = [strict_json(x) for x in out.read_text().splitlines()]
    assert [Path(str(v["image"])).name for v in verdicts] == ["a-good.jpeg", "b-dangling.jpg", "c-loop.jpg", "d-fifo.jpg", "e-empty.png"]
    for v in verdicts[1:]:
        assert v["verdict"] == "reject" and v["reason"] == "unable_to_inspect"
        assert str(v["image"]) in p.stderr, f"{v['image']} is named on stderr"


def test_classify_names_every_file_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "x-dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "y-loop.jpg").symlink_to(tmp_path / "y-loop.jpg")
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[0], tmp_path / "z.jpeg")
    p = run("classify", str(tmp_path), *sets(*PORTS))
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 1
    assert "x-dangling.jpg" in p.stderr and "y-loop.jpg" in p.stderr


def test_parts_larger_than_the_envelope_are_each_rejected(tmp_path: Path) -> None:
    env = Envelope(width=1280, height=720, fps=25.0, speed=30.0, diameter=620.0, gap=(0.3, 0.5))  # trigger.max_diameter_px: 560
    video = compose(labelled_photos(SAMPLE)[:4], tmp_path / "big.mp4", env, seed=3)
    out = tmp_path / "v.jsonl"
    p = run("replay", str(video), "--no-progress", "--out", str(out), *sets(*PORTS))
    assert p.returncode == 0, p.stderr[-2000:]
    verdicts = [strict_json(x) for x in out.read_text().splitlines()]
    assert len(verdicts) == len(read_truth(video)) == 4
    for v in verdicts:
        assert v["verdict"] == "reject" and v["reason"] == "unable_to_inspect" and "larger than" in str(v["detail"])


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_disk_under_out_never_stops_publishing(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    for p in sorted((SAMPLE / "def_front").iterdir())[:8]:
        shutil.copy(p, folder / p.name)
    st = Station("replay", str(folder), "--realtime", "--no-progress", "--out", "/dev/full", extra=tuple(sets("camera.fps=4")))
    try:
        assert st.up()
        assert wait_for(lambda: b"--out" in st.http("/healthz")[1], 30), "health says the output is failing"
        assert st.wait(60) == 0
    finally:
        st.close()
    assert "Traceback" not in st.stderr()
    assert sorted(int(str(v["part_id"])) for v in st.verdicts())[-1] == 8, "the last part was published"
    assert len(st.logged("out_write_failed")) <= 2, "summarised, not one line per part"


def test_check_config_refuses_contradictions(tmp_path: Path) -> None:
    one_line_error(run("check-config", *sets("trigger.min_diameter_px=600", "trigger.max_diameter_px=500")), "trigger.min_diameter_px")
    ro = tmp_path / "archive"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        one_line_error(run("check-config", *sets(f"archive.dir={ro}")), "archive.dir", "read-only")
    finally:
        ro.chmod(0o755)
