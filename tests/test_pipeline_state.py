"""The station's state as the pipeline's idle turn decides it (starting, running, degraded) and what it reports of
itself: a stage stuck, a camera blind, parts moving the wrong way, the queues' depth. No stage thread is started."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from station.config import load_config
from station.messages import CameraState, Frame, Part, Reason, StageName
from station.metrics import Metrics
from station.model import Model
from station.pipeline import Pipeline, RunOptions
from station.sources import source_for
from station.stages.base import Worker
from station.stages.trigger import FrameTrigger
from station.travel import RUN
from station.wire import StationState

from .conftest import MODEL, SAMPLE, loopback_config

pytestmark = pytest.mark.integration  # each pipeline binds its ZeroMQ sockets


@pytest.fixture
def idle() -> Iterator[Pipeline]:
    """A pipeline said running, as start() leaves it, with no thread started: each test sets its loops' progress by hand."""
    pipe = Pipeline(loopback_config(), source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(metrics_server=False))
    pipe._move_to(StationState.RUNNING)
    try:
        yield pipe
    finally:
        pipe.close()


def _stuck(monkeypatch: pytest.MonkeyPatch, worker: Worker, ago: float) -> None:
    monkeypatch.setattr(worker, "is_alive", lambda: True)
    worker.last_progress = time.monotonic() - ago


