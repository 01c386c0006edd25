"""Decision: pass only a part positively inspected as OK; everything else rejects with a reason."""

from __future__ import annotations

from dataclasses import replace

import structlog

from station.evidence import Evidence
from station.locate import Circle
from station.messages import Cause, Reason, Scored, StageName, Verdict
from station.metrics import Metrics
from station.model import ModelInfo
from station.preprocess import Quality
from station.score import SCORE_DIGITS, passes, published, valid_score

log = structlog.get_logger()


def decide(scored: Scored, band: tuple[float, float]) -> tuple[Reason, str]:
    """The reason for one part's verdict, and a short detail for the log and the archive.

    A score passes below ``band[0]`` (the pass limit), is a defect above ``band[1]`` and uncertain (a reject) between; the
    model file's ``threshold`` lies inside the band and decides nothing. The score judged is the one published
    (:func:`published`): a score a hair under the pass limit that rounds onto it is uncertain, so no verdict passes with a
    published score at its limit."""
    if scored.failure is not None:  # the one failure, from the stage that found it
        return scored.failure.reason, scored.failure.detail
    pre = scored.crop.pre
    if pre is None or pre.quality is not Quality.OK:
        return Reason.UNABLE, pre.quality.value if pre is not None else "not preprocessed"
    if scored.score is None:
        return Reason.ERROR, "no score"
    if not valid_score(scored.score):
        return Reason.ERROR, f"score {scored.score!r} is not a finite number in [0, 1]"
    s = round(scored.score, SCORE_DIGITS)
    if passes(scored.score, band[0]):
        return Reason.OK, f"score {s:.3f} below the pass limit {band[0]:.3f}"
    if s <= band[1]:
        return Reason.UNCERTAIN, f"score {s:.3f} within uncertain band [{band[0]:.3f}, {band[1]:.3f}]"
    return Reason.DEFECT, f"score {s:.3f} above the uncertain band [{band[0]:.3f}, {band[1]:.3f}]"


def unable_cause(scored: Scored) -> Cause | Quality | None:
    """Why ``scored`` could not be inspected (station_parts_unable_total's cause): its failure's, or its preprocessing's;
    None for a part inspected, or one that failed with an error."""
    if scored.failure is not None:
        return scored.failure.cause
    pre = scored.crop.pre
    return pre.quality if pre is not None and pre.quality is not Quality.OK else None


def finalise(v: Verdict, now_mono: float, deadline_s: float) -> Verdict:
    """The verdict as it goes out, decided at the moment of publishing: the one that is sent, shown and archived.

    A verdict ready after its deadline is a reject ``late`` (the gateway has moved on); a pass
    without a valid score is never sent (a second check after :func:`decide`'s).
    """
    if v.score is not None and not valid_score(v.score):
        v = replace(v, score=None)  # never on the wire (a second check after the decision's)
    if v.reason is Reason.OK and v.score is None:
        v = replace(v, reason=Reason.ERROR, detail="a pass without a valid score is never published")
    if now_mono - v.captured_mono > deadline_s:
        v = replace(v, reason=Reason.LATE, detail=f"{v.reason.value} after deadline: {v.detail}")
    return v


class DecisionStage:
    """Handler: turns each scored part into exactly one :class:`Verdict`."""

    def __init__(self, info: ModelInfo, metrics: Metrics) -> None:
        self.info = info
        self.metrics = metrics

    def __call__(self, scored: Scored) -> list[Verdict]:
        part = scored.crop.part
        info = scored.model or self.info  # the model that scored this part decides it
        try:
            reason, detail = decide(scored, info.band)
        except Exception as exc:  # never lose the part: reject it
            self.metrics.part_errors.labels(stage=StageName.DECISION).inc()
            log.error("part_error", stage=StageName.DECISION.value, part_id=part.part_id, error=f"{type(exc).__name__}: {exc}")
            reason, detail = Reason.ERROR, f"decision: {type(exc).__name__}: {exc}"
        cause = unable_cause(scored) if reason is Reason.UNABLE else None
        if cause is not None:
            self.metrics.parts_unable.labels(cause=cause.value).inc()
        pre = scored.crop.pre
        circle = pre.circle if pre is not None else None
        shown = scored.evidence if reason in (Reason.DEFECT, Reason.UNCERTAIN) and circle is not None else None
        where = self._where(shown, circle, part.part_id)
        return [
            Verdict(
                part_id=part.part_id,
                frame=part.frame.index,
                reason=reason,
                score=published(scored.score),
                detail=detail,
                captured_at=part.frame.captured_wall,
                captured_mono=part.frame.captured_mono,
                circle=circle,
                name=part.frame.name,
                image=part.frame.image,
                model_id=info.model_id,
                where=where,
                evidence=shown,
                blob=part.blob,
                seen=part.seen,
                cause=cause,
            )
        ]

    def _where(self, shown: Evidence | None, circle: Circle | None, part_id: int) -> tuple[float, float] | None:
        """Where the evidence points on the frame. A map from a broken graph that cannot say (an empty one) points nowhere:
        the part, rejected whatever, still gets its one verdict (it once ended the stage, and the part had none)."""
        if shown is None or circle is None:
            return None
        try:
            return shown.where(circle)
        except Exception as exc:
            self.metrics.part_errors.labels(stage=StageName.DECISION).inc()
            log.error("evidence_unreadable", stage="decision", part_id=part_id, error=f"{type(exc).__name__}: {exc}"[:200])
            return None
