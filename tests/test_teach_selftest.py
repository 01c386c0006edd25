"""station/teach/selftest.py: which crops a taught model carries for the model gate."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from station.errors import ModelError
from station.preprocess import PreprocessSpec
from station.teach.selftest import SELF_TEST_PER_CLASS, self_test_meta

SPEC = PreprocessSpec(size=32, margin=0.16, mask_radius=1.12)


def _line(n: int = 40) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``n`` good and ``n`` defective crops, scored in order within each class; a crop's grey level is its rank in its class."""
    labels = np.array([0] * n + [1] * n, np.int64)
    scores = np.concatenate([np.linspace(0.001, 0.05, n), np.linspace(0.02, 0.99, n)])
    crops = np.stack([np.full((32, 32), -3.9 + 0.15 * (k % n), np.float32) for k in range(2 * n)])
    return crops, labels, scores


def _rank(png: str) -> int:
    """Which crop of its class a stored crop is, from its grey level (stored over +-clip as 0-255)."""
    grey = cv2.imdecode(np.frombuffer(base64.b64decode(png), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert grey is not None
    return round((float(grey.mean()) / 255 * 2 * SPEC.clip - SPEC.clip + 3.9) / 0.15)


def test_no_defective_crop_the_model_passes_or_nearly_passes_is_stored_and_the_nearest_clear_ones_are() -> None:
    crops, labels, scores = _line()
    limit = 0.2
    meta = json.loads(self_test_meta(crops, labels, SPEC, 3, (), scores, limit))
    assert meta["labels"].count(0) == meta["labels"].count(1) == SELF_TEST_PER_CLASS
    stored = [k for k, label in enumerate(meta["labels"]) if label == 1]
    clear = np.flatnonzero((labels == 1) & (np.log(scores / (1 - scores)) - np.log(limit / (1 - limit)) >= 0.05))
    again = json.loads(self_test_meta(crops, labels, SPEC, 3, (), scores, limit))
    assert again == meta  # the same for a seed
    nearest = sorted(clear, key=lambda i: scores[i])[: SELF_TEST_PER_CLASS // 2]
    picked = [40 + _rank(meta["crops"][k]) for k in stored]
    assert set(picked) <= set(clear.tolist())  # never a defect the model passes, nor one a hair above its limit
    assert picked[: len(nearest)] == nearest  # the half nearest the limit first: a limit raised past any of them is refused


def test_a_model_that_rejects_too_few_defects_clear_of_its_limit_for_the_gate_is_refused_with_why() -> None:
    crops, labels, scores = _line(12)
    with pytest.raises(ModelError, match=r"rejects only \d of its 12 defective parts clear of its pass limit.*more defective parts"):
        self_test_meta(crops, labels, SPEC, 3, (), scores, 0.8)
