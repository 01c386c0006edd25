"""Shadow stage: a candidate model judges every part beside the active one, and changes nothing.

Between the decision and the publish stage. For each part the active model scored, the shadow
model (``model.shadow``, in a :class:`ShadowSlot`, swapped by a reload like the active one)
scores the same crop, or the same part cropped with its own preprocessing when that differs
(a taught model rectifies tilted parts), and :func:`decide` judges it with the shadow model's own
threshold and band. The verdict gets ``shadow``: exactly what that model would have published
alone on the part. The active verdict is never changed, delayed past its deadline, or added to:

- a part the active model did not score (not inspectable, an error) gets no shadow;
- the shadow's work is skipped (and counted) when the part's time left before its deadline is
  less than twice the longest recent shadow run; a shadow that raises is the shadow's ``error``.

The shadow's own inference time is added to each part's capture-to-publish latency (see
docs/benchmarks.md). Disagreements are counted where the verdict is published.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace

import structlog

from station.messages import Crop, Failure, Reason, Scored, ShadowVerdict, StageName, Verdict
from station.metrics import Metrics
from station.model import Model
from station.reload import ShadowSlot
from station.stages.decision import decide, valid_score
from station.stages.preprocess import crop_part

log = structlog.get_logger()
RECENT = 32  # shadow runs whose longest sets the time a part must have left


class ShadowStage:
    """Handler: one decided verdict in, the same verdict (with ``shadow`` when it ran) out."""

    def __init__(self, slot: ShadowSlot, metrics: Metrics, deadline_s: float) -> None:
        self.slot = slot
        self.metrics = metrics
        self.deadline_s = deadline_s
        self._took: deque[float] = deque(maxlen=RECENT)

    def __call__(self, v: Verdict) -> list[Verdict]:
        model, crop = self.slot.current, v.crop
        if model is None or crop is None or v.score is None:  # the active model did not score the part
            return [replace(v, crop=None)]
        left = self.deadline_s - (time.monotonic() - v.captured_mono)
        if left < 2.0 * max(self._took, default=0.0):
            self.metrics.shadow_skipped.inc()
            log.warning("shadow_skipped", stage="shadow", part_id=v.part_id, left_ms=round(left * 1000, 1))
            return [replace(v, crop=None)]
        t0 = time.perf_counter()
        shadow = self.judge(model, crop)
        self._took.append(time.perf_counter() - t0)
        return [replace(v, shadow=shadow, crop=None)]

    def judge(self, model: Model, crop: Crop) -> ShadowVerdict:
        """What ``model`` would publish alone on the part in ``crop``; never raises."""
        info = model.info
        same = crop.model is not None and crop.model.info.spec == info.spec
        mine = crop if same else crop_part(crop.part, info.spec, model, self.metrics, StageName.SHADOW)
        try:
            if mine.failure is not None or mine.pre is None or mine.pre.crop is None:
                scored = Scored(mine, None, mine.failure, info)
            else:
                raw = float(model.score(mine.pre.crop[None])[0])
                why = None if valid_score(raw) else Failure(Reason.ERROR, f"shadow: the model gave {raw!r}")
                scored = Scored(mine, raw if why is None else None, why, info)
            reason, _ = decide(scored, info.threshold, info.band)
        except Exception as exc:  # the shadow's failure is its own verdict; the active one is untouched
            self.metrics.part_errors.labels(stage=StageName.SHADOW).inc()
            log.error("part_error", stage="shadow", part_id=crop.part.part_id, error=f"{type(exc).__name__}: {exc}")
            return ShadowVerdict(verdict="reject", reason=Reason.ERROR, score=None, model=info.model_id)
        s = scored.score
        score = round(s, 6) if s is not None and valid_score(s) else None
        return ShadowVerdict(verdict="pass" if reason is Reason.OK else "reject", reason=reason, score=score, model=info.model_id)
