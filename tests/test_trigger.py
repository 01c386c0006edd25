"""The trigger stage's choice of trigger, the frame trigger (one part per frame), and the stage's guard: a trigger that
raises on a frame leaves one verdict per part, in order."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
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
from station.tracks import Track

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
    """A line trigger that raises right after numbering part ``on``, the first time: that part is lost with the exception."""

    def __init__(self, on: int) -> None:
        super().__init__(TriggerSection())
        self.on, self.raised = on, [False]  # a list: the trigger's own attributes go back as it fails

    def _emit(self, frame: Frame, blob: Blob, belt: float | None, seen: int | None = None) -> Part:
        part = super()._emit(frame, blob, belt, seen)
        if part.part_id == self.on and not self.raised[0]:
            self.raised[0] = True
            raise RuntimeError("injected after numbering")
        return part


class _FailsJudging(LineTrigger):
    """A line trigger that raises on its ``on``-th check whether a part was an older one's, found again: the part is
    already marked inspected and has no number yet."""

    def __init__(self, on: int) -> None:
        super().__init__(TriggerSection())
        self.on, self.calls = on, [0]  # a list: the trigger's own attributes go back as it fails

    def _of_older(self, t: Track) -> bool:
        self.calls[0] += 1
        if self.calls[0] == self.on:
            raise RuntimeError("injected while judging")
        return super()._of_older(t)


def _discs(chip: bool = False) -> list[Frame]:
    """Three discs crossing a 960 px belt, 320 and 380 px apart: the third in view as the second crosses the line; with
    ``chip``, a 40 px chip of debris on the belt between the first two, off their row."""
    w, h, r, v = 960, 540, 100, 23
    frames = []
    for t in range(90):
        img = disc_frame(w, h, [(s + v * t, 270, r) for s in (-r, -r - 320, -r - 700)])
        if chip:
            cv2.rectangle(img, (v * t - 290, 60), (v * t - 250, 100), 190, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    return frames


def _stage(trigger: FrameTrigger | LineTrigger, metrics: Metrics | None = None) -> TriggerStage:
    return TriggerStage(trigger, metrics or Metrics(), RateLimitedLog())


def _errors(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("station_part_errors_total", {"stage": "trigger"})


def _reasons(parts: list[Part]) -> list[Reason | None]:
    return [p.failure.reason if p.failure else None for p in parts]


def test_a_part_numbered_before_the_trigger_raised_is_judged_on_the_next_frame_under_that_number() -> None:
    metrics = Metrics()
    stage = _stage(_LosesItsPart(on=2), metrics)
    parts = [p for f in _discs() for p in stage(f)] + stage.flush()
    assert [p.part_id for p in parts] == [1, 2, 3], "one verdict each, in order: none lost, none judged twice"
    assert _reasons(parts) == [None, None, None] and _errors(metrics) == 1
    assert parts[1].frame.index == 41, "the frame it failed on taken as one not seen: judged on the next"


def test_a_part_the_trigger_was_judging_as_it_raised_is_judged_on_the_next_frame() -> None:
    """Found by a review: a track was marked inspected before its number was taken, and the exception left it with none."""
    stage = _stage(_FailsJudging(on=2))
    parts = [p for f in _discs() for p in stage(f)] + stage.flush()
    assert [p.part_id for p in parts] == [1, 2, 3] and _reasons(parts) == [None, None, None]
    assert parts[1].frame.index == 41


@pytest.mark.parametrize("chip", [False, True])
def test_a_trigger_that_raises_on_a_frame_goes_on_with_the_next_and_says_it_failed_for_a_while(
    chip: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frame it fails on is as good as a frame not seen: the parts are followed across it and judged as ever, and a
    chip of debris on the belt gets no verdict (before a review: every part in view was rejected, the chip too)."""
    import station.stages.line_trigger as lt

    calls = {"n": 0}

    def fails_on_frame_30(image: np.ndarray, *args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 31:
            raise ValueError("injected")
        return find_blobs(image, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(lt, "find_blobs", fails_on_frame_30)
    metrics = Metrics()
    stage, frames = _stage(LineTrigger(TriggerSection()), metrics), _discs(chip)
    parts = [p for f in frames[:31] for p in stage(f)]
    failed_then = stage.failing(time.monotonic())
    parts += [p for f in frames[31:] for p in stage(f)] + stage.flush()
    assert [p.part_id for p in parts] == [1, 2, 3] and _reasons(parts) == [None, None, None] and _errors(metrics) == 1
    assert failed_then == "the trigger failed on frame 30: trigger: ValueError: injected"
    assert stage.failing(time.monotonic()) is not None and stage.failing(time.monotonic() + TriggerStage.FAULT_HOLD_S) is None


def test_a_trigger_is_stuck_only_while_it_fails_on_every_frame_it_is_handed(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: FrameTrigger, frame: Frame) -> list[Part]:
        raise RuntimeError("injected")

    now = {"t": 0.0}
    stage = TriggerStage(FrameTrigger(), Metrics(), RateLimitedLog(), clock=lambda: now["t"])
    monkeypatch.setattr(FrameTrigger, "__call__", boom)
    stage(Frame(0, np.zeros((8, 8), np.uint8), 0.0, 0.0))
    assert stage.stuck(20.0, 15.0) is None, "one failure, then the line stopped: nothing to restart"
    for i in range(1, 4):
        now["t"] = 6.0 * i
        stage(Frame(i, np.zeros((8, 8), np.uint8), 0.0, 0.0))
    assert stage.stuck(19.0, 15.0) == "the trigger has failed on every frame for 19 s (4 frames)"
    assert stage.stuck(40.0, 15.0) is None, "no frame since for longer than the bound: the line stopped"
    monkeypatch.undo()
    stage(Frame(4, np.zeros((8, 8), np.uint8), 0.0, 0.0))
    assert stage.stuck(19.0, 15.0) is None, "it handled a frame"


def test_a_trigger_that_raises_as_the_stream_ends_rejects_the_part_still_in_view(monkeypatch: pytest.MonkeyPatch) -> None:
    trig = LineTrigger(TriggerSection())
    stage, frames = _stage(trig), _discs()
    parts = [p for f in frames[:30] for p in stage(f)]  # the first judged at the line, the second in view, the third not yet

    def boom() -> list[Part]:
        raise RuntimeError("injected at the end")

    monkeypatch.setattr(trig, "_ended_unseen", lambda *a: boom())
    parts += stage.flush()
    assert [p.part_id for p in parts] == [1, 2] and _reasons(parts) == [None, Reason.ERROR]


def test_a_trigger_that_raises_as_the_stream_ends_after_numbering_a_part_rejects_it_under_that_number() -> None:
    stage, frames = _stage(_LosesItsPart(on=2)), _discs()
    parts = [p for f in frames[:36] for p in stage(f)] + stage.flush()  # the second seen whole, short of the line
    assert [p.part_id for p in parts] == [1, 2] and _reasons(parts) == [None, Reason.ERROR], "the third only coming into view"


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
