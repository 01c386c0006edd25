"""The preprocess stage (``station/stages/preprocess.py``): each part located, checked and cropped as the model needs it, and a
part that cannot be is a reject with the station's reason."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest

from station.config import SHIPPED_MODEL
from station.footage import shadow_weight
from station.messages import Frame, Part
from station.metrics import Metrics
from station.model import Model
from station.preprocess import PreprocessSpec, Quality
from station.stages.preprocess import PreprocessStage

from .conftest import SAMPLE


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


def _shaded_part(top: int) -> np.ndarray:
    """A 640 x 360 belt with a sample part 240 px across whose top rows start at ``top``, a shadow over its upper half
    down to a fifth of the light (``line-video.md``: a sector may be shaded to the belt's level)."""
    photo = cv2.imread(str(sorted((SAMPLE / "ok_front").iterdir())[0]), cv2.IMREAD_GRAYSCALE)
    assert photo is not None
    part = cv2.resize(photo, (240, 240))
    yy, xx = np.mgrid[0:240, 0:240]
    disc = (xx - 119.5) ** 2 + (yy - 119.5) ** 2 <= 112**2
    light = 1.0 - 0.8 * shadow_weight(np.arctan2(yy - 119.5, xx - 119.5).astype(np.float32), -math.pi / 2, math.radians(100), 0.35)
    frame = np.full((360 + 240, 640), 50, np.uint8)  # room above the frame for a part it cuts
    frame[240 + top : 480 + top, 200:440][disc] = np.clip(part[disc] * light[disc], 0, 255).astype(np.uint8)
    return frame[240:]


def test_a_part_shaded_over_its_upper_half_is_found_whole_where_its_blob_is_the_lit_half_alone() -> None:
    """The trigger's blob of a part so shaded is its lit part: 170 px across, 35 px below the part's centre. The square
    round it cut the part off (cut_off, a reject); the part is looked for again round the circle found there. A part the
    frame itself cuts stays cut off."""
    stage = PreprocessStage(Model(SHIPPED_MODEL).info.spec, Metrics())
    whole = stage(Part(1, Frame(0, _shaded_part(60), time.monotonic(), time.time()), blob=(320.0, 215.0, 170.0), belt_level=50.0))[0]
    assert whole.pre is not None and whole.pre.quality is Quality.OK and whole.pre.circle is not None
    assert abs(whole.pre.circle.cx - 320) < 5 and abs(whole.pre.circle.cy - 180) < 5 and abs(whole.pre.circle.r - 110) < 8
    cut = stage(Part(2, Frame(1, _shaded_part(-70), time.monotonic(), time.time()), blob=(320.0, 85.0, 170.0), belt_level=50.0))[0]
    assert cut.pre is not None and cut.pre.quality is Quality.CUT_OFF and cut.failure is not None


def test_a_part_judged_ok_without_a_crop_is_an_error_never_a_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never so from preprocess itself; its failure named the cause "ok", which a Failure refuses: crop_part raised."""
    import station.stages.preprocess as stage
    from station.messages import Reason, StageName
    from station.preprocess import Preprocessed

    monkeypatch.setattr(stage, "preprocess_part", lambda *_: Preprocessed(Quality.OK, None, None, 100.0, 1.0, 0.0))
    crop = stage.crop_part(Part(1, _frame()), PreprocessSpec(), None, Metrics(), StageName.PREPROCESS)
    assert crop.failure is not None and crop.failure.reason is Reason.ERROR and "without a crop" in crop.failure.detail
