"""The trigger stage's choice of trigger, and the frame trigger: one part per frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from station.config import TriggerMode, load_config
from station.messages import Cause, Failure, Frame, Reason
from station.sources import source_for
from station.stages.trigger import FrameTrigger, trigger_for, trigger_mode

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
