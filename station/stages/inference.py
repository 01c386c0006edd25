"""Inference stage: one ONNX Runtime run per inspectable part.

Each inspectable crop is first offered to ``shadow`` (the shadow stage's ``submit``), so that a
shadow model scores it on the other core while the active model does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from station.messages import Crop, Failure, Reason, Scored, ShadowSkip, StageName
from station.metrics import Metrics
from station.model import Model
from station.preprocess import Quality
from station.reload import ModelSlot
from station.score import valid_score

log = structlog.get_logger()


class InferenceStage:
    """Handler: scores a crop; parts that cannot be inspected pass through unscored."""

    def __init__(self, model: Model | ModelSlot, metrics: Metrics, shadow: Callable[[Crop], None] | None = None) -> None:
        self.slot = model if isinstance(model, ModelSlot) else ModelSlot(model)
        self.metrics = metrics
        self.shadow = shadow

    def __call__(self, crop: Crop) -> list[Scored]:
        model = crop.model or self.slot.current  # the model it was cropped for: a reload takes effect between two parts
        if crop.failure is not None or crop.pre is None or crop.pre.crop is None or crop.pre.quality is not Quality.OK:
            return [Scored(crop, None, crop.failure, model.info)]
        if self.shadow is not None:
            try:
                self.shadow(crop)
            except Exception as exc:  # the shadow's trouble never costs the live part
                self.metrics.shadow_skipped.labels(cause=ShadowSkip.FAILED.value).inc()
                log.error("shadow_submit_failed", stage="inference", part_id=crop.part.part_id, error=f"{type(exc).__name__}: {exc}")
        try:
            t0 = time.perf_counter()
            scores, evidence = model.score_with_evidence(crop.pre.crop[None])
            score = float(scores[0])
            self.metrics.inference_seconds.observe(time.perf_counter() - t0)
            if not valid_score(score):  # NaN, inf or outside [0, 1]: never a pass, never in the score histogram
                self.metrics.invalid_scores.inc()
                log.error("invalid_score", stage="inference", part_id=crop.part.part_id, score=repr(score), model=model.info.model_id)
                why = f"inference: the model gave {score!r}, not a finite score in [0, 1]"
                return [Scored(crop, None, Failure(Reason.ERROR, why), model.info)]
            self.metrics.score.observe(score)
            return [Scored(crop, score, model=model.info, evidence=evidence[0] if evidence else None)]
        except Exception as exc:  # rejected as error, the line goes on
            self.metrics.part_errors.labels(stage=StageName.INFERENCE).inc()
            log.error("part_error", stage="inference", part_id=crop.part.part_id, error=f"{type(exc).__name__}: {exc}")
            return [Scored(crop, None, Failure(Reason.ERROR, f"inference: {type(exc).__name__}: {exc}"), model.info)]
