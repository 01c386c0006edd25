from __future__ import annotations

import numpy as np
import pytest

from station.decision import decide
from station.messages import Crop, Frame, Part, Reason, Scored
from station.preprocess import Preprocessed, Quality

BAND = (0.2, 0.5)
THR = 0.3


def _scored(score: float | None, quality: Quality = Quality.OK, failure: str | None = None, error: str | None = None) -> Scored:
    part = Part(1, Frame(0, np.zeros((4, 4), np.uint8), 0.0, 0.0), failure=failure, failure_reason=Reason.UNABLE if failure else None)
    pre = Preprocessed(quality, None, np.zeros((4, 4), np.float32) if quality is Quality.OK else None, 100.0, 1.0, 0.0)
    return Scored(Crop(part, pre), score, error)


@pytest.mark.parametrize(
    ("scored", "reason"),
    [
        (_scored(0.05), Reason.OK),
        (_scored(0.25), Reason.UNCERTAIN),
        (_scored(0.45), Reason.UNCERTAIN),
        (_scored(0.9), Reason.DEFECT),
        (_scored(None, Quality.CUT_OFF), Reason.UNABLE),
        (_scored(None, Quality.NO_PART), Reason.UNABLE),
        (_scored(None, Quality.BLURRED), Reason.UNABLE),
        (_scored(None, failure="camera lost"), Reason.UNABLE),
        (_scored(None, error="inference: boom"), Reason.ERROR),
        (_scored(None), Reason.ERROR),
    ],
)
def test_only_a_confident_ok_passes(scored: Scored, reason: Reason) -> None:
    assert decide(scored, THR, BAND)[0] is reason
