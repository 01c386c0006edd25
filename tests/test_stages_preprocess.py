"""The preprocess stage (``station/stages/preprocess.py``): each part located, checked and cropped as the model needs it, and a
part that cannot be is a reject with the station's reason."""

from __future__ import annotations

import time

import cv2
import numpy as np

from station.messages import Frame, Part
from station.metrics import Metrics
from station.preprocess import PreprocessSpec, Quality
from station.stages.preprocess import PreprocessStage


def _frame() -> Frame:
    img = np.full((400, 400), 60, np.uint8)
    cv2.circle(img, (200, 200), 90, 190, -1)  # the part the trigger saw
    cv2.circle(img, (200, 200), 55, 120, 6)  # an inner ring
    return Frame(0, img, time.monotonic(), time.time())


def test_a_circle_much_smaller_than_the_trigger_blob_is_not_inspected() -> None:
    stage = PreprocessStage(PreprocessSpec(), Metrics())
    ok = stage(Part(1, _frame(), blob=(200.0, 200.0, 186.0), belt_level=60.0))[0]
    assert ok.pre is not None and ok.pre.quality is Quality.OK and ok.pre.circle is not None
    assert abs(ok.pre.circle.r - 90) < 6
    # the same frame, but the trigger saw a part twice as big: whatever was found is not its rim
    bad = stage(Part(2, _frame(), blob=(200.0, 200.0, 2.6 * 90), belt_level=60.0))[0]
    assert bad.pre is not None and bad.pre.quality is Quality.OUTLINE_MISMATCH and bad.pre.crop is None
