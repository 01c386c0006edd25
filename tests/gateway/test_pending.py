"""station/gateway/pending.py: the parts held until their actuator time, and the decision line written for each."""

from __future__ import annotations

import heapq

from station.gateway.pending import Pending, decision
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
    held: list[Pending] = []
    for at, pid in ((3.0, 3), (1.0, 2), (1.0, 1)):
        heapq.heappush(held, Pending(at, pid, "r", None, late=False))
    assert [heapq.heappop(held).part_id for _ in range(3)] == [1, 2, 3]
