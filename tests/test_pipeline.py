"""End-to-end replays through the real pipeline: real ZeroMQ socket, real HTTP /metrics scrape."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
import structlog
import structlog.testing
import zmq

from station import supervisor
from station.blobs import find_blobs
from station.config import Config, load_config
from station.footage import Envelope, compose, judge, labelled_photos, read_truth
from station.messages import Part
from station.metrics import Metrics
from station.model import Model
from station.pipeline import Pipeline, RunOptions
from station.sources import source_for
from station.wire import Reason, VerdictMessage

from .conftest import MODEL, SAMPLE, SERIES, free_port, loopback_config, wait_for
from .variants import STRICT, candidate

pytestmark = pytest.mark.integration  # real processes, sockets, servers or browsers

ENVELOPE = [
    Envelope(width=640, height=360, fps=25, speed=6.0, diameter=190.0, noise=4.0, shade=0.5, ring=0.08, codec="MJPG"),
    Envelope(width=1280, height=720, fps=60, speed=38.0, diameter=320.0, belt_drop=45.0, drift=0.1, part_gain=0.12),
    Envelope(width=960, height=540, fps=30, speed=15.0, diameter=240.0, direction="right_to_left", stripes=5.0),
    Envelope(width=1920, height=1080, fps=50, speed=40.0, diameter=430.0, offset=0.1),
]


def _out(path: Path) -> list[VerdictMessage]:
    """The ``--out`` file, each line read by the wire contract's strict decoder."""
    return [VerdictMessage.decode(x) for x in path.read_text().splitlines()]


def _replay(cfg: Config, source: str, out: Path) -> int:
    model = Model(MODEL)
    return supervisor.run_pipeline(cfg, model, supervisor.configured_source(cfg, source), RunOptions(out=out))


@pytest.mark.parametrize("env", ENVELOPE, ids=lambda e: f"{e.width}x{e.height}-v{e.speed:g}-d{e.diameter:g}-{e.direction}")
def test_replay_gives_one_verdict_per_part_in_order_inside_its_window(env: Envelope, tmp_path: Path) -> None:
    photos = labelled_photos(SAMPLE)[1::3]
    video = compose(photos, tmp_path / ("line.avi" if env.codec == "MJPG" else "line.mp4"), env, seed=int(env.diameter))
    truth = read_truth(video)
    cfg = loopback_config(**{"trigger.direction": env.direction})
    assert _replay(cfg, str(video), tmp_path / "v.jsonl") == 0
    got = _out(tmp_path / "v.jsonl")
    assert [v.part_id for v in got] == list(range(1, len(truth) + 1))
    seqs = [v.seq for v in got]
    assert seqs == sorted(seqs)
    for v, t in zip(got, truth, strict=True):
        assert int(t["first_frame"]) <= v.frame <= int(t["last_frame"]), (v, t)
        assert v.reason is not Reason.UNABLE, v  # every part here is whole and well lit
        assert v.captured_at <= v.published_at
        if v.reason is Reason.DEFECT:  # where the network saw the defect: on the part
            assert v.where is not None and v.circle is not None, v
            assert math.hypot(v.where[0] - v.circle[0], v.where[1] - v.circle[1]) <= v.circle[2], v
        else:
            assert v.where is None or v.reason is Reason.UNCERTAIN
    res = judge(truth, got)  # and the verdicts are right: no defective part passes, at most one good part rejected
    assert res["escapes"] == 0 and res["wrong"] <= 1, res


def test_thread_settings_change_no_verdict(tmp_path: Path) -> None:
    env = Envelope(width=960, height=540, fps=30, speed=20.0, diameter=260.0)
    video = compose(labelled_photos(SAMPLE)[::6], tmp_path / "line.mp4", env, seed=4)
    runs = []
    for opencv, decode in (("1", "null"), ("null", "1"), ("2", "2")):
        cfg = loopback_config(**{"pipeline.opencv_threads": opencv, "camera.decode_threads": decode})
        assert _replay(cfg, str(video), tmp_path / f"{opencv}-{decode}.jsonl") == 0
        if opencv != "null":
            assert cv2.getNumThreads() == int(opencv)  # the pipeline set it for the process
        got = _out(tmp_path / f"{opencv}-{decode}.jsonl")
        runs.append([(v.part_id, v.frame, v.verdict, v.reason, v.score) for v in got])
    assert len(runs[0]) == len(read_truth(video))
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_image_folder_replay_one_verdict_per_image_and_bad_files_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    photos = sorted((SAMPLE / "ok_front").iterdir())[:4]
    for i, p in enumerate(photos):
        (folder / f"{i:02d}.jpeg").write_bytes(p.read_bytes())
    (folder / "02b.jpeg").write_bytes(b"garbage")
    (folder / "readme.txt").write_text("not a part")
    assert _replay(loopback_config(), str(folder), tmp_path / "v.jsonl") == 0
    got = _out(tmp_path / "v.jsonl")
    assert [Path(v.image or "").name for v in got] == ["00.jpeg", "01.jpeg", "02.jpeg", "02b.jpeg", "03.jpeg"]
    bad = got[3]
    assert bad.verdict == "reject" and bad.reason is Reason.UNABLE and "not a decodable image" in bad.detail


