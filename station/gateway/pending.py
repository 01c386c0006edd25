"""A part the gateway core holds until its actuator time, and the decision line written for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from station.gateway.reasons import GatewayReason, PartDecision
from station.wire import Disposition, Reason, VerdictMessage


@dataclass(order=True)
class Pending:
    """A part awaiting its actuator time: ordered by that time, then its part id."""

    actuate_at: float
    part_id: int
    run_id: str = field(compare=False)
    msg: VerdictMessage | None = field(compare=False)  # None: its verdict was lost
    late: bool = field(compare=False)
    fault: GatewayReason | None = field(default=None, compare=False)  # why the stream cannot be believed about it: it is rejected


def decision(p: Pending, reason: str, now: float) -> PartDecision:
    """The line written for a part: it passes only for ``ok``."""
    m = p.msg
    if m is None:
        return PartDecision(p.run_id, p.part_id, Disposition.REJECT, reason, None, None, None, None, p.actuate_at, now)
    d = Disposition.PASS if reason == Reason.OK else Disposition.REJECT
    return PartDecision(p.run_id, p.part_id, d, reason, m.verdict, m.reason.value, m.seq, m.captured_at, p.actuate_at, now)
