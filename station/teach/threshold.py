"""The operating point and the qualification gate, from held-out scores only (numpy; no PyTorch).

Teaching cross-fits: the line's parts are split into K folds by part group (photos of one part
stay together), K networks each learn from the other folds and score their own, so every part has
a score from a network that never saw it (its held-out score). The threshold comes from the
held-out scores, never from scores of parts a network trained on.

The rule (:func:`pass_limit`): no held-out defective part may pass, with a safety margin; the
pass limit is the lowest held-out defect score, lowered by ``margin`` in log-odds, or to the middle
of the gap below it when that is lower. Unless that limit would reject more of the held-out good
parts than the gate allows: a defect the network cannot see (scored like the good parts, or lower)
would set the limit under every good part. Then the limit is the lowest that rejects at most the
share of good parts the gate allows (with the same margin upwards, but never past a defect), and
the gate judges the defects it lets pass: with the default gate (no escape) such a line is
refused, and the report shows the defects that would pass. Only defects scored below good parts
the gate lets pass can pass. Scores from the limit up to ``margin`` log-odds above it (at most
0.999) are ``uncertain``, above that ``defect``; both reject. Every part is judged by the line's own pass
rule (:func:`passing`: the score as published, rounded to a millionth). The gate (:func:`short_of`, on the figures
:func:`fold_limits` sets) judges the rule honestly: for each fold, the limit set on the *other* folds' held-out scores
is applied to this fold's, so no part is judged by a limit its own score set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from station.score import SCORE_DIGITS, passing

MAX_LIMIT = 0.99  # a line's pass limit is never set higher, whatever its held-out scores (its band reaches at most 0.999)
GRID: int = 10**SCORE_DIGITS  # a pass limit and a band are kept in millionths, as a score is published (SCORE_DIGITS)

Scores = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
MARGIN = 1.0  # log-odds below the lowest held-out defect score; measured in docs/teaching-measured.md
MOST_MARGIN = 20.0  # --margin's upper bound: scores are kept to 1e-6 (13.8 log-odds from 0.5), so more moves nothing
MIN_PER_CLASS = 12
ADVISED = 100  # parts of each kind for figures a line can trust (docs/commissioning.md, section 1)
FOLDS = 4  # cross-fitting folds: each network learns from three quarters of the line (8 measured: docs/teaching-measured.md)
CONFIDENCE = 0.95  # of the upper bounds the report gives beside each held-out rate


def folds(groups: Ints, labels: Ints, k: int, seed: int) -> Ints:
    """A fold id per part: whole groups to a fold, each class spread evenly over the folds.

    Largest groups first (in random order among equals), each to the fold of that class with the
    fewest parts so far: the folds' sizes differ by at most the largest group.
    """
    rng = np.random.default_rng(seed)
    fold = np.full(len(groups), -1, np.int64)
    for cls in (0, 1):
        ids = np.unique(groups[labels == cls])
        rng.shuffle(ids)
        members_of = np.array([int(np.sum((groups == g) & (labels == cls))) for g in ids], np.int64)
        ids = ids[np.argsort(-members_of, kind="stable")]
        sizes = np.zeros(min(k, max(len(ids), 1)), np.int64)  # a fold per group at most: --folds 10**12 takes no memory
        for g in ids:
            members = (groups == g) & (fold < 0)
            f = int(np.argmin(sizes))
            fold[members] = f
            sizes[f] += int(members.sum())
    return fold


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    if x < 0:  # exp of a large positive number overflows
        e = math.exp(x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(-x))


def pass_limit(scores: Scores, labels: Ints, margin: float = MARGIN, most_rejected: float = 1.0) -> float:
    """A part passes when its score is below this (see the module's docstring).

    Below the lowest defect score by ``margin`` in log-odds, and never above the middle of the gap
    between it and the highest good part below it: where the classes are far apart, the limit sits
    between them. When that limit rejects more than ``most_rejected`` of the good parts, the limit
    instead rejects at most that share: ``margin`` above the highest good part that must pass, and
    never above the middle of the gap to the next good part or defect up. Scores must be finite.
    """
    defects, good = scores[labels == 1], np.sort(scores[labels == 0])[::-1]
    if not len(defects):
        return 0.5
    top = float(defects.min())
    below = good[good < top]
    limit = _sigmoid(_logit(top) - margin)
    limit = min(limit, (top + float(below.max())) / 2) if len(below) else limit
    allowed = math.floor(most_rejected * len(good) + 1e-9)  # good parts that may be rejected
    if allowed >= len(good) or float(np.sum(good >= limit)) <= allowed:
        return limit
    must_pass = float(good[allowed])  # the highest good part that must pass
    raised = _sigmoid(_logit(must_pass) + margin)
    if allowed:
        raised = min(raised, (must_pass + float(good[allowed - 1])) / 2)
    above = defects[defects > must_pass]
    if len(above):  # no defect passes that the allowance does not make pass
        raised = min(raised, (must_pass + float(above.min())) / 2)
    return max(raised, (round(round(must_pass, SCORE_DIGITS) * GRID) + 1) / GRID)  # above it as published, on the file's grid


def _micro_down(x: float) -> int:
    """``x`` in millionths, rounded down; a float a hair under a millionth (0.52426 * 1e6 = 524259.99...) is that millionth."""
    return math.floor(round(x * GRID, 3))


def operating_point(scores: Scores, labels: Ints, margin: float = MARGIN, most_rejected: float = 1.0) -> tuple[float, tuple[float, float]]:
    """(threshold, uncertain band) for the station: pass below the band, uncertain in it, defect above.

    The band's lower edge is the pass limit as written in the model file (rounded down, never
    above the limit): the honest figures judge with exactly this number. Its upper edge lies
    ``margin`` log-odds above it: the scores that nearly passed, as :func:`near_limit` counts them
    (before 2026-12-07 it was 0.5, whatever the line: no band at all where the limit was above).
    """
    return banded(min(_micro_down(pass_limit(scores, labels, margin, most_rejected)) / GRID, MAX_LIMIT), margin)


def banded(lo: float, margin: float = MARGIN) -> tuple[float, tuple[float, float]]:
    """(threshold, uncertain band) for pass limit ``lo``: the band reaches ``margin`` log-odds above it, at most 0.999."""
    hi = max(lo, min(_micro_down(_sigmoid(_logit(lo) + margin)) / GRID, 0.999))
    return round(hi, SCORE_DIGITS), (round(lo, SCORE_DIGITS), round(hi, SCORE_DIGITS))


def above(scores: Scores, limit: float) -> npt.NDArray[np.float64]:
    """How far each score lies above ``limit`` in log-odds (below it: negative)."""
    p = np.clip(scores, 1e-6, 1 - 1e-6)  # as _logit clips one score
    return np.asarray(np.log(p / (1 - p)) - _logit(limit), np.float64)


def _from_limit(scores: Scores, limit: float) -> npt.NDArray[np.float64]:
    """Each score's distance from ``limit`` in log-odds, on either side."""
    return np.abs(above(scores, limit))


