"""The command line as a person or systemd runs it: real processes, signals and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.footage import Envelope, compose, labelled_photos
from station.model import Model

from .conftest import MODEL, ROOT, SAMPLE, free_port, full_pipe
from .proc import one_line_error, run, sets
from .variants import STRICT, candidate

pytestmark = pytest.mark.integration  # real processes, sockets, servers or browsers

STATION = [sys.executable, "-m", "station.cli"]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STATION, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _ports() -> list[str]:
    return [
        "--set",
        f"metrics.port={free_port()}",
        "--set",
        f"publisher.endpoint=tcp://127.0.0.1:{free_port()}",
        "--set",
        "publisher.resend_endpoint=tcp://127.0.0.1:*",
    ]


def _one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1, p.stderr
    for n in needles:
        assert n in err[0], err[0]


def test_check_config_default_is_valid() -> None:
    p = _run("check-config")
    assert p.returncode == 0, p.stderr
    assert "config OK" in p.stdout


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (["metrics.port=-1"], "metrics.port"),
        (["publisher.endpoint=nowhere"], "publisher.endpoint"),
        (["trigger.bogus=1"], "trigger.bogus"),
        (["model.path=/nonexistent/model.onnx"], "model.path"),
        (["pipeline.opencv_threads=0"], "pipeline.opencv_threads"),
        (["camera.decode_threads=many"], "camera.decode_threads"),
        (["camera.read_timeout_s=20"], "pipeline.stall_after_s"),  # usb:0: a slow camera would be taken for a hang
    ],
)
def test_bad_config_exits_2_naming_the_key(sets: list[str], key: str) -> None:
    args = [a for s in sets for a in ("--set", s)]
    _one_line_error(_run("check-config", *args), key)


def test_yaml_error_and_corrupt_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("camera:\n  source: [oops\n")
    _one_line_error(_run("check-config", "-c", str(bad)), "YAML", "line")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x01garbage" * 50)
    _one_line_error(_run("check-config", "--set", f"model.path={junk}"), "model.path", "junk.onnx")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model:\n  path: {junk}\n")
    _one_line_error(_run("replay", str(SAMPLE / "ok_front"), "-c", str(cfg)), "model.path")


def test_metrics_port_in_use_is_a_config_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = _run(
            "replay",
            str(SAMPLE / "ok_front"),
            "--no-progress",
            "--set",
            f"metrics.port={port}",
            "--set",
            f"publisher.endpoint=tcp://127.0.0.1:{free_port()}",
            "--set",
            "publisher.resend_endpoint=null",
        )
    _one_line_error(p, "metrics.port")


def test_replay_of_a_missing_or_junk_video_is_one_line(tmp_path: Path) -> None:
    _one_line_error(_run("replay", str(tmp_path / "nope.mp4"), *_ports()), "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(2000))
    _one_line_error(_run("replay", str(junk), *_ports()), "junk.mp4")
    os.mkfifo(tmp_path / "pipe.mp4")  # the decoder's open would wait for a writer
    _one_line_error(_run("replay", str(tmp_path / "pipe.mp4"), *_ports()), "pipe.mp4: not a regular file")
    _one_line_error(_run("replay", "rtsp://127.0.0.1:1/x", *_ports()), "rtsp://127.0.0.1:1/x: a network stream: replay takes a video")
    _one_line_error(_run("eval", str(tmp_path / "nope.avi"), "--report", str(tmp_path / "r")),
                    "nope.avi: no such file or folder (give a labelled folder, or a video with its ground truth)")  # fmt: skip
    (tmp_path / "loop.avi").symlink_to("loop.avi")  # was "no such file or folder" to eval
    _one_line_error(_run("eval", str(tmp_path / "loop.avi"), "--report", str(tmp_path / "r")), "loop.avi: cannot follow its links")


def test_a_file_error_no_command_caught_nearer_is_the_file_and_the_systems_word() -> None:
    from station.cli import _os_error

    assert _os_error(PermissionError(13, "Permission denied", "/line/ok_front")) == "/line/ok_front: Permission denied"
    assert _os_error(OSError("disk on fire")) == "disk on fire" and _os_error(OSError()) == "OSError"


def test_footage_too_small_to_show_a_whole_part_is_one_line_naming_the_key_for_replay_eval_and_teach(tmp_path: Path) -> None:
    """64 x 48 px frames, smaller than trigger.min_diameter_px (120): no part can be entirely in view. Replay gave no
    verdict and exit 0, without a word."""
    video = tmp_path / "tiny.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 25, (64, 48))
    for i in range(30):
        w.write(np.full((48, 64, 3), 40 + 4 * i, np.uint8))
    w.release()
    (tmp_path / "tiny.csv").write_text("part,label,first_frame,last_frame,source\n1,ok,5,9,a.jpeg\n")
    said = ("trigger.min_diameter_px", "tiny.avi: frames of 64 x 48 px cannot show a part of trigger.min_diameter_px (120 px)")
    _one_line_error(_run("replay", str(video), "--out", str(tmp_path / "v.jsonl"), *_ports()), *said)
    _one_line_error(_run("eval", str(video), "--report", str(tmp_path / "r")), *said)
    _one_line_error(_run("teach", str(video), "--out", str(tmp_path / "m.onnx")), *said)
    assert not (tmp_path / "v.jsonl").exists() and not (tmp_path / "m.onnx").exists()


def test_classify_reports_bad_files_and_classifies_the_good(tmp_path: Path) -> None:
    d = tmp_path / "in" / "nested"
    d.mkdir(parents=True)
    good = sorted((SAMPLE / "def_front").iterdir())[:3]
    for g in good:
        shutil.copy(g, d / g.name)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (d / "notes.txt").write_text("x")
    p = _run("classify", str(tmp_path / "in"), str(SAMPLE / "ok_front" / sorted(os.listdir(SAMPLE / "ok_front"))[0]))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(rows) == 4
    assert {Path(r["path"]).name for r in rows[:3]} == {g.name for g in good}
    assert all(r["path"].startswith(str(tmp_path / "in")) for r in rows[:3])
    assert all({"path", "verdict", "reason", "score"} <= set(r) for r in rows)
    assert "broken.jpg" in p.stderr and "notes.txt" in p.stderr


def test_classify_of_an_empty_folder_says_so_in_one_line(tmp_path: Path) -> None:
    _one_line_error(_run("classify", str(tmp_path)), f"no image files in {tmp_path}")


def test_classify_to_an_out_file_it_cannot_write_is_one_line_naming_it(tmp_path: Path) -> None:
    one = str(sorted((SAMPLE / "ok_front").iterdir())[0])
    p = _run("classify", one, "--out", str(tmp_path / "nowhere" / "v.jsonl"))
    _one_line_error(p, "nowhere/v.jsonl: cannot write the verdicts there (--out)")
    p = _run("classify", one, "--out", str(tmp_path))
    _one_line_error(p, f"{tmp_path}: cannot write the verdicts there (--out)")
    os.mkfifo(tmp_path / "pipe")  # nothing reads it: a plain open would wait for ever
    p = _run("classify", one, "--out", str(tmp_path / "pipe"))
    _one_line_error(p, "pipe: cannot write the verdicts there (--out): a pipe with nothing reading it")
    p = _run("classify", one, "--out", "/dev/full")  # a disk that is full: Python's own "[Errno 28]", naming nothing
    _one_line_error(p, f"/dev/full (--out): cannot write: No space left on device; stopped after 0 images classified, {one} and")


def test_classify_never_writes_its_out_over_an_image_it_reads(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    photo = tmp_path / "in" / "a.jpeg"
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[0], photo)
    before = photo.read_bytes()
    _one_line_error(_run("classify", str(tmp_path / "in"), "--out", str(photo)), "a.jpeg: --out is inside", "which this command reads")
    _one_line_error(_run("classify", str(photo), "--out", str(photo)), f"a.jpeg: --out is {photo}, which this command reads")
    assert photo.read_bytes() == before
    model = tmp_path / "m.onnx"
    shutil.copy(MODEL, model)
    _one_line_error(_run("classify", str(photo), "--set", f"model.path={model}", "--out", str(model)), "m.onnx: --out is")
    assert _run("classify", str(tmp_path / "in"), "--out", str(tmp_path / "in" / "v.jsonl")).returncode == 0  # never read
    assert len((tmp_path / "in" / "v.jsonl").read_text().splitlines()) == 1


def test_no_out_or_report_writes_through_a_hard_link_or_over_the_config_or_model_it_runs_with(tmp_path: Path) -> None:
    """classify emptied a photo whose other name was --out; eval's report replaced the config kept in it as metrics.json,
    and a model kept as parts.csv (before 2026-12-07: exit 0, the station then refused to start)."""
    (tmp_path / "in").mkdir()
    photo = tmp_path / "in" / "a.jpeg"
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[0], photo)
    before = photo.read_bytes()
    os.link(photo, tmp_path / "v.jsonl")
    _one_line_error(_run("classify", str(tmp_path / "in"), "--out", str(tmp_path / "v.jsonl")), "v.jsonl", "hard links")
    assert photo.read_bytes() == before
    (tmp_path / "r").mkdir()
    config, model = tmp_path / "r" / "metrics.json", tmp_path / "r" / "parts.csv"
    config.write_text(f"model:\n  path: {MODEL}\n")
    shutil.copy(MODEL, model)
    report = str(tmp_path / "r")
    _one_line_error(_run("eval", str(SAMPLE), "-c", str(config), "--report", report), "--report would write its metrics.json over")
    _one_line_error(_run("eval", str(SAMPLE), "--set", f"model.path={model}", "--report", report), "its parts.csv over")
    assert config.read_text() == f"model:\n  path: {MODEL}\n" and model.read_bytes() == MODEL.read_bytes()


def test_out_never_writes_over_a_file_the_config_names(tmp_path: Path) -> None:
    """A review token, a key or the archive: a station that read its own verdicts there would not start again."""
    photo = str(sorted((SAMPLE / "ok_front").iterdir())[0])
    token = tmp_path / "token"
    token.write_text("a-long-enough-review-token-of-words\n")
    (tmp_path / "archive").mkdir()
    sets = ["--set", f"archive.dir={tmp_path / 'archive'}", "--set", f"review.token_file={token}"]
    _one_line_error(_run("classify", photo, *sets, "--out", str(token)), "token: --out is", "which this command reads")
    _one_line_error(_run("classify", photo, *sets, "--out", str(tmp_path / "archive" / "v.jsonl")), "--out is inside")
    assert token.read_text() == "a-long-enough-review-token-of-words\n"


def test_the_gateway_never_writes_its_decisions_over_its_config(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("gateway:\n  actuator_delay_ms: 1000\n")
    _one_line_error(_run("gateway", "-c", str(cfg), "--out", str(cfg)), "gateway.yaml: --out is", "which this command reads")
    assert cfg.read_text() == "gateway:\n  actuator_delay_ms: 1000\n"


def test_replay_never_appends_its_verdicts_to_what_it_replays(tmp_path: Path) -> None:
    """A verdicts file among the images was judged as one more part; one beside a video, its ground truth."""
    photos = tmp_path / "photos"
    shutil.copytree(SAMPLE / "ok_front", photos)
    _one_line_error(_run("replay", str(photos), "--out", str(photos / "zz.png")), "zz.png: --out is inside")
    video = tmp_path / "line.mp4"
    video.write_bytes(b"")
    _one_line_error(_run("replay", str(video), "--out", str(tmp_path / "line.csv")), "line.csv: --out is")


def test_check_config_makes_the_source_so_that_run_cannot_fail_on_it_later(tmp_path: Path) -> None:
    _one_line_error(_run("check-config", "--set", f"camera.source={tmp_path / 'gone.mp4'}"), "camera.source:", "no such file")
    (tmp_path / "text.mp4").write_text("not a video")
    (tmp_path / "empty").mkdir()
    for source, why in ((tmp_path / "text.mp4", "not a readable video"), (tmp_path / "empty", "no image files")):
        for command in ("check-config", "run"):  # check-config passed them, and run refused them with exit 1
            _one_line_error(_run(command, "--set", f"camera.source={source}", *_ports()), "camera.source:", why)


def test_a_name_too_long_or_a_full_disk_is_one_line_never_a_traceback(tmp_path: Path) -> None:
    one = str(sorted((SAMPLE / "ok_front").iterdir())[0])
    _one_line_error(_run("eval", str(tmp_path / ("a" * 300))), "File name too long")
    _one_line_error(_run("replay", str(tmp_path / ("a" * 300))), "File name too long")
    if Path("/dev/full").exists():
        _one_line_error(_run("classify", one, "--out", "/dev/full"), "No space left on device")
        with open("/dev/full", "w") as full:
            p = subprocess.run([*STATION, "check-config"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, cwd=ROOT)
        _one_line_error(p, "No space left on device")


def test_sigterm_drains_and_exits_0_with_its_log_pipe_full_and_unread(tmp_path: Path) -> None:
    """A journald that stalls, or a pager paused: every thread that logged blocked on the full pipe, the drain's too, and
    the station went on running after SIGTERM until it was killed. Its lines are dropped instead (station/log.py)."""
    r, w = full_pipe()
    out = tmp_path / "v.jsonl"
    cmd = [*STATION, "replay", str(SAMPLE / "def_front"), "--realtime", "--no-progress", "--out", str(out), *_ports()]
    proc = subprocess.Popen([*cmd, "--set", "camera.fps=4"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and (not out.exists() or out.read_text().count("\n") < 2):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(r)
    assert rc == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 2


def test_sigterm_drains_and_exits_0_with_whole_lines(tmp_path: Path) -> None:
    env = Envelope(width=640, height=360, fps=25, speed=12.0, diameter=200.0)
    video = compose(labelled_photos(SAMPLE)[:12], tmp_path / "line.mp4", env, seed=9)
    out = tmp_path / "v.jsonl"
    proc = subprocess.Popen(
        [*STATION, "replay", str(video), "--realtime", "--no-progress", "--out", str(out), *_ports()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and (not out.exists() or out.read_text().count("\n") < 2):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rc = proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate(timeout=5)
    assert rc == 0, err
    assert took < 3.0
    text = out.read_text()
    assert text.endswith("\n")
    rows = [json.loads(x) for x in text.splitlines()]
    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1))
    assert 2 <= len(rows) < 12
    assert '"drain_started"' in err


def test_demo_runs_on_the_bundled_sample() -> None:
    p = _run("demo", "--parts", "4", *_ports(), timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "4 parts on the belt, 4 verdicts received" in p.stdout


def test_run_without_a_camera_keeps_retrying_and_stops_on_sigterm(tmp_path: Path) -> None:
    """No camera can be attached here: /dev/video99 does not exist, so the daemon is blind."""
    zport = free_port()
    proc = subprocess.Popen(
        [
            *STATION,
            "run",
            "--set",
            "camera.source=/dev/video99",
            "--set",
            f"metrics.port={free_port()}",
            "--set",
            f"publisher.endpoint=tcp://127.0.0.1:{zport}",
            "--set",
            "publisher.resend_endpoint=null",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import zmq

    sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"heartbeat")
    sub.connect(f"tcp://127.0.0.1:{zport}")
    try:
        states = []
        end = time.monotonic() + 20
        while time.monotonic() < end and "degraded" not in states:
            if sub.poll(100):
                states.append(json.loads(sub.recv_multipart()[1])["state"])
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rc = proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        sub.close()
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate(timeout=5)
    assert "degraded" in states, err[-2000:]
    assert rc == 0 and took < 2.0, err[-2000:]
    assert "camera_open_failed" in err


@pytest.mark.integration
@pytest.mark.parametrize("shadow", ["missing.onnx", "inverted"])
def test_check_config_and_run_refuse_a_shadow_model_the_gate_refuses(shadow: str, tmp_path: Path) -> None:
    from .hostile_models import inverted

    path = inverted(tmp_path / "inverted.onnx") if shadow == "inverted" else tmp_path / shadow
    for cmd in ("check-config", "run"):
        own = ("publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null")  # ports of its own: the defaults may be taken
        one_line_error(run(cmd, *sets(f"model.shadow={path}", "metrics.enabled=false", *own)), "model.shadow", str(path))


@pytest.mark.integration
def test_check_config_names_the_shadow_model_it_admitted(tmp_path: Path) -> None:
    threshold, band = STRICT
    strict = Model(candidate(tmp_path / "strict.onnx", threshold, band, version="2.0.0-candidate"))
    p = run("check-config", *sets(f"model.shadow={strict.path}", "metrics.enabled=false"))
    assert p.returncode == 0 and f", shadow {strict.info.model_id}, " in p.stdout, p.stderr[-2000:]


def test_the_commands_that_run_a_pipeline_drain_at_a_stop_and_the_rest_stop_at_once(tmp_path: Path) -> None:
    """eval of footage runs a pipeline: a Ctrl-C raised inside it as KeyboardInterrupt aborted the process (exit 134)."""
    from station.cli import _drains, build_parser

    video = tmp_path / "line.mp4"
    video.write_bytes(b"x")
    parse = build_parser().parse_args
    assert _drains(parse(["eval", str(video)])) and _drains(parse(["replay", str(video)]))
    assert not _drains(parse(["eval", str(tmp_path)])) and not _drains(parse(["classify", str(video)]))
    assert _drains(parse(["gateway"])) and not _drains(parse(["gateway", "--check-plc"]))
