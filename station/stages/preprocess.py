"""Preprocess stage: find the part in its frame (or in the trigger's region) and crop it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import structlog

from station.locate import Circle
from station.messages import Crop, Failure, Part, Reason, StageName
from station.metrics import Metrics
from station.model import Model
from station.preprocess import Preprocessed, PreprocessSpec, Quality, preprocess, warm_up
from station.reload import ModelSlot

log = structlog.get_logger()
MIN_RADIUS_OF_BLOB = 0.8  # the rim is 0.9-1.0 of the blob's half size (a fixture ring adds the rest); inner rings ~0.6


def _isolate(image: np.ndarray, blob: tuple[float, float, float], belt_level: float | None) -> tuple[np.ndarray, int, int]:
    """A square of 1.3 diameters around the trigger's blob, outside the part's disc painted belt grey."""
    bx, by, size = blob
    half = int(size * 1.3) // 2
    h, w = image.shape
    x0, y0 = max(0, int(bx) - half), max(0, int(by) - half)
    roi = image[y0 : min(h, int(by) + half), x0 : min(w, int(bx) + half)].copy()
    if belt_level is not None:
        yy, xx = np.ogrid[: roi.shape[0], : roi.shape[1]]
        r = size / 2.0 * 1.12
        roi[(xx - (bx - x0)) ** 2 + (yy - (by - y0)) ** 2 > r * r] = int(belt_level)
    return roi, x0, y0


def preprocess_part(part: Part, spec: PreprocessSpec, found: Circle | None = None) -> Preprocessed:
    """One part preprocessed where it is: found in its frame (or in the trigger's blob), checked and cropped as ``spec``
    says; circle in frame pixels. ``found``: the circle another model's preprocessing found for this part (frame pixels;
    see :func:`preprocess`).

    A part cut off by the square round its blob but not by the frame is looked for again in a square round the circle
    found: under a shadow over a wide sector (down to the belt's level) the blob is the lit part of the part alone, off
    its centre and smaller (180 px across where the part was 233), and the part reached past the square."""
    return located(part, spec, found)[0]


def located(part: Part, spec: PreprocessSpec, found: Circle | None = None) -> tuple[Preprocessed, np.ndarray, tuple[int, int]]:
    """:func:`preprocess_part`, with the pixels it cropped the part from (the trigger's cut-out, painted outside the blob,
    or the whole frame) and where they lie in the frame: teaching crops a footage part from exactly these."""
    image = part.frame.image
    if part.blob is None:
        return preprocess(image, spec, found=found), image, (0, 0)
    pre, roi, at = _in_region(image, part.blob, part.belt_level, spec, found)
    c = pre.circle
    if pre.quality is Quality.CUT_OFF and c is not None and c.inside(image.shape[1], image.shape[0], spec.cut_off_tolerance):
        pre, roi, at = _in_region(image, (c.cx, c.cy, 2.0 * c.r), part.belt_level, spec, found)
    if pre.circle is None:
        return pre, roi, at
    # an inner ring taken for the rim would crop away the rim, where burrs and flash are:
    # the trigger's blob says how big the part is, so such a crop is never inspected
    ok = pre.circle.r >= MIN_RADIUS_OF_BLOB * part.blob[2] / 2.0
    return (pre if ok else replace(pre, quality=Quality.OUTLINE_MISMATCH, crop=None)), roi, at


def _in_region(image: np.ndarray, blob: tuple[float, float, float], belt: float | None, spec: PreprocessSpec,
               found: Circle | None) -> tuple[Preprocessed, np.ndarray, tuple[int, int]]:  # fmt: skip
    """:func:`preprocess` in the square :func:`_isolate` cuts round ``blob``; the circle in frame pixels; that square, and
    where it lies in the frame."""
    roi, x0, y0 = _isolate(image, blob, belt)
    pre = preprocess(roi, spec, found=None if found is None else replace(found, cx=found.cx - x0, cy=found.cy - y0))
    if pre.circle is not None:
        pre = replace(pre, circle=replace(pre.circle, cx=pre.circle.cx + x0, cy=pre.circle.cy + y0))
    return pre, roi, (x0, y0)


def crop_part(
    part: Part, spec: PreprocessSpec, model: Model | None, metrics: Metrics, stage: StageName, found: Circle | None = None
) -> Crop:
    """One part as a :class:`Crop` for ``model`` (its failure set when it cannot be inspected); never raises.
    ``found``: the circle another model's preprocessing found for it (see :func:`preprocess_part`)."""
    if part.failure is not None:
        return Crop(part, None, part.failure, model)
    try:
        pre = preprocess_part(part, spec, found)
    except Exception as exc:  # one bad part must not stop the line: it is rejected as error
        metrics.part_errors.labels(stage=stage).inc()
        log.error("part_error", stage=stage.value, part_id=part.part_id, error=f"{type(exc).__name__}: {exc}")
        return Crop(part, None, Failure(Reason.ERROR, f"{stage.value}: {type(exc).__name__}: {exc}"), model)
    if pre.quality is not Quality.OK:
        return Crop(part, pre, Failure(Reason.UNABLE, pre.quality.value, pre.quality), model)
    if pre.crop is None:  # never so from preprocess: an ok part's cause would be "ok", which a Failure refuses (it raised)
        return Crop(part, pre, Failure(Reason.ERROR, f"{stage.value}: a part judged ok without a crop"), model)
    return Crop(part, pre, None, model)


class PreprocessStage:
    """Handler for the preprocess stage; one part in, one :class:`Crop` out, never an exception.

    Given the model slot, each part is cropped with the preprocessing of the model in the slot at
    that moment, and carries that model on to be scored by it: a reload to a model with other
    preprocessing (a taught model rectifies tilted parts) takes effect between two parts.
    """

    def __init__(self, models: ModelSlot | PreprocessSpec, metrics: Metrics) -> None:
        self.models = models
        self.metrics = metrics
        warm_up(models if isinstance(models, PreprocessSpec) else models.current.info.spec)  # the first part must not be the slow one

    def __call__(self, part: Part) -> list[Crop]:
        model = self.models.current if isinstance(self.models, ModelSlot) else None
        spec = model.info.spec if model is not None else self.models
        assert isinstance(spec, PreprocessSpec)
        crop = crop_part(part, spec, model, self.metrics, StageName.PREPROCESS)
        if crop.pre is not None:
            self.metrics.brightness.set(crop.pre.brightness)
            self.metrics.sharpness.set(crop.pre.sharpness)
            self.metrics.clipped.set(crop.pre.clipped)
        return [crop]
