"""A part the gateway core holds until its actuator time, the decision line written for it, and what it remembers of a run."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from station.gateway.reasons import GatewayReason, PartDecision
from station.wire import Disposition, Reason, VerdictMessage

_V = TypeVar("_V")  # what a DONE_KEPT-capped memory keeps per key
DONE_KEPT = 4096  # part ids and seqs of a run the gateway remembers


@dataclass(order=True)
class Pending:
    """A part awaiting its actuator time: ordered by that time, then its part id."""

    actuate_at: float
    part_id: int
    run_id: str = field(compare=False)
    msg: VerdictMessage | None = field(compare=False)  # None: its verdict was lost
    late: bool = field(compare=False)
    fault: GatewayReason | None = field(default=None, compare=False)  # why the stream cannot be believed about it: it is rejected


class PartsPending:
    """The parts held until their actuator time, soonest first, with how many of them lost their verdict, per run (kept as
    they come and go: counting them over the parts pending at every verdict grew with the square of the parts pending)."""

    def __init__(self) -> None:
        self._heap: list[Pending] = []
        self._lost: Counter[str] = Counter()

    def push(self, p: Pending) -> None:
        heapq.heappush(self._heap, p)
        if p.msg is None:
            self._lost[p.run_id] += 1

    def pop(self) -> Pending:
        p = heapq.heappop(self._heap)
        if p.msg is None:
            self._lost[p.run_id] -= 1
            if not self._lost[p.run_id]:  # a run with none pending is forgotten: a gateway hears run after run for months
                del self._lost[p.run_id]
        return p

    def first(self) -> Pending | None:
        """The part whose actuator time comes first, or None."""
        return self._heap[0] if self._heap else None

    def lost(self, run_id: str | None) -> int:
        """The parts of ``run_id`` pending whose verdict was lost."""
        return self._lost[run_id] if run_id is not None else 0

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[Pending]:
        return iter(self._heap)


def decision(p: Pending, reason: str, now: float) -> PartDecision:
    """The line written for a part: it passes only for ``ok``."""
    m = p.msg
    if m is None:
        return PartDecision(p.run_id, p.part_id, Disposition.REJECT, reason, None, None, None, None, p.actuate_at, now)
    d = Disposition.PASS if reason == Reason.OK else Disposition.REJECT
    return PartDecision(p.run_id, p.part_id, d, reason, m.verdict, m.reason.value, m.seq, m.captured_at, p.actuate_at, now)


def keep(memory: dict[int, _V], key: int, value: _V) -> int | None:
    """Remember ``value`` under ``key``, the oldest key forgotten past DONE_KEPT; that key, or None."""
    memory[key] = value
    if len(memory) <= DONE_KEPT:
        return None
    old = next(iter(memory))
    del memory[old]
    return old