def near_limit(scores: Scores, limit: float, margin: float = MARGIN) -> int:
    """How many scores lie within ``margin`` log-odds of ``limit``, on either side: the parts it nearly judged otherwise."""
    return int(np.sum(_from_limit(scores, limit) < margin))


def clearance(scores: Scores, limit: float) -> float:
    """The distance in log-odds from ``limit`` of the score nearest it: how far the closest part was from being judged otherwise."""
    return float(np.min(_from_limit(scores, limit))) if len(scores) else 0.0


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def upper_bound(failures: int, trials: int, confidence: float = CONFIDENCE) -> float:
    """The highest rate that could still show as few as ``failures`` in ``trials``, at ``confidence`` (Clopper-Pearson).

    0 of n gives 1 - (1 - confidence) ** (1 / n): 0 escapes in 41 held-out defects shows only that
    fewer than 7 % of the line's defects would pass; showing fewer than 1 % takes 299 with none passing
    (:func:`parts_to_show`).
    """
    if trials <= 0 or failures >= trials:
        return 1.0

    def at_most(p: float) -> float:  # P(X <= failures) for X ~ Binomial(trials, p)
        return sum(math.exp(_log_choose(trials, i) + i * math.log(p) + (trials - i) * math.log1p(-p)) for i in range(failures + 1))

    lo, hi = failures / trials, 1.0
    for _ in range(60):  # at_most falls as p rises: bisect for at_most(p) == 1 - confidence
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at_most(mid) > 1 - confidence else (lo, mid)
    return hi


def parts_to_show(rate: float, confidence: float = CONFIDENCE) -> int:
    """How many parts of a kind, none of them wrong, show at ``confidence`` that fewer than ``rate`` would be."""
    return math.ceil(math.log(1 - confidence) / math.log1p(-rate))


@dataclass(frozen=True)
class Outcome:
    """Reject decisions against labels: what the line would have seen."""

    parts: int
    defective: int
    escapes: int
    false_rejects: int

    @property
    def good(self) -> int:
        return self.parts - self.defective

    @property
    def escape_rate(self) -> float:
        return self.escapes / max(self.defective, 1)

    @property
    def false_reject_rate(self) -> float:
        return self.false_rejects / max(self.good, 1)

    @property
    def rejects_every_good_part(self) -> bool:
        """No model, whatever a gate allows: it rejects every part."""
        return self.good > 0 and self.false_rejects == self.good

    def bounds(self) -> tuple[float, float]:
        """Upper bounds at CONFIDENCE on the line's escape and false-reject rates that these counts show."""
        return upper_bound(self.escapes, self.defective), upper_bound(self.false_rejects, self.good)

    def as_dict(self) -> dict[str, float]:
        esc, fr = self.bounds()
        upper = f"_upper_{CONFIDENCE * 100:.0f}"
        return {"parts": self.parts, "defective": self.defective, "escapes": self.escapes, "false_rejects": self.false_rejects,
                "escape_rate": round(self.escape_rate, 4), "false_reject_rate": round(self.false_reject_rate, 4),
                "escape_rate" + upper: round(esc, 4), "false_reject_rate" + upper: round(fr, 4)}  # fmt: skip


