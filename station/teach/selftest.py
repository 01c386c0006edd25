"""The self-test a taught model file carries: crops of its own line, with their labels, that the station's model gate
judges it on (station.gate), and for one part of each class the pixels its crop is remade from."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from station.gate import REJECTED, TAUGHT_PER_CLASS
from station.model import META_SELF_TEST, Model
from station.preprocess import PreprocessSpec, crop_square, dequantised, part_region, quantised
from station.teach import threshold
from station.teach.parts import Sample

if TYPE_CHECKING:
    from station.teach.candidates import Candidate

SELF_TEST_PER_CLASS = 16
CLEAR = 0.05  # log-odds: a stored defective crop's least clearance above the limit, scored as stored (batch and single differ far less)


def _png(image: npt.NDArray[np.uint8]) -> str:
    return base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()


def stored(crops: npt.NDArray[np.float32], clip: float) -> npt.NDArray[np.float32]:
    """The crops as the model gate will read them back from the self-test: quantised to grey levels over +-clip."""
    return np.stack([dequantised(quantised(c, clip), clip) for c in crops]).astype(np.float32)


def clear_defects(labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], limit: float) -> npt.NDArray[np.int64]:
    """The defective parts a model rejects at least CLEAR log-odds above its pass ``limit`` (``scores``: its scores of them
    as :func:`stored`), nearest the limit first: the only defective crops its self-test may carry."""
    clear = np.flatnonzero((labels == 1) & (threshold.above(scores, limit) >= CLEAR))
    return np.asarray(clear[np.argsort(scores[clear], kind="stable")], np.int64)


def self_test_meta(crops: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], spec: PreprocessSpec, seed: int,
                   parts: Sequence[Sample], clear: npt.NDArray[np.int64]) -> str:  # fmt: skip
    """Up to SELF_TEST_PER_CLASS crops of each class as PNG (grey levels over +-clip), for the model gate.

    The good crops are drawn at random. The defective ones from ``clear`` (:func:`clear_defects`), the half nearest the
    limit first: the gate refuses a taught model that passes any of them (the self-test says so: ``REJECTED``), so a pass
    limit raised past them is refused, and no crop the model itself lets through (within the escapes a gate allowed) is
    stored as one it must reject.

    With ``parts`` (the samples the crops were made from), the first crop of each class also keeps
    the pixels it was cut from, its circle (``station.preprocess.part_region``) and its square crop
    before normalisation: the gate remakes that crop with the model's own preprocessing, so a file
    whose crop settings were changed is refused.
    """
    if len(clear) < TAUGHT_PER_CLASS:
        raise ValueError(f"{len(clear)} defective crops clear of the limit, fewer than the gate's {TAUGHT_PER_CLASS}")
    rng = np.random.default_rng(seed)
    good = rng.permutation(np.flatnonzero(labels == 0))[:SELF_TEST_PER_CLASS]
    nearest = clear[: SELF_TEST_PER_CLASS // 2]
    rest = rng.permutation(clear[SELF_TEST_PER_CLASS // 2 :])[: SELF_TEST_PER_CLASS - len(nearest)]
    picked = [int(i) for i in (*good, *nearest, *rest)]
    pngs = [_png(quantised(crops[i], spec.clip)) for i in picked]
    remade = []
    for k in sorted({next(k for k, i in enumerate(picked) if labels[i] == cls) for cls in (0, 1)} if parts else ()):
        part = parts[picked[k]]
        region, circle = part_region(part.image, part.circle, spec)
        remade.append({"crop": k, "image": _png(region), "circle": [circle.cx, circle.cy, circle.r, circle.squash, circle.axis],
                       "square": _png(crop_square(part.image, part.circle, spec))})  # fmt: skip
    labelled = [int(labels[i]) for i in picked]
    return json.dumps({"clip": spec.clip, "labels": labelled, "crops": pngs, "parts": remade, REJECTED: True})


def too_few_clear(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], limit: float) -> str:
    """Why a model scoring its stored crops ``scores`` can carry no self-test (fewer than the gate's TAUGHT_PER_CLASS defective
    parts rejected clear of its pass ``limit``), or ""."""
    n_clear = len(clear_defects(labels, scores, limit))
    if n_clear >= TAUGHT_PER_CLASS:
        return ""
    return (f"it rejects only {n_clear} of its {int(np.sum(labels == 1))} defective parts clear of its pass limit, and the "
            f"model gate checks a taught model on {TAUGHT_PER_CLASS} at least: teach with more defective parts, or a gate that "
            "lets fewer pass (--max-escape-rate)")  # fmt: skip


def add_self_test(path: Path, pick: Candidate, labels: npt.NDArray[np.int64], seed: int) -> str:
    """Give the model file at ``path`` its self-test: crops of the line's parts, the defective ones among those the file itself
    rejects clear of its limit, scored as the gate will read them (quantised, by ONNX Runtime); or why it cannot have one."""
    from station.teach.weights import relabel

    scores = Model(path).score(stored(pick.crops, pick.spec.clip)).astype(np.float64)
    if short := too_few_clear(scores, labels, pick.band[0]):
        return short
    clear = clear_defects(labels, scores, pick.band[0])
    relabel(path, path, pick.threshold, pick.band, {META_SELF_TEST: self_test_meta(pick.crops, labels, pick.spec, seed, pick.parts, clear)})
    return ""
