"""A part's score: what a valid one is, how a verdict carries it, and the one pass rule the line and teaching share."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt


def valid_score(s: float) -> bool:
    """A score the decision may judge: a finite number in [0, 1]. Anything else is never a pass."""
    return math.isfinite(s) and 0.0 <= s <= 1.0


SCORE_DIGITS = 6  # a score as the wire and the archive carry it; the decision judges that same number


def published(score: float | None) -> float | None:
    """A score as a verdict carries it: rounded to SCORE_DIGITS, or None when it is no valid score (never on the wire)."""
    return round(score, SCORE_DIGITS) if score is not None and valid_score(score) else None


def passes(score: float, pass_limit: float) -> bool:
    """The one pass rule, the line's and teaching's: a valid score whose published value (:func:`published`) lies under the
    pass limit. A score a hair under the limit that rounds onto it does not pass, so no pass is published at its limit."""
    return valid_score(score) and round(score, SCORE_DIGITS) < pass_limit


def passing(scores: npt.NDArray[np.floating[Any]], limit: float | npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which parts pass at ``limit`` (one, or each part's own), by the station's own rule (:func:`passes`: the
    score as published, rounded to a millionth); a score that is not a number never passes."""
    limits = np.broadcast_to(np.asarray(limit, np.float64), np.shape(scores))
    return np.array([passes(float(s), float(at)) for s, at in zip(scores, limits, strict=True)], bool)