def test_a_stage_waiting_to_hand_on_to_a_stuck_one_is_not_named_as_the_hang(idle: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    stage = {s.name: s for s in idle.stages}
    _stuck(monkeypatch, stage["preprocess"], 200.0)  # stuck longest, blocked on the full inference queue
    _stuck(monkeypatch, stage["inference"], 100.0)
    assert (idle.hung() or "").startswith("inference stuck for 100 s")


def test_a_stuck_stage_makes_the_heartbeats_say_degraded_until_it_turns_again(idle: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    inference = {s.name: s for s in idle.stages}["inference"]
    _stuck(monkeypatch, inference, 100.0)
    idle._idle()
    said = [idle.state]
    inference.last_progress = time.monotonic()
    idle._idle()
    assert [*said, idle.state] == [StationState.DEGRADED, StationState.RUNNING]


def test_a_blind_camera_makes_the_heartbeats_say_degraded_though_its_read_has_not_returned(
    idle: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idle.capture, "blind", lambda: "camera silent for 0.40 s")  # what CaptureStage.blind says then
    monkeypatch.setattr(idle.capture, "state", CameraState.CONNECTED)
    idle._idle()
    assert idle.state is StationState.DEGRADED
    health = idle.healthz()
    assert not health.ok and "camera silent for 0.40 s" in health.body["problems"]


def test_parts_moving_against_trigger_direction_make_the_heartbeats_say_degraded_until_parts_move_with_it(idle: Pipeline) -> None:
    for _ in range(RUN):
        idle.travel.moved(-900.0, 240.0)  # as the trigger tells it of each part, once it has moved far enough to tell
    idle._idle()
    said, health = [idle.state], idle.healthz()
    for _ in range(RUN):
        idle.travel.moved(900.0, 240.0)
    idle._idle()
    assert [*said, idle.state] == [StationState.DEGRADED, StationState.RUNNING]
    assert any("trigger.direction is left_to_right" in d for d in health.body["degraded"]), "a setting: no restart mends it"


def test_a_trigger_that_fails_makes_the_heartbeats_say_degraded_and_failing_on_every_frame_for_long_unhealthy(
    idle: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: FrameTrigger, frame: Frame) -> list[Part]:
        raise RuntimeError("injected")

    monkeypatch.setattr(FrameTrigger, "__call__", boom)  # an image folder's trigger
    stage, now = idle.trigger_stage, time.monotonic()
    monkeypatch.setattr(stage, "_clock", lambda: now - idle.cfg.pipeline.stall_after_s - 1)
    assert [p.failure.reason if p.failure else None for p in stage(Frame(0, np.zeros((8, 8), np.uint8), 0.0, 0.0))] == [Reason.ERROR]
    monkeypatch.setattr(stage, "_clock", time.monotonic)
    stage(Frame(1, np.zeros((8, 8), np.uint8), 0.0, 0.0))
    idle._idle()
    health = idle.healthz()
    assert idle.state is StationState.DEGRADED and any("the trigger failed on frame 1" in d for d in health.body["degraded"])
    assert (idle.hung() or "").startswith("the trigger has failed on every frame for"), "since stall_after_s ago"
    assert any(p.startswith("the trigger has failed on every frame") for p in idle.healthz().body["problems"])


def test_a_frame_past_its_deadline_in_the_triggers_hands_or_first_in_its_queue_makes_the_heartbeats_say_degraded(
    idle: Pipeline,
) -> None:
    """A trigger held on a frame (or frames waiting for it) past publisher.deadline_ms: the parts in them have no verdict
    yet, and gateways hearing running would let them reach the actuator undecided; healthz says it among the degraded."""
    old = Frame(7, np.zeros((8, 8), np.uint8), time.monotonic() - 2.0, time.time() - 2.0)
    trigger = idle.stages[0]
    trigger.handling = old
    idle._idle()
    said = [idle.state]
    assert any(d.startswith("frame 7 not through the trigger 2.") for d in idle.healthz().body["degraded"])
    trigger.handling = None
    idle.queues[StageName.TRIGGER].put(old)
    idle._idle()
    said.append(idle.state)
    idle.queues[StageName.TRIGGER].get()
    idle._idle()
    assert [*said, idle.state] == [StationState.DEGRADED, StationState.DEGRADED, StationState.RUNNING]


def test_the_queue_depth_series_are_the_queues_in_front_of_each_stage_the_publish_one_included(idle: Pipeline) -> None:
    idle.queues[StageName.PUBLISH].put_nowait(object())  # a verdict waiting for the publish stage
    idle.queues[StageName.SHADOW].put_nowait(object())  # the shadow's queue holds one part
    idle._idle()
    depth = {s.labels["stage"]: s.value for m in idle.metrics.registry.collect() for s in m.samples if s.name == "station_queue_depth"}
    assert depth == {n.value: 0.0 for n in StageName if n is not StageName.CAPTURE} | {"publish": 1.0, "shadow": 1.0}
    assert idle.queues[StageName.SHADOW].full()


def test_a_live_camera_is_starting_not_degraded_until_it_first_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = Pipeline(loopback_config(), source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(metrics_server=False))
    try:
        monkeypatch.setattr(pipe.capture, "blind", lambda: "no frame since the camera opened")
        pipe._idle()
        said = [pipe.state]
        monkeypatch.setattr(pipe.capture, "blind", lambda: None)  # its first frame
        pipe._idle()
        assert [*said, pipe.state] == [StationState.STARTING, StationState.RUNNING]
    finally:
        pipe.close()


def test_a_camera_that_fails_to_open_at_start_is_degraded(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = Pipeline(loopback_config(), source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(metrics_server=False))
    try:
        monkeypatch.setattr(pipe.capture, "blind", lambda: "camera disconnected")
        monkeypatch.setattr(pipe.capture, "state", CameraState.DISCONNECTED)  # its first open failed: retrying
        pipe._idle()
        assert pipe.state is StationState.DEGRADED
    finally:
        pipe.close()


def test_a_stuck_shadow_is_degraded_on_healthz_and_never_withholds_the_watchdog(idle: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    _stuck(monkeypatch, idle.shadow_stage, 100.0)
    assert idle.hung() is None, "a shadow changes no verdict: no reason to restart the station"
    idle._idle()
    assert idle.state is StationState.RUNNING
    assert any(d.startswith("shadow stuck") for d in idle.healthz().body["degraded"])


@pytest.mark.parametrize("heartbeat_ms", [40, 250, 1000])
def test_the_publish_stage_turns_at_least_twice_a_heartbeat_interval_so_heartbeats_keep_their_pace(heartbeat_ms: int) -> None:
    cfg = load_config(None, ["metrics.enabled=false", f"publisher.heartbeat_ms={heartbeat_ms}", "publisher.endpoint=tcp://127.0.0.1:*",
                             "publisher.resend_endpoint=null"])  # fmt: skip
    pipe = Pipeline(cfg, source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(metrics_server=False))
    try:
        publish = next(s for s in pipe.stages if s.name == "publish")
        assert publish._poll_s <= min(0.1, heartbeat_ms / 2000)
    finally:
        pipe.close()
