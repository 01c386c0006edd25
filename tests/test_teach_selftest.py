"""station/teach/selftest.py: which crops a taught model carries for the model gate."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from station.gate import REJECTED
from station.preprocess import PreprocessSpec, dequantised, quantised
from station.teach.selftest import CLEAR, SELF_TEST_PER_CLASS, clear_defects, self_test_meta, stored

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


def test_the_defects_clear_of_the_limit_are_those_rejected_by_a_margin_nearest_first() -> None:
    _crops, labels, scores = _line()
    limit = 0.2
    clear = clear_defects(labels, scores, limit)
    above = np.log(scores / (1 - scores)) - np.log(limit / (1 - limit))
    assert set(clear.tolist()) == set(np.flatnonzero((labels == 1) & (above >= CLEAR)).tolist())  # never one it passes, nor one a hair over
    assert scores[clear].tolist() == sorted(scores[clear].tolist()) and scores[clear[0]] > limit


def test_the_stored_defects_are_the_nearest_clear_ones_then_others_clear_and_the_self_test_says_so() -> None:
    crops, labels, scores = _line()
    clear = clear_defects(labels, scores, 0.2)
    meta = json.loads(self_test_meta(crops, labels, SPEC, 3, (), clear))
    assert meta[REJECTED] is True and meta["labels"].count(0) == meta["labels"].count(1) == SELF_TEST_PER_CLASS
    picked = [40 + _rank(png) for png, label in zip(meta["crops"], meta["labels"], strict=True) if label == 1]
    half = SELF_TEST_PER_CLASS // 2
    assert picked[:half] == clear[:half].tolist() and set(picked) <= set(clear.tolist())
    assert json.loads(self_test_meta(crops, labels, SPEC, 3, (), clear)) == meta  # the same for a seed


def test_a_self_test_is_never_made_from_fewer_clear_defects_than_the_gate_asks_for() -> None:
    crops, labels, scores = _line(12)
    with pytest.raises(ValueError, match="fewer than the gate's 8"):
        self_test_meta(crops, labels, SPEC, 3, (), clear_defects(labels, scores, 0.8))


def test_crops_are_scored_as_the_gate_reads_them_back_from_the_file() -> None:
    crops = np.random.default_rng(0).normal(0, 2, (3, 32, 32)).astype(np.float32)
    back = stored(crops, SPEC.clip)
    assert all(np.array_equal(b, dequantised(quantised(c, SPEC.clip), SPEC.clip)) for b, c in zip(back, crops, strict=True))
    assert 0 < float(np.abs(back - np.clip(crops, -SPEC.clip, SPEC.clip)).max()) <= SPEC.clip / 255 + 1e-6  # rounded, as the PNG keeps it
