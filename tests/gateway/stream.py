"""A station's message stream made by hand, and a gateway core run through it on an explicit clock (no sockets): what the
gateway core's tests drive it with."""

from __future__ import annotations

from typing import Any

from station.gateway.core import GatewayCore, Timing
from station.wire import CameraState, Disposition, Heartbeat, Reason, StationState, VerdictMessage

T = Timing(actuator_delay_s=1.0, margin_s=0.02, heartbeat_s=0.25, missed_heartbeats=3, resend_timeout_s=0.3)


class FakeStation:
    """Messages as station.stages.publish writes them: one seq over all topics."""

    def __init__(self, run_id: str = "run-a") -> None:
        self.run_id = run_id
        self.seq = 0
        self.part = 0
        self.verdicts = 0  # sent: part ids may jump
        self.skew = 0.0  # run_to's beats: the station's clock ahead of the gateway's by this (behind when negative)
        self.clock = 0.0  # the station's clock: when the helpers below last beat (the gateway's, unless a test moves it)

    def envelope(self) -> dict[str, Any]:
        self.seq += 1
        return {"station": "station-1", "run_id": self.run_id, "seq": self.seq, "sent_at": self.clock}

    def beat(self, state: str = "running", at: float | None = None) -> Heartbeat:
        self.clock = self.clock if at is None else at
        return Heartbeat(
            **self.envelope(), state=StationState(state), last_seq=self.seq - 1, verdicts=self.verdicts, camera=CameraState.CONNECTED
        )

    def verdict(self, captured_at: float, verdict: str = "pass", reason: str = "ok") -> VerdictMessage:
        self.part += 1
        self.verdicts += 1
        return VerdictMessage(
            **self.envelope(),
            part_id=self.part,
            frame=self.part,
            verdict=Disposition(verdict),
            reason=Reason(reason),
            score=0.01,
            captured_at=captured_at,
            published_at=captured_at,
            deadline_at=captured_at + 0.5,
            model="m",
            config="c",
            detail="d",
        )


def healthy_core(st: FakeStation, until: float = 1.5, test_every: int = 0, timing: Timing = T) -> GatewayCore:
    """A core that has followed ``st`` with heartbeats from t=0 to ``until`` (past the join hold); ``test_every``: its
    test rejects (GatewayCore)."""
    core = GatewayCore(timing, "station-1", test_every)
    t = 0.0
    while t <= until:
        core.receive(st.beat(at=t), t)
        core.tick(t)
        t = round(t + 0.25, 6)
    assert core.healthy, core.reason
    return core


def run_to(core: GatewayCore, st: FakeStation, start: float, end: float, beats: bool = True) -> None:
    """The core from ``start`` to ``end``, ticked every 0.05 s, with a heartbeat of ``st`` at each tick unless not ``beats``."""
    t = start
    while t <= end:
        if beats:
            core.receive(st.beat(at=t + st.skew), t)
        core.tick(t)
        t = round(t + 0.05, 6)
