"""The core's fail-safe rules on random streams: a healthy stream from one station, perturbed at random by everything a
network and a station can do to it (seqs skipped, repeated or reused with another verdict, part ids skipped or used
twice, late verdicts, a station restarting or degraded, heartbeats late or missing, resend replies saying seqs are
gone, the gateway's clock stepping). Whatever happens, a part passes only on the station's own timely pass, while vision is
healthy, and each part gets exactly one decision."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from station.gateway.core import GatewayCore, Timing
from station.wire import CameraState, Disposition, Heartbeat, Reason, ResendReply, StationState, VerdictMessage

DELAY, MARGIN, BEAT = 0.5, 0.05, 0.1
NORMAL = st.one_of(  # what a healthy station's stream is made of: timely verdicts, heartbeats on time, time passing
    st.tuples(st.just("verdict"), st.sampled_from([Reason.OK, Reason.OK, Reason.DEFECT]), st.floats(0, 0.05)),
    st.tuples(st.just("heartbeat"), st.just(StationState.RUNNING), st.floats(0, 0.05)),
    st.tuples(st.just("time"), st.floats(0, 0.12)),
)
PERTURBED = st.one_of(  # what can go wrong with it
    st.tuples(st.just("verdict"), st.sampled_from(list(Reason)), st.floats(0, 0.6)),  # any reason; from 0.45 s old, late
    st.tuples(st.just("verdict"), st.just(Reason.OK), st.floats(0.46, 0.8)),  # a pass heard too late to fire it
    st.tuples(st.just("heartbeat"), st.sampled_from(list(StationState)), st.floats(-0.1, 0.5)),
    st.tuples(st.just("time"), st.floats(0, 0.4)),
    st.tuples(st.just("skip_seqs"), st.integers(1, 3)),
    st.tuples(st.just("skip_part")),
    st.tuples(st.just("again"), st.booleans()),  # the last verdict again: as it was, or with another reason
    st.tuples(st.just("again_new"), st.booleans(), st.floats(0, 0.6)),  # its part id again under a new seq, captured then
    st.tuples(st.just("gone"), st.integers(0, 3)),
    st.tuples(st.just("restart")),
    st.tuples(st.just("clock"), st.floats(-1, 1)),
)
# most of a stream is normal (one event in ten perturbs it), so that vision is healthy often enough for parts to pass
EVENTS = st.lists(st.integers(0, 9).flatmap(lambda k: PERTURBED if k == 0 else NORMAL), max_size=80)


@dataclass
class _Station:
    """A station's stream as the events make it: seqs and part ids counted, as the real one counts them."""

    run: str = "run-0"
    seq: int = 0
    part: int = 0
    verdicts: int = 0
    last: VerdictMessage | None = None
    heard_at: dict[tuple[str, int], float] = field(default_factory=dict)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def verdict(self, reason: Reason, age: float, now: float) -> VerdictMessage:
        self.part += 1
        self.verdicts += 1
        score = None if reason in (Reason.ERROR, Reason.UNABLE) else 0.1
        msg = VerdictMessage(station="s", run_id=self.run, seq=self.next_seq(), sent_at=now, part_id=self.part, frame=self.part,
                             verdict=Disposition.of(reason), reason=reason, score=score, captured_at=now - age, published_at=now,
                             deadline_at=now - age + 1.0, model="m", config="c", detail="")  # fmt: skip
        self.last = msg
        return msg

    def heartbeat(self, state: StationState, lag: float, now: float) -> Heartbeat:
        seq = self.next_seq()
        return Heartbeat(station="s", run_id=self.run, seq=seq, sent_at=now - lag, state=state, last_seq=seq - 1,
                         verdicts=self.verdicts, camera=CameraState.CONNECTED)  # fmt: skip


def _healthy_start(core: GatewayCore, st_: _Station) -> float:
    now = 0.0
    for _ in range(12):
        core.receive(st_.heartbeat(StationState.RUNNING, 0.0, now), now)
        now += BEAT
        core.tick(now)
    return now


def _send(core: GatewayCore, st_: _Station, msg: VerdictMessage, now: float) -> None:
    st_.heard_at.setdefault((msg.run_id, msg.seq), now)
    core.receive(msg, now)