def outcome(scores: Scores, labels: Ints, limit: float | Scores, not_inspectable: tuple[int, int] = (0, 0),
            missed: tuple[int, int] = (0, 0)) -> Outcome:  # fmt: skip
    """Pass below ``limit`` (one, or each part's own); ``not_inspectable`` (good, defective) parts are rejects that were never
    scored; ``missed`` (good, defective) parts got no verdict at all, so no reject: a missed defect is an escape."""
    rejected = ~passing(scores, limit)
    ok_refused, def_refused = not_inspectable
    return Outcome(
        parts=len(scores) + ok_refused + def_refused + sum(missed),
        defective=int(np.sum(labels == 1)) + def_refused + missed[1],
        escapes=int(np.sum(~rejected & (labels == 1))) + missed[1],
        false_rejects=int(np.sum(rejected & (labels == 0))) + ok_refused,
    )


def fold_limits(scores: Scores, labels: Ints, fold: Ints, margin: float = MARGIN, most_rejected: float = 1.0) -> Scores:
    """Each part's pass limit in the honest figures: the one the *other* folds' held-out scores set."""
    limits = np.empty(len(scores), np.float64)
    for f in np.unique(fold):
        mine = fold == f
        limits[mine] = operating_point(scores[~mine], labels[~mine], margin, most_rejected)[1][0]
    return limits


def honest(scores: Scores, labels: Ints, fold: Ints, margin: float = MARGIN, most_rejected: float = 1.0) -> Outcome:
    """Each fold judged by the limit the other folds' held-out scores set (see the module's docstring)."""
    return outcome(scores, labels, fold_limits(scores, labels, fold, margin, most_rejected))


@dataclass(frozen=True)
class Gate:
    """What a taught model must show on held-out parts before it is written (``station teach`` options)."""

    max_escape_rate: float = 0.0
    max_false_reject_rate: float = 0.03


_TOLERANCE = 1e-9  # a rate the report rounds to the gate's own value meets it


def percent_up(rate: float) -> float:
    """``rate`` in percent, rounded up to a tenth: the gate option (``--max-escape-rate``...) that takes it."""
    return math.ceil(round(1000 * rate, 6)) / 10


def shown(rate: float, allowed: float) -> str:
    """ "RATE, allowed ALLOWED" for a rate the gate refuses, both to a tenth of a percent, or to as many more places as it
    takes for the two to differ (1 of 98 is "1.02%, allowed 1.00%", not "1.0%, allowed 1.0%")."""
    for places in range(1, 7):
        if f"{rate:.{places}%}" != f"{allowed:.{places}%}":
            return f"{rate:.{places}%}, allowed {allowed:.{places}%}"
    return f"{rate:%}, allowed {allowed:%}"


def meets(rate: float, allowed: float) -> bool:
    """``rate`` is within ``allowed``: a rate the gate option states to a tenth of a percent (``percent_up``) meets it."""
    return rate <= allowed + _TOLERANCE


def short_of(gate: Gate, judged: Outcome, missed: int = 0) -> list[str]:
    """Where held-out figures fall short of the gate, each with what would help; empty when they meet it. ``missed``:
    defective footage parts the trigger missed, which pass on the line as the held-out escapes do."""
    why = []
    if missed and meets(judged.escape_rate, gate.max_escape_rate):
        both = (judged.escapes + missed) / (judged.defective + missed)
        if not meets(both, gate.max_escape_rate):
            why.append(
                f"{judged.escapes} held-out defective parts would pass and the trigger missed {missed} more: "
                f"of the defective parts in all {shown(both, gate.max_escape_rate)}: check the trigger settings first"
            )
    if not meets(judged.escape_rate, gate.max_escape_rate):
        why.append(
            f"{judged.escapes} of {judged.defective} held-out defective parts would pass "
            f"({shown(judged.escape_rate, gate.max_escape_rate)}): collect more defective parts, "
            "especially of the kinds the report's heldout_mistakes.png shows passing"
        )
    if not meets(judged.false_reject_rate, gate.max_false_reject_rate):
        why.append(
            f"{judged.false_rejects} of {judged.good} held-out good parts would be rejected "
            f"({shown(judged.false_reject_rate, gate.max_false_reject_rate)}): collect more "
            "good parts, especially like those the report's heldout_mistakes.png shows rejected, and check the light is steady"
        )
    elif judged.rejects_every_good_part:  # a gate that allows it (100 %)
        why.append(f"every one of the {judged.good} held-out good parts would be rejected, whatever the gate allows: no model is worth "
                   "writing that rejects every part; held-out defective parts scored below every good part set the limit so "
                   "low (the report's heldout_mistakes.png), or the labels are wrong")  # fmt: skip
    return why
