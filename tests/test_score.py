"""station/score.py: what a valid score is, how a verdict carries it, and the one pass rule."""

from __future__ import annotations

import pytest

from station.score import SCORE_DIGITS, passes, published, valid_score


@pytest.mark.parametrize(
    ("score", "valid"),
    [(0.0, True), (-0.0, True), (5e-324, True), (1.0, True), (0.5, True),
     (float("nan"), False), (float("inf"), False), (float("-inf"), False), (1.0000001, False), (-1e-9, False)],
)  # fmt: skip
def test_only_a_finite_number_in_0_1_is_a_valid_score(score: float, valid: bool) -> None:
    assert valid_score(score) is valid


def test_a_score_is_published_to_a_millionth_and_an_invalid_one_not_at_all() -> None:
    assert SCORE_DIGITS == 6
    assert published(0.1234564) == 0.123456 and published(0.1234567) == 0.123457 and published(1.0) == 1.0
    assert published(None) is None and published(float("nan")) is None and published(1.5) is None


def test_a_score_passes_only_when_its_published_value_lies_under_the_limit() -> None:
    assert passes(0.199999, 0.2) and passes(0.2 - 6e-7, 0.2)  # published as 0.199999
    assert not passes(0.2 - 4e-7, 0.2), "published as 0.2, the limit itself"
    assert not passes(0.2, 0.2) and not passes(0.25, 0.2)
    assert not passes(float("nan"), 0.2) and not passes(-0.5, 0.2) and not passes(0.0, 0.0)
