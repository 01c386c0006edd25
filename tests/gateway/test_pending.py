"""station/gateway/pending.py: the parts held until their actuator time, and the decision line written for each."""

from __future__ import annotations

from station.gateway.pending import PartsPending, Pending, decision
from station.gateway.reasons import GatewayReason
from station.wire import Disposition

from .stream import FakeStation


def test_a_decision_passes_only_for_ok_and_a_lost_verdict_is_a_reject_with_no_station_fields() -> None:
    st = FakeStation()
    heard = Pending(2.0, 1, st.run_id, st.verdict(captured_at=1.0), late=False)
    assert decision(heard, "ok", 2.01).decision is Disposition.PASS
    assert decision(heard, GatewayReason.LATE, 2.01).decision is Disposition.REJECT
    lost = decision(Pending(2.5, 2, st.run_id, None, late=False), GatewayReason.MISSING, 2.51)
    assert lost.decision is Disposition.REJECT and (lost.station_verdict, lost.seq, lost.captured_at) == (None, None, None)


def test_parts_come_due_in_order_of_their_actuator_time_then_part_id() -> None:
    held = PartsPending()
    for at, pid in ((3.0, 3), (1.0, 2), (1.0, 1)):
        held.push(Pending(at, pid, "r", None, late=False))
    first = held.first()
    assert first is not None and first.part_id == 1
    assert [held.pop().part_id for _ in range(3)] == [1, 2, 3] and held.first() is None and not held


def test_the_parts_pending_with_a_lost_verdict_are_counted_per_run_as_they_come_and_go() -> None:
    st, held = FakeStation(), PartsPending()
    held.push(Pending(1.0, 1, "old", None, late=False))
    held.push(Pending(2.0, 2, st.run_id, st.verdict(captured_at=1.0), late=False))
    held.push(Pending(3.0, 3, st.run_id, None, late=False))
    held.push(Pending(4.0, 4, st.run_id, None, late=False))
    assert (held.lost("old"), held.lost(st.run_id), held.lost(None), len(held)) == (1, 2, 0, 4)
    held.pop(), held.pop(), held.pop()
    assert (held.lost("old"), held.lost(st.run_id), [p.part_id for p in held]) == (0, 1, [4])


def test_a_run_with_no_lost_verdict_pending_is_forgotten() -> None:
    held = PartsPending()
    for run in range(100):  # a station restarted 100 times, a verdict lost in each run
        held.push(Pending(float(run), run, f"run-{run}", None, late=False))
        held.pop()
    assert not held._lost, "no entry kept per run"