def test_a_running_station_makes_a_thread_wait_at_most_a_millisecond_for_the_gil(tmp_path: Path) -> None:
    """Python's default (5 ms) let the capture and trigger threads keep a part's preprocessing waiting (docs/benchmarks.md)."""
    import sys

    from station.pipeline import GIL_SWITCH_S

    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        folder = tmp_path / "imgs"
        folder.mkdir()
        (folder / "00.jpeg").write_bytes(sorted((SAMPLE / "ok_front").iterdir())[0].read_bytes())
        assert _replay(loopback_config(), str(folder), tmp_path / "v.jsonl") == 0
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_S) == 0.001
    finally:
        sys.setswitchinterval(before)


def test_blank_footage_gives_no_parts(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    p = tmp_path / "blank.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter.fourcc(*"MJPG"), 25, (640, 360))
    for _ in range(30):
        w.write(np.full((360, 640, 3), 70, np.uint8))
    w.release()
    assert _replay(loopback_config(), str(p), tmp_path / "v.jsonl") == 0
    assert (tmp_path / "v.jsonl").read_text() == ""


def test_one_failing_part_is_rejected_as_error_and_the_line_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import station.preprocess as pre

    real = pre.preprocess
    calls = {"n": 0}

    def flaky(*a: object, **k: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected fault")
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr("station.stages.preprocess.preprocess", flaky)  # the name the preprocess stage calls
    assert _replay(loopback_config(), str(SAMPLE / "def_front"), tmp_path / "v.jsonl") == 0
    got = _out(tmp_path / "v.jsonl")
    assert len(got) == 18
    assert got[1].reason is Reason.ERROR and "injected fault" in got[1].detail
    assert all(v.reason is not Reason.ERROR for i, v in enumerate(got) if i != 1)


def test_a_trigger_that_fails_on_a_frame_leaves_one_verdict_per_part_and_the_replay_ends_as_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trigger raises once as it finds the parts on a frame, and once right after numbering the third part: each frame
    is taken as one not seen, and the parts are judged across it. Before 2026-12-07 its first exception ended its stage:
    the parts after it got no verdict and the drain waited out shutdown.timeout_s (exit 1)."""
    import station.stages.line_trigger as lt

    env = ENVELOPE[2]
    video = compose(labelled_photos(SAMPLE)[::2], tmp_path / "line.mp4", env, seed=3)
    truth, emit = read_truth(video), lt.LineTrigger._emit
    calls = {"find": 0, "lost": 0}

    def fails_once(*a: object) -> object:
        calls["find"] += 1
        if calls["find"] == int(truth[1]["first_frame"]) + 3:
            raise RuntimeError("injected trigger fault")
        return find_blobs(*a)  # type: ignore[arg-type]

    def loses_the_third(self: lt.LineTrigger, *a: object) -> Part:
        part = emit(self, *a)  # type: ignore[arg-type]
        if part.part_id == 3 and not calls["lost"]:
            calls["lost"] = 1
            raise RuntimeError("injected after numbering")
        return part

    monkeypatch.setattr(lt, "find_blobs", fails_once)
    monkeypatch.setattr(lt.LineTrigger, "_emit", loses_the_third)
    cfg = loopback_config(**{"trigger.direction": env.direction, "shutdown.timeout_s": 60})
    t0 = time.monotonic()
    assert _replay(cfg, str(video), tmp_path / "v.jsonl") == 0
    assert time.monotonic() - t0 < 45, "the drain did not wait out its bound"
    got = _out(tmp_path / "v.jsonl")
    assert [v.part_id for v in got] == list(range(1, len(truth) + 1)), "one verdict per part, in order"
    assert calls["find"] > int(truth[1]["first_frame"]) + 3 and calls["lost"], "both faults came"
    assert not [v for v in got if v.reason in (Reason.ERROR, Reason.UNABLE)], "each frame it failed on taken as one not seen"
    assert judge(truth, got)["wrong"] <= 1, "the parts judged as ever"


def test_a_dead_stage_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import station.stages.decision as pl

    def boom(self: object, scored: object) -> list[object]:
        raise SystemError("stage bug outside per-part handling")

    monkeypatch.setattr(pl.DecisionStage, "__call__", boom)
    t0 = time.monotonic()
    cfg = loopback_config(**{"shutdown.timeout_s": 2, "camera.source": SAMPLE / "ok_front"})  # no live camera's read for a stop to wait on
    assert _replay(cfg, str(SAMPLE / "ok_front"), tmp_path / "v.jsonl") == 1
    assert time.monotonic() - t0 < 15


def _dies_on(monkeypatch: pytest.MonkeyPatch, handler: type, n: int) -> None:
    """``handler``'s call raises on its ``n``-th item, past its per-part guard (a bug)."""
    real, calls = handler.__call__, [0]

    def dying(self: object, item: object) -> object:
        calls[0] += 1
        if calls[0] == n:
            raise SystemError(f"{handler.__name__} bug outside per-part handling")
        return real(self, item)

    monkeypatch.setattr(handler, "__call__", dying)


def _replay_one_deep(tmp_path: Path) -> tuple[int, float, list[int]]:
    """The defective sample replayed with every queue one deep and 60 s for the drain: exit code, seconds, part ids out."""
    small = {"pipeline.queue_size": 1, "camera.queue_size": 1, "shutdown.timeout_s": 60, "camera.source": SAMPLE / "def_front"}
    t0 = time.monotonic()
    rc = _replay(loopback_config(**small), str(SAMPLE / "def_front"), tmp_path / "v.jsonl")
    return rc, time.monotonic() - t0, [v.part_id for v in _out(tmp_path / "v.jsonl")]


def test_a_stage_that_dies_lets_the_parts_past_it_out_and_the_drain_waits_for_nothing_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inference dies on its fourth part, every queue before it full: the three parts it scored get their verdicts, and
    the run fails at once (before 2026-12-07: it waited out shutdown.timeout_s)."""
    from station.stages.inference import InferenceStage

    _dies_on(monkeypatch, InferenceStage, 4)
    rc, took, ids = _replay_one_deep(tmp_path)
    assert rc == 1 and took < 30 and ids == [1, 2, 3], "the drain did not wait out its bound"


def test_two_stages_that_die_leave_none_between_them_waiting_out_the_drain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decision dies on its second part, preprocess on its fourth: inference, alive between them, was left waiting to hand
    on to the dead decision until the drain's bound (found by a review)."""
    from station.stages.decision import DecisionStage
    from station.stages.preprocess import PreprocessStage

    _dies_on(monkeypatch, PreprocessStage, 4)
    _dies_on(monkeypatch, DecisionStage, 2)
    rc, took, ids = _replay_one_deep(tmp_path)
    assert rc == 1 and took < 30 and ids == [1], "the drain did not wait out its bound"


def test_a_dead_resend_thread_is_supervised_like_a_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected past the handler's own guard (a bug, not a request): health says so and the run fails."""
    import station.resend as rs

    def boom(self: object) -> float:
        raise SystemError("resend bug")

    monkeypatch.setattr(rs.ResendServer, "_serve_one", boom)
    cfg = loopback_config(**{"camera.fps": 6, "publisher.resend_endpoint": f"tcp://127.0.0.1:{free_port()}"})
    pipe = Pipeline(cfg, source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(realtime=True))
    pipe.start()
    ask: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    ask.setsockopt(zmq.LINGER, 0)
    try:
        assert pipe.outlet.resend is not None
        ask.connect(pipe.outlet.resend.endpoint)
        ask.send_multipart([b"resend", b'{"from": 1, "to": 1}'])
        end = time.monotonic() + 10
        while pipe.failed() is None and time.monotonic() < end:
            time.sleep(0.05)
        assert "stage-resend: SystemError: resend bug" in str(pipe.failed())
        health = pipe.healthz()
        assert not health.ok and any("stage-resend" in p for p in health.body["problems"])
    finally:
        ask.close(0)
        pipe.drain(5)
        pipe.close()


def _parts_total(text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("station_parts_total{"))


def _scrape_until(port: int, pipe: Pipeline, seconds: float, done: Callable[[str], bool]) -> str:
    """The metrics page, scraped every 0.3 s until ``done`` says so, the run ends or ``seconds`` pass: the last scrape."""
    end, text = time.monotonic() + seconds, ""
    while time.monotonic() < end and not pipe.finished():
        time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        if done(text):
            break
    return text


def test_metrics_scraped_over_http_while_running_and_heartbeats_flow(tmp_path: Path) -> None:
    env = Envelope(width=640, height=360, fps=25, speed=10.0, diameter=200.0)
    video = compose(labelled_photos(SAMPLE)[:5], tmp_path / "line.mp4", env, seed=5)
    mport, zport = free_port(), free_port()
    cfg = load_config(None, [f"metrics.port={mport}", f"publisher.endpoint=tcp://127.0.0.1:{zport}", "publisher.resend_endpoint=null"])
    model = Model(MODEL)
    sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{zport}")
    pipe = Pipeline(cfg, source_for(str(video)), model, Metrics(deadline_s=0.5), RunOptions(realtime=True))
    topics: list[str] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            if sub.poll(50):
                topics.append(sub.recv_multipart()[0].decode())

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    pipe.start()
    try:
        # every labelled series exists from the first scrape at 0: wait for a part actually counted
        text = _scrape_until(mport, pipe, 20, lambda t: _parts_total(t) > 0 and "station_frames_total 0.0" not in t and "verdict" in topics)
        assert "station_camera_connected 1.0" in text
        assert "station_frames_total" in text and "station_frames_total 0.0" not in text
        for name in SERIES:
            assert name in text, name
        with urllib.request.urlopen(f"http://127.0.0.1:{mport}/healthz", timeout=5) as r:
            assert r.status == 200 and json.loads(r.read())["problems"] == []
        parts = _parts_total(text)
        text = _scrape_until(mport, pipe, 10, lambda t: _parts_total(t) > parts)
        assert _parts_total(text) > parts, "station_parts_total moves while parts pass"
    finally:
        pipe.drain(10)
        pipe.close()
        stop.set()
        t.join(2)
        sub.close()
    assert topics.count("heartbeat") >= 2 and "status" in topics and topics.count("verdict") >= 1


def test_stopping_is_final_whatever_the_idle_hook_sees(tmp_path: Path) -> None:
    pipe = Pipeline(loopback_config(), source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(realtime=True))

    def state() -> str:  # read afresh each time
        return pipe.state.value

    assert state() == "starting"
    pipe.start()
    try:
        assert state() == "running"
        pipe._idle()  # the publish stage's idle hook: running stays running
        assert state() == "running"
    finally:
        pipe.drain(10)
        pipe._idle()  # a late idle turn of the publish thread must not undo the drain's stopping
        assert state() == "stopping"
        pipe.close()


def _run(cfg: Config, video: Path, model: Model, out: Path) -> Metrics:
    m = Metrics(deadline_s=cfg.publisher.deadline_ms / 1000)
    pipe = Pipeline(cfg, source_for(str(video)), model, m, RunOptions(out=out, metrics_server=False))
    pipe.start()
    assert wait_for(pipe.finished, 120)
    assert pipe.drain(10)
    pipe.close()
    return m


@pytest.mark.integration
def test_a_replay_with_a_shadow_publishes_the_same_verdicts_and_each_shadow_is_the_candidate_alone(tmp_path: Path) -> None:
    env = Envelope(width=960, height=540, fps=30, speed=20.0, diameter=260.0)
    video = compose(labelled_photos(SAMPLE), tmp_path / "line.mp4", env, seed=7)
    threshold, band = STRICT
    strict = candidate(tmp_path / "strict.onnx", threshold, band, rectify=True)
    sets = ["metrics.enabled=false", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]
    sets += ["publisher.deadline_ms=60000", "model.shadow_wait_ms=30000"]  # nothing late, nothing skipped: the comparison is exact
    cfg = load_config(None, sets)
    _run(cfg, video, Model(MODEL), tmp_path / "active.jsonl")
    _run(cfg, video, Model(strict), tmp_path / "strict.jsonl")
    with structlog.testing.capture_logs() as logs:
        m = _run(load_config(None, [*sets, f"model.shadow={strict}"]), video, Model(MODEL), tmp_path / "both.jsonl")
    active, alone, both = (_out(tmp_path / f"{n}.jsonl") for n in ("active", "strict", "both"))
    (summary,) = [e for e in logs if e["event"] == "shadow_summary"]  # the run's last word on its shadow
    assert summary["model"] == Model(strict).info.model_id and summary["judged"] == sum(v.shadow is not None for v in both)
    assert len(both) == len(read_truth(video)) == len(active) == len(alone)
    key = [(v.part_id, v.frame, v.verdict, v.reason, v.score) for v in both]
    assert key == [(v.part_id, v.frame, v.verdict, v.reason, v.score) for v in active], "the shadow changed a published verdict"
    for v, s in zip(both, alone, strict=True):
        if v.score is None:  # the active model did not score it: no shadow
            assert v.shadow is None
            continue
        assert v.shadow is not None and (v.shadow.verdict, v.shadow.reason, v.shadow.score) == (s.verdict, s.reason, s.score)
    pairs: list[tuple[str, str]] = [(v.verdict, v.shadow.verdict) for v in both if v.shadow is not None and v.shadow.verdict != v.verdict]
    assert pairs, "the strict candidate must disagree somewhere on this footage"
    for active_v, shadow_v in (("pass", "reject"), ("reject", "pass")):
        got = m.registry.get_sample_value("station_shadow_disagreements_total", {"active": active_v, "shadow": shadow_v})
        assert got == pairs.count((active_v, shadow_v))


def test_a_light_dropout_while_parts_cross_the_line_leaves_one_verdict_each_and_is_counted(tmp_path: Path) -> None:
    """Composed footage whose frames go black for 8 frames while each third part crosses the line: every part still gets
    its one verdict, in its window, and each black frame the trigger did not believe is counted as a blank drop."""
    import numpy as np

    env = Envelope(width=960, height=540, fps=30, speed=16.0, diameter=240.0)
    composed = compose(labelled_photos(SAMPLE)[::4], tmp_path / "line.avi", env, seed=3)
    truth = read_truth(composed)
    dark = {
        i
        for t in truth[::3]
        for i in range((int(t["first_frame"]) + int(t["last_frame"])) // 2 - 3, (int(t["first_frame"]) + int(t["last_frame"])) // 2 + 5)
    }
    video = tmp_path / "dropout.avi"
    cap, out = cv2.VideoCapture(str(composed)), cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30, (960, 540))
    i = 0
    while (got := cap.read())[0]:
        out.write(np.zeros_like(got[1]) if i in dark else got[1])
        i += 1
    cap.release()
    out.release()
    m = _run(loopback_config(), video, Model(MODEL), tmp_path / "v.jsonl")
    res = judge(truth, _out(tmp_path / "v.jsonl"))
    assert res["missing_or_extra"] == 0 and res["outside_window"] == 0 and res["escapes"] == 0, res
    assert m.frames_dropped.labels(reason="blank")._value.get() >= len(truth[::3]) * 6


def test_a_camera_that_sends_from_the_start_frames_too_small_for_a_part_makes_the_station_degraded_not_starting() -> None:
    """A camera.roi too small from the first frame: blind, and the heartbeats said ``starting`` for ever (a state a
    commissioning engineer reads as "wait"). Once frames come, a fault is ``degraded``."""
    from .test_capture import PausingCamera  # a live 25 fps camera of 4 x 4 px frames

    src = PausingCamera(100_000)
    src.resume.set()
    pipe = Pipeline(loopback_config(), src, Model(MODEL), Metrics(), RunOptions(metrics_server=False))
    pipe.start()
    try:
        assert wait_for(lambda: pipe.state.value == "degraded", 10), pipe.state
        assert (pipe.capture.blind() or "").startswith("frames of 4 x 4 px cannot show a part")
    finally:
        pipe.drain(10)
        pipe.close()


def test_the_start_says_where_the_live_page_is_served_with_the_port_taken(tmp_path: Path) -> None:
    """With metrics.port 0 (the README's way to run beside a service) nothing said which port was taken."""
    cfg = load_config(None, ["metrics.port=0", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"])
    with structlog.testing.capture_logs() as logs:
        pipe = Pipeline(cfg, source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(out=tmp_path / "v.jsonl"))
        try:
            pipe.start()
            port = pipe.metrics_port
        finally:
            assert wait_for(pipe.finished, 60) and pipe.drain(10)
            pipe.close()
    (started,) = [e for e in logs if e["event"] == "pipeline_started"]
    assert port and started["web"] == f"http://127.0.0.1:{port}/"
