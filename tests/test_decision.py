from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from station.messages import Cause, Failure, Reason, Scored
from station.preprocess import Quality
from station.score import published
from station.stages.decision import decide

from .conftest import scored_part

BAND = (0.2, 0.5)


@pytest.mark.parametrize(
    ("scored", "reason"),
    [
        (scored_part(0.05), Reason.OK),
        (scored_part(0.25), Reason.UNCERTAIN),
        (scored_part(0.45), Reason.UNCERTAIN),
        (scored_part(0.9), Reason.DEFECT),
        (scored_part(None, Quality.CUT_OFF), Reason.UNABLE),
        (scored_part(None, Quality.NO_PART), Reason.UNABLE),
        (scored_part(None, Quality.BLURRED), Reason.UNABLE),
        (scored_part(None, failure=Failure(Reason.UNABLE, "camera lost", Cause.CAMERA_LOST)), Reason.UNABLE),
        (scored_part(None, failure=Failure(Reason.ERROR, "inference: boom")), Reason.ERROR),
        (scored_part(None), Reason.ERROR),
    ],
)
def test_only_a_confident_ok_passes(scored: Scored, reason: Reason) -> None:
    assert decide(scored, BAND)[0] is reason


@pytest.mark.parametrize("score", [float("nan"), float("inf"), float("-inf"), 1.5, -0.01])
def test_a_score_that_is_not_a_finite_number_in_0_1_is_an_error_never_a_pass(score: float) -> None:
    reason, detail = decide(scored_part(score), BAND)
    assert reason is Reason.ERROR and "not a finite number" in detail


def test_the_verdict_of_a_nan_score_is_a_reject_without_the_nan() -> None:
    from station.metrics import Metrics
    from station.model import ModelInfo
    from station.preprocess import PreprocessSpec
    from station.stages.decision import DecisionStage

    info = ModelInfo("m", "1", ("ok", "defect"), PreprocessSpec(), 0.3, BAND, {}, "")
    v = DecisionStage(info, Metrics())(scored_part(float("nan")))[0]
    assert v.verdict == "reject" and v.reason is Reason.ERROR and v.score is None


def test_an_evidence_map_that_cannot_say_where_leaves_the_part_its_one_reject_verdict() -> None:
    """An empty map (a broken graph's) raised in Evidence.where, outside the stage's guard: the decision thread ended and
    the part had no verdict. It is now rejected as decided, pointing nowhere, and the error counted."""
    from dataclasses import replace

    import numpy as np

    from station.evidence import Evidence
    from station.locate import Circle
    from station.metrics import Metrics
    from station.model import ModelInfo
    from station.preprocess import PreprocessSpec
    from station.stages.decision import DecisionStage

    info, m = ModelInfo("m", "1", ("ok", "defect"), PreprocessSpec(), 0.3, BAND, {}, ""), Metrics()
    part = scored_part(0.9)
    assert part.crop.pre is not None
    pre = replace(part.crop.pre, circle=Circle(2.0, 2.0, 1.5))
    broken = replace(part, crop=replace(part.crop, pre=pre), evidence=Evidence(np.zeros((0, 8), np.float32), PreprocessSpec(), None))
    with capture_logs() as logs:
        verdicts = DecisionStage(info, m)(broken)
    assert [(v.reason, v.where, v.evidence is not None) for v in verdicts] == [(Reason.DEFECT, None, True)]
    assert m.registry.get_sample_value("station_part_errors_total", {"stage": "decision"}) == 1.0
    assert [e["event"] for e in logs] == ["evidence_unreadable"]


def test_a_score_that_rounds_onto_the_pass_limit_as_published_is_not_a_pass() -> None:
    assert decide(scored_part(0.2 - 4e-7), BAND)[0] is Reason.UNCERTAIN, "published as 0.2, the pass limit itself"
    assert decide(scored_part(0.2 - 6e-7), BAND)[0] is Reason.OK, "published as 0.199999, under it"
    assert published(0.2 - 4e-7) == BAND[0] and published(float("nan")) is None


