"""What the gateway says, declared once: its own reasons for rejecting a part (besides the station's, ``wire.Reason``), the
faults that make vision unhealthy, and its record of each part's decision. The core decides with them; the metrics count
every one from the first scrape."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from station.wire import Disposition, Reason, StationState


class GatewayReason(StrEnum):
    """Why the gateway rejected a part whatever the station said (docs/protocol.md, the reference gateway)."""

    LATE = "late"
    MISSING = "missing"
    VISION_UNHEALTHY = "vision_unhealthy"
    CLOCK_AHEAD = "clock_ahead"
    PART_IDS_JUMPED = "part_ids_jumped"
    VERDICT_CONFLICT = "verdict_conflict"
    SEQ_CONFLICT = "seq_conflict"
    CLOCK_STEPPED = "clock_stepped"
    GATEWAY_STOPPED = "gateway_stopped"
    TEST_REJECT = "test_reject"  # a pass rejected on purpose, to time the actuator (station gateway --test-reject)


class Fault(StrEnum):
    """Why vision is unhealthy: a fault present now, or the last one tripped (held for an actuator delay after it)."""

    NO_STATION = "no_station"  # none heard since the gateway started
    NO_HEARTBEAT = "no_heartbeat"
    STATION_STARTING = "station_starting"
    STATION_DEGRADED = "station_degraded"
    STATION_STOPPING = "station_stopping"
    STATION_NOT_RUNNING = "station_not_running"  # a state this gateway has no name for (a station newer than it)
    JOINED = "joined"
    RUN_CHANGED = "run_changed"
    ENDED_RUN = "ended_run"
    GAP = "gap"
    SEQ_CONFLICT = "seq_conflict"
    PART_IDS_BACKWARDS = "part_ids_backwards"
    PART_IDS_JUMPED = "part_ids_jumped"
    CLOCK_AHEAD = "clock_ahead"
    CLOCK_BEHIND = "clock_behind"  # the station's heartbeats arrive sent further in the past than CLOCK_AHEAD_S
    VERDICT_CONFLICT = "verdict_conflict"
    VERDICT_MISSING = "verdict_missing"
    DECISION_LATE = "decision_late"
    VERDICT_LATE = "verdict_late"  # a verdict came after its part's actuator time: the part went by undecided, vision healthy
    CLOCK_STEPPED = "clock_stepped"
    OUTPUT_FAILED = "output_failed"
    OUTPUT_LATE = "output_late"  # the PLC took a part's decision more than gateway.actuator_window_ms after its actuator time

    def recovering(self) -> str:
        """The health reason while vision is held after this fault cleared (for an actuator delay)."""
        return f"recovering_from_{self.value}"

    @staticmethod
    def of_station(state: StationState | None) -> Fault:
        """The fault a station in ``state`` (anything but running; None: not yet said) is: ``station_`` and the state's
        name, or station_not_running for a state without a fault of its own; never raises (a dead gateway tells the PLC
        nothing)."""
        try:
            return Fault(f"station_{state.value}") if state is not None else Fault.STATION_NOT_RUNNING
        except ValueError:
            return Fault.STATION_NOT_RUNNING


# every reason a reject may give, once each (late is both the station's and the gateway's)
REJECTS = tuple(dict.fromkeys([*(r.value for r in Reason if r is not Reason.OK), *(r.value for r in GatewayReason)]))


@dataclass(frozen=True)
class PartDecision:
    """What the gateway did with one part, written as one JSON line."""

    run_id: str
    part_id: int
    decision: Disposition
    reason: str  # ok, or why it was rejected
    station_verdict: str | None
    station_reason: str | None
    seq: int | None
    captured_at: float | None
    actuate_at: float | None
    decided_at: float
    delivered: bool = True  # False: an output before the log (the PLC) did not take it

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
