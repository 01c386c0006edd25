"""Seq gaps: opened when a run skips seqs, filled seq by seq, and overdue when a resend does not come."""

from __future__ import annotations

from station.gateway.gaps import Gaps, Skipped


def test_a_gap_closes_when_its_last_seq_is_filled_and_a_seq_no_gap_waits_for_is_not_a_fill() -> None:
    gaps = Gaps()
    gaps.open(5, 7, now=1.0)
    assert gaps.missing() == 3 and len(gaps) == 1
    assert gaps.fill(6) and gaps.fill(5) and not gaps.fill(6) and not gaps.fill(9)
    assert gaps.missing() == 1 and gaps
    assert gaps.fill(7) and not gaps and len(gaps) == 0


def test_a_gap_is_overdue_only_once_its_resend_timeout_has_passed_and_a_clock_step_moves_its_time() -> None:
    gaps = Gaps()
    gaps.open(3, 3, now=10.0)
    assert not gaps.overdue(10.29, timeout_s=0.3) and gaps.overdue(10.31, timeout_s=0.3)
    gaps.shift(5.0)  # the gateway's clock jumped forward 5 s: asked at 15.0 by the new clock
    assert not gaps.overdue(15.2, timeout_s=0.3)


def test_a_stretch_said_gone_is_found_among_the_missing_seqs() -> None:
    gaps = Gaps()
    gaps.open(10, 12, now=0.0)
    gaps.open(20, 20, now=0.0)
    assert gaps.any_within(12, 15) and gaps.any_within(1, 10) and not gaps.any_within(13, 19)
    gaps.fill(20)
    assert not gaps.any_within(20, 20)


def test_a_stream_goes_on_below_a_jump_only_when_new_messages_under_it_come_in_order_three_in_a_row() -> None:
    skipped = Skipped()
    skipped.jumped(8, 50008)
    assert not skipped.below(7) and not skipped.below(50008), "outside what the jump went past"
    assert not skipped.below(11) and not skipped.below(12), "one or two: perhaps messages late"
    assert skipped.below(13)
    skipped.jumped(8, 50008)
    assert not skipped.below(20) and not skipped.below(21) and not skipped.below(9), "not after the one before: counted afresh"
    assert not skipped.below(10) and skipped.below(11)
