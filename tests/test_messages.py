"""The messages the stages pass on (``station/messages.py``)."""

from __future__ import annotations

import pytest

from station.messages import Cause, Failure, Reason
from station.preprocess import Quality


def test_a_failure_to_inspect_names_its_cause_and_an_error_none() -> None:
    assert Failure(Reason.UNABLE, "cut_off", Quality.CUT_OFF).cause is Quality.CUT_OFF
    assert Failure(Reason.ERROR, "inference: boom").cause is None
    for reason, cause in [(Reason.UNABLE, None), (Reason.UNABLE, Quality.OK), (Reason.ERROR, Cause.CAMERA_LOST), (Reason.OK, None)]:
        with pytest.raises(ValueError, match=reason.value):
            Failure(reason, "why", cause)
