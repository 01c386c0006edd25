"""A part's score: what a valid one is, how a verdict carries it, and the one pass rule the line and teaching share."""

from __future__ import annotations

import math


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
