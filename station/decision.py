"""Decision: pass only a part positively inspected as OK; everything else rejects with a reason."""

from __future__ import annotations

import math

import structlog

from station.messages import Reason, Scored, Verdict
from station.metrics import Metrics
from station.model import ModelInfo
from station.preprocess import Quality

log = structlog.get_logger()


def valid_score(s: float) -> bool:
    """A score the decision may judge: a finite number in [0, 1]. Anything else is never a pass."""
    return math.isfinite(s) and 0.0 <= s <= 1.0


def decide(scored: Scored, threshold: float, band: tuple[float, float]) -> tuple[Reason, str]:
    """The reason for one part's verdict, and a short detail for the log and the archive."""
    crop = scored.crop
    part = crop.part
    if part.failure is not None:
        return part.failure_reason or Reason.UNABLE, part.failure
    error = crop.error or scored.error
    if error is not None:
        return Reason.ERROR, error
    if crop.pre is None or crop.pre.quality is not Quality.OK:
        return Reason.UNABLE, crop.pre.quality.value if crop.pre is not None else "not preprocessed"
    if scored.score is None:
        return Reason.ERROR, "no score"
    s = scored.score
    if not valid_score(s):
        return Reason.ERROR, f"score {s!r} is not a finite number in [0, 1]"
    if band[0] <= s <= band[1]:
        return Reason.UNCERTAIN, f"score {s:.3f} within uncertain band [{band[0]:.3f}, {band[1]:.3f}]"
    if s > threshold:
        return Reason.DEFECT, f"score {s:.3f} above threshold {threshold:.3f}"
    return Reason.OK, f"score {s:.3f} below threshold {threshold:.3f}"


class DecisionStage:
    """Handler: turns each scored part into exactly one :class:`Verdict`."""

    def __init__(self, info: ModelInfo, metrics: Metrics) -> None:
        self.info = info
        self.metrics = metrics

    def __call__(self, scored: Scored) -> list[Verdict]:
        part = scored.crop.part
        info = scored.model or self.info  # the model that scored this part decides it
        try:
            reason, detail = decide(scored, info.threshold, info.band)
        except Exception as exc:  # never lose the part: reject it
            self.metrics.part_errors.labels(stage="decision").inc()
            reason, detail = Reason.ERROR, f"decision: {type(exc).__name__}: {exc}"
        pre = scored.crop.pre
        return [
            Verdict(
                part_id=part.part_id,
                frame=part.frame.index,
                verdict="pass" if reason is Reason.OK else "reject",
                reason=reason,
                score=round(scored.score, 6) if scored.score is not None and valid_score(scored.score) else None,
                detail=detail,
                captured_at=part.frame.captured_wall,
                captured_mono=part.frame.captured_mono,
                circle=pre.circle if pre is not None else None,
                name=part.frame.name,
                image=part.frame.image,
                model_id=info.model_id,
            )
        ]