def test_a_part_the_trigger_refused_keeps_the_box_it_was_seen_in() -> None:
    """The verdict carries the trigger's box (what the archive crops a part located nowhere to, and the live page draws:
    test_archive, test_web)."""
    from dataclasses import replace

    from station.metrics import Metrics
    from station.model import ModelInfo
    from station.preprocess import PreprocessSpec
    from station.stages.decision import DecisionStage

    info = ModelInfo("m", "1", ("ok", "defect"), PreprocessSpec(), 0.3, BAND, {}, "")
    refused = scored_part(None, failure=Failure(Reason.UNABLE, "never seen whole", Cause.NEVER_WHOLE))
    part = replace(refused.crop.part, blob=(30.0, 20.0, 12.0))
    v = DecisionStage(info, Metrics())(replace(refused, crop=replace(refused.crop, part=part)))[0]
    assert v.reason is Reason.UNABLE and v.blob == (30.0, 20.0, 12.0) and v.circle is None


def test_parts_that_cannot_be_inspected_are_counted_by_cause_and_nothing_else_is() -> None:
    from station.metrics import UNABLE_CAUSES, Metrics
    from station.model import ModelInfo
    from station.preprocess import PreprocessSpec
    from station.stages.decision import DecisionStage

    m = Metrics()
    stage = DecisionStage(ModelInfo("m", "1", ("ok", "defect"), PreprocessSpec(), 0.3, BAND, {}, ""), m)
    parts = [
        scored_part(None, Quality.CUT_OFF),
        scored_part(None, Quality.CUT_OFF),
        scored_part(None, failure=Failure(Reason.UNABLE, "part 300 px across, larger than ...", Cause.TOO_LARGE)),
        scored_part(None, failure=Failure(Reason.ERROR, "inference: boom")),
        scored_part(0.05),
        scored_part(0.9),
    ]
    verdicts = [stage(p)[0] for p in parts]
    assert [v.cause for v in verdicts] == [Quality.CUT_OFF, Quality.CUT_OFF, Cause.TOO_LARGE, None, None, None]
    reasons = [v.reason for v in verdicts]
    counted = {c.value: m.registry.get_sample_value("station_parts_unable_total", {"cause": c.value}) or 0.0 for c in UNABLE_CAUSES}
    assert counted == {c.value: {"cut_off": 2.0, "too_large": 1.0}.get(c.value, 0.0) for c in UNABLE_CAUSES}
    assert reasons.count(Reason.UNABLE) == sum(counted.values()) == 3


@settings(max_examples=500, deadline=None)
@given(score=st.floats(allow_nan=True, allow_infinity=True, width=64), lo=st.floats(0, 1), hi=st.floats(0, 1))
def test_any_number_passes_only_when_it_is_a_score_in_0_1_published_under_the_pass_limit(score: float, lo: float, hi: float) -> None:
    band = (min(lo, hi), max(lo, hi))
    reason = decide(scored_part(score), band)[0]
    shown = published(score)
    assert (reason is Reason.OK) == (math.isfinite(score) and 0.0 <= score <= 1.0 and shown is not None and shown < band[0])


def test_a_decision_that_raises_rejects_its_part_as_error_counted_and_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    from station.metrics import Metrics
    from station.model import ModelInfo
    from station.preprocess import PreprocessSpec
    from station.stages import decision

    def broken(scored: Scored, band: tuple[float, float]) -> tuple[Reason, str]:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(decision, "decide", broken)
    info, m = ModelInfo("m", "1", ("ok", "defect"), PreprocessSpec(), 0.3, BAND, {}, ""), Metrics()
    part = scored_part(0.01)
    with capture_logs() as logs:
        (v,) = decision.DecisionStage(info, m)(part)
    assert v.verdict == "reject" and v.reason is Reason.ERROR and v.detail == "decision: ZeroDivisionError: a bug"
    assert m.registry.get_sample_value("station_part_errors_total", {"stage": "decision"}) == 1.0
    assert [(e["event"], e["stage"], e["part_id"]) for e in logs] == [("part_error", "decision", part.crop.part.part_id)]
