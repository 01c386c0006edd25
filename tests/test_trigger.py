"""The trigger stage's choice of trigger, the frame trigger (one part per frame), and the stage's guard: a trigger that
raises on a frame leaves one verdict per part, in order."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from station.blobs import Blob, find_blobs
from station.config import TriggerMode, TriggerSection, load_config
from station.messages import Cause, Failure, Frame, Part, Reason
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.sources import source_for
from station.stages.line_trigger import LineTrigger
from station.stages.trigger import FrameTrigger, TriggerStage, trigger_for, trigger_mode

from .belt_frames import disc_frame
from .conftest import SAMPLE


def test_frame_trigger_makes_one_part_per_frame_in_order() -> None:
    t = FrameTrigger()
    frames = [Frame(i, np.zeros((8, 8), np.uint8), 0.0, 0.0) for i in range(5)]
    ids = [p.part_id for f in frames for p in t(f)]
    assert ids == [1, 2, 3, 4, 5]


def test_unreadable_frame_becomes_a_part_that_cannot_be_inspected() -> None:
    unreadable = Failure(Reason.UNABLE, "x.jpg: not a decodable image", Cause.UNREADABLE)
    p = FrameTrigger()(Frame(0, np.zeros((0, 0), np.uint8), 0.0, 0.0, unreadable))[0]
    assert p.failure == unreadable


def test_auto_makes_each_frame_a_part_for_a_hardware_triggered_camera_and_an_image_folder(tmp_path: Path) -> None:
    hardware = load_config(None, ["camera.source=gige:Cam1", "camera.trigger=Line1"])
    free = load_config(None, [])
    usb = source_for("usb:0")  # not opened
    video = tmp_path / "line.mp4"
    video.write_bytes(b"")
    assert trigger_mode(hardware, usb) is TriggerMode.FRAME, "a trigger pulse per part: the line tracker would see one part"
    assert isinstance(trigger_for(hardware, usb), FrameTrigger)
    assert trigger_mode(free, usb) is TriggerMode.LINE
    assert trigger_mode(free, source_for(str(SAMPLE))) is TriggerMode.FRAME
    assert trigger_mode(hardware, source_for(str(video))) is TriggerMode.LINE, "a recording is footage of the conveyor"
    assert trigger_mode(load_config(None, ["trigger.mode=frame"]), source_for(str(video))) is TriggerMode.FRAME
    encoder = load_config(None, ["camera.source=gige:Cam1", "camera.trigger=Line1", "trigger.mode=line"])  # pulses by belt travel
    assert trigger_mode(encoder, usb) is TriggerMode.LINE


class _LosesItsPart(LineTrigger):
    """A line trigger that raises right after numbering part ``on``: that part is lost with the exception."""

    def __init__(self, on: int) -> None:
        super().__init__(TriggerSection())
        self.on = on

    def _emit(self, frame: Frame, blob: Blob, belt: float | None, seen: int | None = None) -> Part:
        part = super()._emit(frame, blob, belt, seen)
        if part.part_id == self.on:
            raise RuntimeError("injected after numbering")
        return part


def _discs() -> list[Frame]:
    """Three discs crossing a 960 px belt, 320 and 380 px apart: the third in view as the second crosses the line."""
    w, h, r, v = 960, 540, 100, 23
    return [Frame(t, disc_frame(w, h, [(s + v * t, 270, r) for s in (-r, -r - 320, -r - 700)]), 0.0, 0.0) for t in range(90)]


def _stage(trigger: FrameTrigger | LineTrigger, metrics: Metrics | None = None) -> TriggerStage:
    return TriggerStage(trigger, metrics or Metrics(), RateLimitedLog())


def _errors(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("station_part_errors_total", {"stage": "trigger"})


def test_a_part_numbered_before_the_trigger_raised_is_rejected_under_its_number_and_the_parts_in_view_once_each() -> None:
    metrics = Metrics()
    stage = _stage(_LosesItsPart(on=2), metrics)
    frames = _discs()
    parts = [p for f in frames for p in stage(f)] + stage.flush()
    assert [p.part_id for p in parts] == [1, 2, 3], "one verdict each, in order: none lost, none judged twice"
    assert parts[0].failure is None
    for p in parts[1:]:  # the second lost with the exception; the third in view, not yet inspected
        assert p.failure is not None and p.failure.reason is Reason.ERROR
        assert p.failure.detail == "trigger: RuntimeError: injected after numbering"
    crossed = -420 + 23 * 40  # the second disc's centre on frame 40, the first past the line (480 px)
    assert crossed >= 480 > crossed - 23 and parts[1].frame.index == parts[2].frame.index == 40, "both on the frame it failed on"
    assert _errors(metrics) == 1


def test_a_trigger_that_raises_on_a_frame_goes_on_with_the_next_and_says_it_failed_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    import station.stages.line_trigger as lt

    calls = {"n": 0}

    def fails_on_frame_20(image: np.ndarray, *args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 21:
            raise ValueError("injected")
        return find_blobs(image, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(lt, "find_blobs", fails_on_frame_20)
    stage, frames = _stage(LineTrigger(TriggerSection())), _discs()
    parts = [p for f in frames[:21] for p in stage(f)]
    failed_then, since = stage.failing(time.monotonic()), stage.failing_since
    parts += [p for f in frames[21:] for p in stage(f)] + stage.flush()
    assert [p.part_id for p in parts] == [1, 2, 3]
    assert [p.failure.reason if p.failure else None for p in parts] == [Reason.ERROR, Reason.ERROR, None], "the third judged as ever"
    assert [p.frame.index for p in parts[:2]] == [19, 20], "the two in view as it failed: the first on its last whole view"
    assert failed_then == "the trigger failed on frame 20: trigger: ValueError: injected" and since is not None
    assert stage.failing_since is None, "it handled a frame since"
    assert stage.failing(time.monotonic()) is not None and stage.failing(time.monotonic() + TriggerStage.FAULT_HOLD_S) is None


def test_a_trigger_that_raises_as_the_stream_ends_rejects_the_part_still_in_view(monkeypatch: pytest.MonkeyPatch) -> None:
    trig = LineTrigger(TriggerSection())
    stage, frames = _stage(trig), _discs()
    parts = [p for f in frames[:30] for p in stage(f)]  # the first judged at the line, the second in view, the third not yet

    def boom() -> list[Part]:
        raise RuntimeError("injected at the end")

    monkeypatch.setattr(trig, "flush", boom)
    parts += stage.flush()
    assert [p.part_id for p in parts] == [1, 2]
    assert [p.failure.reason if p.failure else None for p in parts] == [None, Reason.ERROR]


def test_a_frame_trigger_that_raises_still_makes_its_frame_a_part_rejected_and_numbers_on(monkeypatch: pytest.MonkeyPatch) -> None:
    trig = FrameTrigger()
    stage, call = _stage(trig), FrameTrigger.__call__

    def raises_on_frame_1(self: FrameTrigger, frame: Frame) -> list[Part]:
        if frame.index == 1:
            raise RuntimeError("injected")
        return call(self, frame)

    monkeypatch.setattr(FrameTrigger, "__call__", raises_on_frame_1)
    parts = [p for i in range(3) for p in stage(Frame(i, np.zeros((8, 8), np.uint8), 0.0, 0.0))]
    assert [p.part_id for p in parts] == [1, 2, 3]
    assert [p.failure.reason if p.failure else None for p in parts] == [None, Reason.ERROR, None]
