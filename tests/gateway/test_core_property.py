"""The core's fail-safe rules on random streams of well-formed messages: runs that change, seqs that repeat, jump or go
back, lost verdicts, resend replies saying seqs are gone, heartbeats late or early, the gateway's clock stepping."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from station.gateway.core import GatewayCore, Timing
from station.wire import CameraState, Disposition, Heartbeat, Reason, ResendReply, StationState, VerdictMessage

RUNS = st.sampled_from(["run-a", "run-b"])
STATES = st.sampled_from(list(StationState))
EVENTS = st.one_of(
    st.tuples(st.just("verdict"), RUNS, st.integers(1, 40), st.integers(1, 30), st.sampled_from(list(Reason)), st.floats(0, 0.3)),
    st.tuples(st.just("heartbeat"), RUNS, st.integers(1, 40), st.integers(0, 30), STATES, st.floats(-0.2, 0.4)),
    st.tuples(st.just("time"), st.floats(0, 0.5)),
    st.tuples(st.just("gone"), RUNS, st.integers(1, 40), st.integers(0, 5)),
    st.tuples(st.just("clock"), st.floats(-2, 2)),
)


def _verdict(run: str, seq: int, pid: int, reason: Reason, age: float, now: float) -> VerdictMessage:
    score = None if reason in (Reason.ERROR, Reason.UNABLE) else 0.1
    return VerdictMessage(station="s", run_id=run, seq=seq, sent_at=now, part_id=pid, frame=pid, verdict=Disposition.of(reason),
                          reason=reason, score=score, captured_at=now - age, published_at=now, deadline_at=now + 0.4, model="m",
                          config="c", detail="")  # fmt: skip


def _play(core: GatewayCore, events: list[tuple[Any, ...]]) -> float:
    now = 0.0
    for kind, *e in events:
        if kind == "verdict":
            core.receive(_verdict(e[0], e[1], e[2], e[3], e[4], now), now)
        elif kind == "heartbeat":
            run, seq, sent, state, lag = e
            beat = Heartbeat(station="s", run_id=run, seq=seq, sent_at=now - lag, state=state, last_seq=seq - 1,
                             verdicts=min(sent, seq - 1), camera=CameraState.CONNECTED)  # fmt: skip
            core.receive(beat, now)
        elif kind == "time":
            now += e[0]
            core.tick(now)
        elif kind == "gone":
            run, first, n = e
            core.resent(ResendReply(run_id=run, first=first, last=first + n, gone=(first, first + n), count=0), [], now)
        else:
            core.clock_stepped(e[0], now)
    return now


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENTS, max_size=60))
def test_a_part_passes_only_on_the_stations_pass_and_is_decided_once_whatever_the_stream(events: list[tuple[Any, ...]]) -> None:
    core = GatewayCore(Timing(actuator_delay_s=0.5, margin_s=0.05, heartbeat_s=0.1))
    with capture_logs():
        now = _play(core, events) + 5.0
        core.tick(now)
        core.stop(now)
    decided = [(d.run_id, d.part_id) for d in core.decisions]
    assert len(decided) == len(set(decided))  # one decision per part of a run, never two
    assert not core.pending  # stopped: every part it held was decided
    for d in core.decisions:
        assert d.decision is Disposition.REJECT or (d.station_verdict == "pass" and d.station_reason == "ok"), d


def test_the_same_harness_passes_a_part_of_a_healthy_stream() -> None:
    """The rule above is not empty: a stream of heartbeats on time, then a timely pass, gets the part passed."""
    beats: list[tuple[Any, ...]] = []
    for seq in range(1, 16):
        beats += [("heartbeat", "run-a", seq, 0, StationState.RUNNING, 0.0), ("time", 0.1)]
    core = GatewayCore(Timing(actuator_delay_s=0.5, margin_s=0.05, heartbeat_s=0.1))
    with capture_logs():
        now = _play(core, [*beats, ("verdict", "run-a", 16, 1, Reason.OK, 0.0), ("heartbeat", "run-a", 17, 1, StationState.RUNNING, 0.0)])
        for k in range(8):
            now += 0.1
            core.receive(Heartbeat(station="s", run_id="run-a", seq=18 + k, sent_at=now, state=StationState.RUNNING, last_seq=17 + k,
                                   verdicts=1, camera=CameraState.CONNECTED), now)  # fmt: skip
            core.tick(now)
    assert [(d.part_id, d.decision) for d in core.decisions] == [(1, Disposition.PASS)]
