"""station/teach/threshold.py: folds, the operating point and the qualification gate (numpy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from station.messages import Reason
from station.score import passes, passing
from station.stages.decision import decide
from station.teach import threshold as th

from .conftest import scored_part


def test_folds_keep_a_group_together_and_spread_each_class() -> None:
    groups = np.repeat(np.arange(40), 3)  # 40 parts photographed 3 times each
    labels = (np.arange(120) >= 60).astype(np.int64)
    fold = th.folds(groups, labels, 4, seed=1)
    for g in range(40):
        assert len(set(fold[groups == g])) == 1
    for cls in (0, 1):
        sizes = np.bincount(fold[labels == cls], minlength=4)
        assert sizes.max() - sizes.min() <= 3


def test_folds_stay_balanced_when_some_groups_are_large() -> None:
    rng = np.random.default_rng(4)
    sizes = [8, 8, 8, 7, 6, *([1] * 63)]  # 100 parts of one class: five large groups, the rest alone
    groups = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(groups)
    labels = np.zeros(100, np.int64)
    for seed in range(5):
        counts = np.bincount(th.folds(groups, labels, 4, seed), minlength=4)
        assert counts.max() - counts.min() <= 1, counts  # smallest last: the singles even the folds out


def test_more_folds_than_groups_give_a_fold_per_group_and_take_no_memory_for_the_rest() -> None:
    groups = np.repeat(np.arange(10), 2)  # 5 parts of each class, photographed twice
    labels = (np.arange(20) >= 10).astype(np.int64)
    fold = th.folds(groups, labels, 10**12, seed=1)  # --folds 10**12 asked for 7 TiB of fold sizes
    assert np.array_equal(fold, th.folds(groups, labels, 5, seed=1)) and fold.max() == 4


def test_no_held_out_defect_passes_at_the_operating_point() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0] * 50 + [1] * 50)
    scores = np.concatenate([rng.uniform(0, 0.3, 50), rng.uniform(0.2, 1.0, 50)])
    thr, (lo, hi) = th.operating_point(scores, labels)
    assert lo < scores[labels == 1].min()  # pass is below the band: every defect is rejected
    assert lo <= thr <= hi and 0 < thr < 1


@pytest.mark.parametrize("limit_at", [0.001, 0.3, 0.7, 0.9])
def test_the_uncertain_band_spans_the_margin_above_the_pass_limit_whatever_the_limit(limit_at: float) -> None:
    """The band's top was 0.5 whatever the line: a limit of 0.3 had a band 0.85 log-odds wide, one of 0.7 none at all (a
    near miss then said defect, never uncertain)."""
    labels = np.array([0] * 20 + [1] * 20)
    lowest_defect = 1 / (1 + (1 - limit_at) / limit_at / math.e)  # 1 log-odds above limit_at: the limit falls on it
    scores = np.concatenate([np.full(20, limit_at * 0.98), np.full(20, lowest_defect)])
    thr, (lo, hi) = th.operating_point(scores, labels, margin=1.0)
    assert lo == pytest.approx(limit_at, rel=1e-3)
    assert lo < hi == thr and th.above(np.array([hi]), lo)[0] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("margin", [th.MOST_MARGIN, 800.0])
def test_the_widest_margin_still_lets_no_defect_pass_and_never_overflows(margin: float) -> None:
    labels = np.array([0] * 20 + [1] * 20)
    scores = np.concatenate([np.linspace(0.001, 0.1, 20), np.linspace(0.4, 1.0, 20)])
    lo = th.operating_point(scores, labels, margin)[1][0]
    assert 0 <= lo < 0.4 and math.isfinite(lo)


def test_a_defect_the_network_cannot_see_does_not_set_the_limit_under_every_good_part() -> None:
    rng = np.random.default_rng(1)
    good, defects = rng.uniform(0.001, 0.2, 100), np.concatenate([[0.0001], rng.uniform(0.8, 1.0, 99)])  # one defect scored as good
    scores, labels = np.concatenate([good, defects]), np.array([0] * 100 + [1] * 100)
    unbounded = th.pass_limit(scores, labels)  # no held-out defect passes: every good part is rejected
    assert th.outcome(scores, labels, unbounded).false_rejects == 100
    limit = th.pass_limit(scores, labels, most_rejected=0.03)
    o = th.outcome(scores, labels, limit)
    assert o.false_rejects <= 3 and o.escapes == 1  # the gate (no escape by default) then judges the one that passes
    assert limit < 0.8  # and no defect the network sees passes


def test_where_no_defect_need_pass_the_bound_on_false_rejects_changes_nothing() -> None:
    rng = np.random.default_rng(3)
    scores, labels = np.concatenate([rng.uniform(0, 0.3, 60), rng.uniform(0.6, 1.0, 60)]), np.array([0] * 60 + [1] * 60)
    assert th.pass_limit(scores, labels, most_rejected=0.03) == th.pass_limit(scores, labels)
    assert th.honest(scores, labels, np.arange(120) % 4, most_rejected=0.0) == th.honest(scores, labels, np.arange(120) % 4)


def test_the_honest_estimate_judges_a_fold_by_the_other_folds_limit() -> None:
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    fold = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # fold 0's lowest defect (0.05) is far below fold 1's (0.9): a limit set on fold 1 lets it pass
    scores = np.array([0.01, 0.02, 0.05, 0.9, 0.01, 0.02, 0.9, 0.95])
    assert th.outcome(scores, labels, th.pass_limit(scores, labels)).escapes == 0  # in-sample: looks perfect
    assert th.honest(scores, labels, fold).escapes == 1


def test_parts_that_could_not_be_inspected_count_as_rejects() -> None:
    o = th.outcome(np.array([0.1, 0.9]), np.array([0, 1]), 0.5, not_inspectable=(3, 2))
    assert (o.parts, o.defective, o.false_rejects, o.escapes) == (7, 3, 3, 0)


def test_the_gate_refuses_with_what_would_help() -> None:
    gate = th.Gate(max_escape_rate=0.0, max_false_reject_rate=0.03)
    assert th.short_of(gate, th.Outcome(200, 100, 0, 3)) == []
    (every,) = th.short_of(th.Gate(1.0, 1.0), th.Outcome(200, 100, 0, 100))  # whatever the gate allows
    assert every.startswith("every one of the 100 held-out good parts would be rejected, whatever the gate allows")
    assert "held-out defective parts scored below every good part" in every
    escapes = th.short_of(gate, th.Outcome(200, 100, 1, 0))
    assert len(escapes) == 1 and "collect more defective parts" in escapes[0]
    rejects = th.short_of(gate, th.Outcome(200, 100, 0, 4))
    assert len(rejects) == 1 and "collect more good parts" in rejects[0]


def test_a_refused_rate_never_reads_as_the_rate_allowed() -> None:
    (escapes,) = th.short_of(th.Gate(0.01, 1.0), th.Outcome(196, 98, 1, 0))
    assert "1 of 98 held-out defective parts would pass (1.02%, allowed 1.00%)" in escapes
    (rejects,) = th.short_of(th.Gate(0.0, 0.03), th.Outcome(196, 98, 0, 4))
    assert "(4.1%, allowed 3.0%)" in rejects, "a tenth where it differs"
    assert th.shown(5 / 498, 0.01) == "1.004%, allowed 1.000%" and th.shown(1 / 94, 0.0105) == "1.06%, allowed 1.05%"


def test_defects_the_trigger_missed_count_with_the_held_out_escapes() -> None:
    gate = th.Gate(max_escape_rate=0.02, max_false_reject_rate=0.03)
    assert th.short_of(gate, th.Outcome(200, 100, 1, 0), missed=1) == [], "2 of 101 pass: within 2 %"
    (both,) = th.short_of(gate, th.Outcome(200, 100, 2, 0), missed=1)
    assert "2 held-out defective parts would pass and the trigger missed 1 more: of the defective parts in all 3.0%, allowed 2.0%" in both
    (held_out,) = th.short_of(gate, th.Outcome(200, 100, 3, 0), missed=1)
    assert "collect more defective parts" in held_out, "the held-out escapes alone fail: said once, as before"


def test_the_rate_a_refusal_suggests_for_the_gate_is_one_the_gate_takes() -> None:
    for defective in range(1, 400):
        for escapes in range(defective + 1):
            judged = th.Outcome(2 * defective, defective, escapes, 0)
            suggested = th.percent_up(judged.escape_rate)
            assert suggested >= 100 * judged.escape_rate - 1e-9 and suggested - 100 * judged.escape_rate < 0.1 + 1e-9
            assert th.short_of(th.Gate(suggested / 100, 1.0), judged) == []


def test_the_honest_figures_judge_with_the_limit_the_model_file_gets() -> None:
    rng = np.random.default_rng(2)
    labels = np.array([0] * 40 + [1] * 20)
    scores = np.concatenate([rng.uniform(1e-6, 8e-6, 40), [3e-5, 6e-5], rng.uniform(0.5, 1.0, 18)])
    fold = np.arange(60) % 4
    written = th.operating_point(scores, labels)[1][0]
    assert written <= th.pass_limit(scores, labels)  # rounded down, never floored above the limit
    assert th.outcome(scores, labels, written).escapes == 0
    assert th.honest(scores, labels, fold).escapes == sum(
        th.outcome(scores[fold == f], labels[fold == f], th.operating_point(scores[fold != f], labels[fold != f])[1][0]).escapes
        for f in range(4)
    )


def test_a_score_that_is_not_a_number_is_never_a_pass() -> None:
    o = th.outcome(np.array([np.nan, np.nan]), np.array([0, 1]), 0.5)
    assert (o.false_rejects, o.escapes) == (1, 0)


def _at_most(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def test_the_upper_bound_is_the_rate_at_which_so_few_failures_become_unlikely() -> None:
    assert math.isclose(th.upper_bound(0, 41), 1 - 0.05 ** (1 / 41), rel_tol=1e-9)  # 0 of 41: fewer than 7 %
    for k, n in ((1, 100), (3, 100), (14, 100), (2, 39)):
        bound = th.upper_bound(k, n)
        assert k / n < bound < 1 and math.isclose(_at_most(k, n, bound), 0.05, rel_tol=1e-6)
    assert th.upper_bound(0, 0) == 1.0 and th.upper_bound(5, 5) == 1.0  # nothing shown: nothing ruled out


def test_parts_to_show_is_the_fewest_with_none_wrong_that_show_the_rate() -> None:
    n = th.parts_to_show(0.01)
    assert n == 299 and th.upper_bound(0, n) <= 0.01 < th.upper_bound(0, n - 1)


def test_the_figures_carry_their_upper_bounds() -> None:
    d = th.Outcome(parts=80, defective=41, escapes=0, false_rejects=1).as_dict()
    assert d["escape_rate"] == 0 and d["escape_rate_upper_95"] == round(th.upper_bound(0, 41), 4)
    assert d["false_reject_rate_upper_95"] == round(th.upper_bound(1, 39), 4)


def test_near_limit_counts_the_parts_within_the_margin_on_either_side() -> None:
    limit = 0.5  # log-odds 0
    scores = np.array([0.3, 0.45, 0.55, 0.7, 0.01, 0.99])  # log-odds -0.85, -0.2, 0.2, 0.85, -4.6, 4.6
    assert th.near_limit(scores, limit, margin=1.0) == 4
    assert th.near_limit(scores, limit, margin=0.5) == 2


def test_clearance_is_the_distance_in_log_odds_of_the_score_nearest_the_limit() -> None:
    scores = np.array([0.1, 0.8, 0.999])  # log-odds -2.2, 1.39, 6.9
    assert th.clearance(scores, 0.5) == pytest.approx(math.log(4))
    assert th.clearance(scores, 0.9) == pytest.approx(math.log(9) - math.log(4))  # 0.8 lies below this limit: still the nearest
    assert th.clearance(np.array([]), 0.5) == 0.0


def test_the_raised_limit_lets_no_defect_pass_that_the_allowance_does_not() -> None:
    good = np.array([0.05] * 27 + [0.6, 0.7, 0.9])  # 30 good parts: 3 % allows none to be rejected
    defects = np.array([0.3, 0.62, 0.65, 0.93, *([0.99] * 26)])
    scores, labels = np.concatenate([good, defects]), np.array([0] * 30 + [1] * 30)
    limit = th.operating_point(scores, labels, most_rejected=0.03)[1][0]
    o = th.outcome(scores, labels, limit)
    assert o.false_rejects == 0
    assert o.escapes == 3  # 0.3, 0.62 and 0.65 lie below the good part at 0.9 that must pass; 0.93 does not


@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_the_written_limit_rejects_no_more_good_parts_than_allowed(margin: float) -> None:
    good = np.array([0.01] * 90 + [0.2, 0.2, 0.2, 0.2000003, 0.3, 0.3, 0.4, 0.5, 0.6, 0.7])  # ties, and a gap under 1e-6
    scores = np.concatenate([good, [0.001], np.full(99, 0.95)])  # one defect scored under every good part
    labels = np.array([0] * 100 + [1] * 100)
    for most in (0.03, 0.05, 0.06, 0.1):
        written = th.operating_point(scores, labels, margin, most)[1][0]
        assert th.outcome(scores, labels, written).false_rejects <= math.floor(most * 100 + 1e-9), (most, written)


def test_a_limit_raised_past_a_good_part_that_must_pass_is_written_past_it_as_the_station_publishes_it() -> None:
    labels = np.array([0, 0, 0, 1])
    scores = np.array([0.52426004, 0.5242596, 0.01, 0.001])  # a defect the network cannot see: the allowance sets the limit
    limit = th.pass_limit(scores, labels, most_rejected=0.34)  # one good part of three may be rejected
    written = th.operating_point(scores, labels, most_rejected=0.34)[1][0]
    assert limit == written == 0.524261  # the good part that must pass is published as 0.52426: the limit lies past that
    assert passes(0.5242596, written) and not passes(0.5242596, 0.52426)  # as the line's decision judges it (0.52426 rejected
    assert th.outcome(scores, labels, written).false_rejects == 0  # both, where the limit once went: one more than allowed)


def test_teaching_judges_a_score_as_the_line_does_rounded_as_published() -> None:
    """0.4999996 is published as 0.5: on the line it is not under a pass limit of 0.5, so teaching must not count it a pass."""
    scores, labels = np.array([0.4999996, 0.4999994, float("nan")]), np.array([1, 1, 1])
    line = [decide(scored_part(float(s)), (0.5, 0.5))[0] is Reason.OK for s in scores]  # the decision stage's own verdicts
    assert passing(scores, 0.5).tolist() == [False, True, False] == line
    assert th.outcome(scores, labels, 0.5).escapes == 1


def test_parts_never_inspected_are_rejects_and_parts_the_trigger_missed_are_passes() -> None:
    scores, labels = np.array([0.1, 0.9]), np.array([0, 1])
    o = th.outcome(scores, labels, 0.5, not_inspectable=(2, 1), missed=(3, 4))
    assert (o.parts, o.defective, o.escapes, o.false_rejects) == (12, 6, 4, 2)  # every missed defect passed; missed good parts too