def _event(core: GatewayCore, st_: _Station, kind: str, e: list[Any], now: float) -> float:
    """One event; the time after it. After a tick, a part passed was decided while vision was healthy and past the hold a
    fault puts on the parts already on the belt."""
    if kind == "verdict":
        _send(core, st_, st_.verdict(e[0], e[1], now), now)
    elif kind == "heartbeat":
        core.receive(st_.heartbeat(e[0], e[1], now), now)
    elif kind == "time":
        now += e[0]
        before = len(core.decisions)
        core.tick(now)
        passed = [d for d in core.decisions[before:] if d.decision is Disposition.PASS]
        assert all(core.healthy and d.actuate_at is not None and d.actuate_at > core.hold_until for d in passed), passed
    elif kind == "skip_seqs":
        st_.seq += e[0]
    elif kind == "skip_part":  # a verdict the station sent that never arrived (its seq too)
        st_.verdict(Reason.DEFECT, 0.0, now)
    elif kind == "again" and st_.last is not None:
        other = Reason.DEFECT if st_.last.reason is Reason.OK else Reason.OK
        again = st_.last if e[0] else replace(st_.last, reason=other, verdict=Disposition.of(other), score=0.1)
        _send(core, st_, again, now)
    elif kind == "again_new" and st_.last is not None:  # a part id used twice: the part this one stands for has no decision
        heard = (st_.last.run_id, st_.last.seq) in st_.heard_at  # the first under that id reached the gateway (not skip_part)
        other = Reason.DEFECT if st_.last.reason is Reason.OK else Reason.OK
        again = st_.last if e[0] else replace(st_.last, reason=other, verdict=Disposition.of(other), score=0.1)
        again = replace(again, seq=st_.next_seq(), captured_at=now - e[1], deadline_at=now - e[1] + 1.0)
        _send(core, st_, again, now)
        # blind while it passes the actuator: the PLC rejects it (a first never heard is a gap, judged at the end as any)
        assert not heard or core.hold_until >= again.captured_at + DELAY
    elif kind == "gone":
        first = max(1, st_.seq - e[0])
        core.resent(ResendReply(run_id=st_.run, first=first, last=st_.seq or 1, gone=(first, st_.seq or 1), count=0), [], now)
    elif kind == "restart":
        st_.run, st_.seq, st_.part, st_.verdicts, st_.last = f"run-{int(st_.run[4:]) + 1}", 0, 0, 0, None
    elif kind == "clock":
        core.clock_stepped(e[0], now)
    return now


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EVENTS)
def test_a_part_passes_only_on_the_stations_timely_pass_while_healthy_and_is_decided_once(events: list[tuple[Any, ...]]) -> None:
    core, st_ = GatewayCore(Timing(actuator_delay_s=DELAY, margin_s=MARGIN, heartbeat_s=BEAT)), _Station()
    with capture_logs():
        now = _healthy_start(core, st_)
        for kind, *e in events:
            now = _event(core, st_, kind, e, now)
            assert core.pending.lost(core.run_id) == sum(1 for p in core.pending if p.msg is None and p.run_id == core.run_id)
        now += 5.0
        core.tick(now)
        core.stop(now)
    decided = [(d.run_id, d.part_id) for d in core.decisions]
    assert len(decided) == len(set(decided))  # one decision per part of a run, never two
    assert not core.pending  # stopped: every part it held was decided
    for d in core.decisions:
        assert (d.decision is Disposition.PASS) == (d.reason == Reason.OK), d  # a pass says ok; a reject says why
        if d.decision is Disposition.PASS:  # on the station's pass, heard in time to fire it
            assert d.station_verdict == "pass" and d.station_reason == "ok", d
            assert d.seq is not None and d.captured_at is not None
            assert st_.heard_at[(d.run_id, d.seq)] <= d.captured_at + DELAY - MARGIN, d


def test_the_same_harness_passes_the_parts_of_a_healthy_stream() -> None:
    """The rules above are not empty: heartbeats on time and timely passes get the parts passed, in order."""
    core, st_ = GatewayCore(Timing(actuator_delay_s=DELAY, margin_s=MARGIN, heartbeat_s=BEAT)), _Station()
    with capture_logs():
        now = _healthy_start(core, st_)
        for _ in range(3):
            now = _event(core, st_, "verdict", [Reason.OK, 0.0], now)
            now = _event(core, st_, "heartbeat", [StationState.RUNNING, 0.0], now)
            now = _event(core, st_, "time", [BEAT], now)
        for _ in range(10):
            now = _event(core, st_, "heartbeat", [StationState.RUNNING, 0.0], now)
            now = _event(core, st_, "time", [BEAT], now)
    assert [(d.part_id, d.decision) for d in core.decisions] == [(k, Disposition.PASS) for k in (1, 2, 3)]
