"""The gateway's service loop against a peer that sends what no station sends, and against its own clock stepping."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
import structlog.testing

from station.gateway import service
from station.gateway.reasons import PartDecision
from station.gateway.service import MAX_MESSAGE, READ_BATCH

from ..conftest import wait_for
from .conftest import Line, Recorder, StationPub, finish
from .plc import Plc

pytestmark = pytest.mark.integration  # real sockets and threads


def test_junk_a_decoder_chokes_on_never_kills_the_gateway_and_a_stop_rejects_the_parts_still_due(line: Line, gateways: Any) -> None:
    pub = StationPub(line.config().publisher.endpoint, run := "e1e1e1e1e1e1e1e1", pause=0)
    gw, rec = gateways(line.config("gateway.actuator_delay_ms=5000", "publisher.resend_endpoint=null"))
    try:
        assert wait_for(lambda: pub.beat() and gw.core.run_id == run, 5)  # subscribed
        body = b'{"v": 1, "station": "station-1", "run_id": "' + run.encode() + b'", "seq": 99, "sent_at": 1' + b"0" * 400 + b"}"
        pub.sock.send_multipart([b"heartbeat", body])  # a float too large for a float: OverflowError in a lax decoder
        pub.verdict(1)
        assert wait_for(lambda: pub.beat() and len(gw.core.pending) == 1, 5)
        assert gw.core.ignored >= 1 and gw.failed is None and gw.is_alive()
        ignored = gw.core.ignored
        pub.sock.send_multipart([b"heartbeat", b"x" * 200_000])  # over the socket's message size: libzmq drops the peer, never reads it
        time.sleep(0.2)
        assert gw.failed is None and gw.is_alive() and gw.core.ignored == ignored  # never handed to Python
    finally:
        pub.close()
    gw.stop()
    gw.join(5)
    assert gw.failed is None and [(d.part_id, d.decision, d.reason) for d in rec.parts] == [(1, "reject", "gateway_stopped")]
    assert rec.health[-1][1:] == (False, "gateway_stopped")


def test_a_frame_over_the_bound_loses_the_stream_only_until_the_gateway_dials_again(line: Line, gateways: Any) -> None:
    """libzmq drops a peer that sent a frame over MAXMSGSIZE and never dials it again: the gateway makes new sockets."""
    pub = StationPub(line.config().publisher.endpoint, run := "f2f2f2f2f2f2f2f2")
    gw, _ = gateways(line.config("publisher.resend_endpoint=null", "publisher.heartbeat_ms=100"))
    try:
        assert wait_for(lambda: pub.beat() and gw.core.run_id == run, 5)  # subscribed
        pub.sock.send_multipart([b"heartbeat", b"x" * (MAX_MESSAGE + 1)])
        lost = next(pub.seq)
        assert wait_for(lambda: pub.beat() and gw.core.next_seq > lost + 20, 15)  # heard again, within the redial bound and a few beats
    finally:
        pub.close()


class _FakeResend:
    """A station's stream (``pub``) and, bound on its resend endpoint, a ROUTER that answers the gateway's requests as a test
    says; ``gw`` follows them (:meth:`subscribed`: to run ``run``)."""

    def __init__(self, line: Line, gateways: Any, run: str) -> None:
        import zmq

        cfg = line.config("publisher.heartbeat_ms=100")
        self.run, self.pub = run, StationPub(cfg.publisher.endpoint, run)
        self.router: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        assert cfg.publisher.resend_endpoint is not None
        self.router.bind(cfg.publisher.resend_endpoint)
        self.gw, _ = gateways(cfg)

    def subscribed(self) -> bool:
        """The gateway follows the run (within 5 s)."""
        return wait_for(lambda: self.pub.beat() and self.gw.core.run_id == self.run, 5)

    def asked(self) -> list[bytes] | None:
        """The next resend request, after a seq the gateway never got (None when none came within a second)."""
        next(self.pub.seq)  # a gap
        self.pub.beat()
        return self.router.recv_multipart() if self.router.poll(1000) else None

    def close(self) -> None:
        self.router.close(0)
        self.pub.close()


def test_a_resend_reply_over_the_bound_loses_resend_only_until_the_gateway_dials_it_again(line: Line, gateways: Any) -> None:
    """libzmq drops a peer that sent a frame over MAXMSGSIZE and never dials it again: the resend DEALER was dead for good,
    every later gap lost (each part rejected missing) while the stream was heard. It is remade once a request goes
    unanswered, and the next gap is asked for again."""
    from station.wire import ResendRequest

    fake = _FakeResend(line, gateways, run := "e5e5e5e5e5e5e5e5")
    try:
        assert fake.subscribed()
        first = next((r for r in (fake.asked() for _ in range(5)) if r is not None), None)
        assert first is not None and ResendRequest.decode(first[2]).run_id == run
        fake.router.send_multipart([first[0], b"resend", b"x" * (MAX_MESSAGE + 1)])  # the DEALER drops the station for good
        again = [r for r in (fake.asked() for _ in range(15)) if r is not None]  # within the redial bound (2 s) and a few gaps
        assert again and ResendRequest.decode(again[-1][2]).run_id == run
    finally:
        fake.close()


def test_a_resend_reply_whose_frames_are_not_its_count_is_ignored_whole_never_read_frame_by_frame(line: Line, gateways: Any) -> None:
    """A reply is its header and ``count`` messages of two frames. One with 400k frames was read pair by pair (0.7 s with
    the loop held, every part due meanwhile rejected); now one that does not match its count is ignored at once, once."""
    from station.wire import ResendReply, ResendRequest

    fake = _FakeResend(line, gateways, run := "f6f6f6f6f6f6f6f6")
    try:
        assert fake.subscribed()
        asked = next((r for r in (fake.asked() for _ in range(5)) if r is not None), None)
        assert asked is not None
        req = ResendRequest.decode(asked[2])
        head = ResendReply(run_id=run, first=req.first, last=req.last, count=0).encode()
        before = fake.gw.core.ignored
        fake.router.send_multipart([asked[0], b"resend", head] + [b"junk"] * 20_000)
        assert wait_for(lambda: fake.gw.core.ignored > before, 5)
        time.sleep(0.2)  # the rest of the loop's turn
        assert fake.gw.core.ignored == before + 1 and fake.gw.is_alive()
    finally:
        fake.close()


def test_a_station_on_an_ipv6_address_is_followed(line: Line, gateways: Any) -> None:
    """libzmq connects to a bracketed IPv6 address only with its IPV6 option: without it the gateway waited, silent."""
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 on this machine")
    pub = StationPub("tcp://[::1]:*", run := "a6a6a6a6a6a6a6a6")
    gw, _ = gateways(line.config(f"publisher.endpoint={pub.endpoint}", "publisher.resend_endpoint=null"))
    try:
        assert wait_for(lambda: pub.beat() and gw.core.run_id == run, 10)
    finally:
        pub.close()


class SteppedTime:
    """The time module, with a wall clock that a test can step (the monotonic clock runs on)."""

    shift = 0.0
    monotonic = staticmethod(time.monotonic)

    def time(self) -> float:
        return time.time() + self.shift


def stepped_time(monkeypatch: pytest.MonkeyPatch) -> SteppedTime:
    """The gateway service's time module replaced by one whose wall clock the test steps."""
    clock = SteppedTime()
    monkeypatch.setattr(service, "time", clock)
    return clock


def test_a_step_of_the_gateways_wall_clock_is_noticed_and_trips_vision(
        line: Line, gateways: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip

    clock = stepped_time(monkeypatch)
    pub = StationPub(line.config().publisher.endpoint, "c0c0c0c0c0c0c0c0", pause=0.02, clock=clock.time)
    gw, _rec = gateways(line.config("publisher.resend_endpoint=null", "gateway.actuator_delay_ms=100"))
    try:
        assert wait_for(lambda: pub.beat() and gw.core.healthy, 10)
        clock.shift = 30.0  # an NTP step at boot, say
        assert wait_for(lambda: pub.beat() and gw.core.fault == "clock_stepped", 5)
        assert not gw.core.healthy and gw.failed is None
    finally:
        pub.close()


def test_the_plcs_alive_count_goes_on_when_the_gateways_wall_clock_steps_back(
        line: Line, gateways: Any, plc: Plc, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The alive count is timed on the monotonic clock: timed on the wall clock, a step back of 30 s stopped it for 30 s,
    and a PLC that watches it rejected every part meanwhile."""
    pytest.importorskip("pymodbus", reason="the Modbus adapter needs the modbus extra (pymodbus)")
    from station.gateway.outputs import ModbusOutput

    clock = stepped_time(monkeypatch)
    cfg = line.config("publisher.resend_endpoint=null", f"gateway.modbus.port={plc.port}", "gateway.modbus.alive_ms=50")
    out = ModbusOutput(cfg.gateway.modbus)
    gateways(cfg, rec=out)
    alive = cfg.gateway.modbus.alive_address()

    def counts() -> int:
        return sum(1 for kind, addr, _ in plc.log() if kind == "register" and addr == alive)

    assert wait_for(lambda: counts() >= 3, 5)
    clock.shift = -30.0
    time.sleep(0.2)  # a tick may have been timed before the step
    before = counts()
    assert wait_for(lambda: counts() >= before + 5, 5)  # 50 ms apart: well under 5 s, never 30


class BrokenOutput(Recorder):
    """An output with a bug: it raises on a part (or, ``at_close``, as it closes); it keeps the order it was told things in."""

    def __init__(self, at_close: bool = False) -> None:
        super().__init__()
        self.at_close, self.told = at_close, list[str]()

    def part(self, d: PartDecision) -> bool:
        if self.at_close:
            return super().part(d)
        raise RuntimeError("a bug in an output")

    def healthy(self, ok: bool, reason: str) -> None:
        super().healthy(ok, reason)
        self.told.append(f"healthy {ok}")

    def close(self) -> None:
        super().close()
        self.told.append("close")
        if self.at_close:
            raise OSError("the PLC's socket would not close")


def test_a_gateway_whose_loop_fails_says_so_and_drops_the_healthy_coil_first(line: Line, gateways: Any) -> None:
    pub = StationPub(line.config().publisher.endpoint, "f0f0f0f0f0f0f0f0", pause=0.02)
    with structlog.testing.capture_logs() as logs:
        gw, rec = gateways(line.config("publisher.resend_endpoint=null", "gateway.actuator_delay_ms=100"), rec=BrokenOutput())
        try:
            assert wait_for(lambda: pub.beat() and gw.core.healthy, 10)
            pub.verdict(1, deadline_s=0.05)
            assert wait_for(lambda: not gw.is_alive(), 5)
        finally:
            pub.close()
    assert isinstance(gw.failed, RuntimeError) and rec.closed
    assert rec.health[-1][1:] == (False, "gateway_stopped")  # the PLC rejects every part from then on
    assert rec.told[-2:] == ["healthy False", "close"]  # the coil dropped first
    assert [e["error"] for e in logs if e["event"] == "stage_failed"] == ["RuntimeError: a bug in an output"]


def test_an_output_that_fails_to_close_at_a_clean_stop_is_the_gateways_failure(line: Line, gateways: Any) -> None:
    """Before, it left the thread by threading.excepthook: failed stayed None and station gateway exited 0."""
    pub = StationPub(line.config().publisher.endpoint, "f1f1f1f1f1f1f1f1", pause=0.02)
    rec = BrokenOutput(at_close=True)
    gw, _ = gateways(line.config("publisher.resend_endpoint=null"), rec=rec)
    try:
        assert wait_for(lambda: pub.beat() and gw.core.healthy, 10)
    finally:
        pub.close()
    gw.stop()
    gw.join(5)
    assert isinstance(gw.failed, OSError) and rec.told[-2:] == ["healthy False", "close"]


class RefusingPlc(Recorder):
    """A PLC whose writes all fail (ModbusOutput.part returns False when the PLC does not take a decision)."""

    def part(self, d: PartDecision) -> bool:
        self.parts.append(d)
        return False


def test_a_decision_the_plc_did_not_take_trips_vision(line: Line, gateways: Any) -> None:
    pub = StationPub(line.config().publisher.endpoint, "d0d0d0d0d0d0d0d0", pause=0.02)
    gw, rec = gateways(line.config("publisher.resend_endpoint=null", "gateway.actuator_delay_ms=100"), rec=RefusingPlc())
    try:
        assert wait_for(lambda: pub.beat() and gw.core.healthy, 10)
        pub.verdict(1, deadline_s=0.05)
        assert wait_for(lambda: pub.beat() and bool(rec.health) and rec.health[-1][1:] == (False, "recovering_from_output_failed"), 5)
        assert [(d.part_id, d.decision) for d in rec.parts] == [(1, "pass")] and gw.core.fault == "output_failed"
    finally:
        pub.close()


def test_verdicts_that_came_while_the_loop_was_held_up_get_their_line_at_a_stop(line: Line, gateways: Any) -> None:
    """A slow PLC holds the loop; verdicts queue unread; SIGTERM: each was left without a line. More than one read's batch
    (READ_BATCH): the stop read one batch, and the rest had no line. The healthy coil goes to 0 before they are read."""
    held, blocked, release = threading.Event(), threading.Event(), threading.Event()
    heard_at_stop: list[int] = []

    class SlowPlc(Recorder):
        def tick(self, now: float) -> None:
            if held.is_set() and not release.is_set():
                blocked.set()
                release.wait(10)

        def healthy(self, ok: bool, reason: str) -> None:
            super().healthy(ok, reason)
            if reason == "gateway_stopped":
                heard_at_stop.append(gw.core.next_seq)  # the seq it waits for next: how far it had read

    pub = StationPub(line.config().publisher.endpoint, run := "b7b7b7b7b7b7b7b7")
    rec = SlowPlc()
    gw, _ = gateways(line.config("gateway.actuator_delay_ms=5000", "publisher.resend_endpoint=null"), rec)
    try:
        assert wait_for(lambda: pub.beat() and gw.core.run_id == run, 5)  # subscribed, from seq 1
        held.set()
        assert blocked.wait(5)  # the loop is inside the PLC
        parts, pub.pause = range(1, 2 * READ_BATCH + 100), 0.0
        for part in parts:
            pub.verdict(part)
        time.sleep(1.0)  # in the gateway's socket, unread (loopback TCP delivers in well under this)
        gw.stop()
    finally:
        release.set()
        pub.close()
    gw.join(5)
    assert [(d.part_id, d.decision, d.reason) for d in rec.parts] == [(p, "reject", "gateway_stopped") for p in parts]
    assert heard_at_stop and heard_at_stop[0] < 10, "the healthy coil stayed 1 while the stop read the verdicts queued"


def test_station_gateway_exits_1_when_an_output_blocks_its_stop(
        line: Line, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from station import cli
    from station.signals import SIGNALS

    release = threading.Event()

    class StuckPlc(Recorder):
        def close(self) -> None:  # a PLC connection that hangs as it closes
            release.wait(10)

    monkeypatch.setattr(service, "build_outputs", lambda cfg, out, registry=None: [StuckPlc()])
    monkeypatch.setattr(service, "GATEWAY_STOP_S", 0.5)
    SIGNALS.stop.set()  # SIGTERM as it starts
    try:
        code = cli.main(["gateway", *[a for o in line.overrides for a in ("--set", o)], "--out", str(line.out)])
    finally:
        SIGNALS.consume()
        release.set()
    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "station: error: gateway did not stop within 0.5 s (an output is blocked); stopping anyway"
    )


def test_a_loop_blocked_in_an_output_past_its_bound_is_hung_and_turns_again_when_it_returns(line: Line, gateways: Any) -> None:
    """What systemd's watchdog is told: a gateway whose loop stopped turning (an output that never returns) is hung, however
    healthy it was; one that turns again is not."""
    block, blocked = threading.Event(), threading.Event()
    release = threading.Event()

    class Stalling(Recorder):
        def tick(self, now: float) -> None:  # every turn of the loop; once told to, it blocks until released
            if block.is_set():
                blocked.set()
                release.wait(10)

    gw, _ = gateways(line.config(), Stalling())
    gw.stall_s = 0.5
    assert wait_for(lambda: gw.hung() is None, 5)
    block.set()
    assert blocked.wait(5)
    assert wait_for(lambda: (gw.hung() or "").startswith("the gateway's loop has made no progress for"), 5)
    block.clear()
    release.set()
    assert wait_for(lambda: gw.hung() is None, 5)
    gw.stop()
    gw.join(5)
    assert gw.hung() == "the gateway's loop ended"
    assert gw.status() == ("vision unhealthy (no_station)", 0)  # what STATUS= says: no station heard, no part decided


def test_a_slow_output_with_many_parts_due_at_once_is_slow_not_hung(line: Line, gateways: Any) -> None:
    """A PLC that answers, slower than parts come, makes each turn of the loop long (every part due is delivered in it), but
    each part delivered is progress: the watchdog is never withheld for it (systemd would kill a gateway that works)."""

    class Slow(Recorder):
        def part(self, d: PartDecision) -> bool:
            time.sleep(0.2)  # each part's requests answered late, none failed
            return super().part(d)

    gw, rec = gateways(line.config("gateway.actuator_delay_ms=100"), Slow())
    gw.stall_s = 0.6  # three slow parts in one turn would pass it
    hung: list[str] = []
    proc = line.station(fps=16)
    end = time.monotonic() + 60
    while (proc.poll() is None or len(rec.parts) < len(line.verdicts())) and time.monotonic() < end:
        if (why := gw.hung()) is not None:
            hung.append(why)
        time.sleep(0.05)
    finish(proc)
    assert len(rec.parts) == len(line.verdicts()) == 18 and hung == []
    assert any(d.reason == "vision_unhealthy" for d in rec.parts)  # decided late, so vision tripped: slow is still not safe


def test_a_decision_the_plc_takes_only_after_its_actuator_time_trips_vision(line: Line, gateways: Any) -> None:
    """A PLC that answers every request, but slower than the time a part allows: its decisions were latched after the
    part had gone (1.35 s late) while vision stayed healthy, with no word. Now the first one late trips vision."""

    class SlowPlc(Recorder):
        def part(self, d: PartDecision) -> bool:
            time.sleep(0.4)  # answered, under any request timeout, after the part's actuator time
            return super().part(d)

    pub = StationPub(line.config().publisher.endpoint, "c8c8c8c8c8c8c8c8")
    gw, rec = gateways(line.config("publisher.resend_endpoint=null"), SlowPlc())
    try:
        assert wait_for(lambda: pub.beat() and gw.core.healthy, 10), gw.core.reason
        pub.verdict(1)
        assert wait_for(lambda: pub.beat() and bool(rec.parts), 10)
        assert wait_for(lambda: pub.beat() and gw.core.fault == "output_late" and not rec.healthy_at(time.time()), 5), gw.core.fault
    finally:
        pub.close()
    assert [(d.part_id, d.decision) for d in rec.parts] == [(1, "pass")]  # on time at the station, late at the PLC


def test_passes_due_together_that_a_slow_plc_would_take_late_are_written_as_rejects_after_the_healthy_coil_drops(
        line: Line, gateways: Any) -> None:  # fmt: skip
    """Five passes due at once, a PLC taking 0.2 s a part (under its timeout): each was written as a pass, the last 0.8 s
    past its actuator time, the healthy coil dropped only after the last (before 2026-12-07). Now the first one late
    trips vision, the PLC is told so at once, and each pass after it is written as a reject."""
    told: list[str] = []

    class SlowPlc(Recorder):
        def part(self, d: PartDecision) -> bool:
            told.append(f"part {d.part_id} {d.decision}")
            time.sleep(0.2)
            return super().part(d)

        def healthy(self, ok: bool, reason: str) -> None:
            told.append(f"healthy {ok}")
            super().healthy(ok, reason)

    frozen: list[float] = []
    pub = StationPub(line.config().publisher.endpoint, "eaeaeaeaeaeaeaea", clock=lambda: frozen[0] if frozen else time.time())
    gw, rec = gateways(line.config("publisher.resend_endpoint=null"), SlowPlc())
    try:
        assert wait_for(lambda: pub.beat() and gw.core.healthy, 10), gw.core.reason
        frozen.append(time.time())
        for part in range(1, 6):
            pub.verdict(part, deadline_s=1.0)  # five parts captured together: due together
        frozen.clear()
        assert wait_for(lambda: pub.beat() and len(rec.parts) == 5, 10)
    finally:
        pub.close()
    # part 1 is written when its actuator time comes (a pass, or a reject if this machine woke the loop 0.1 s late)
    assert [(d.part_id, d.decision, d.reason) for d in rec.parts][1:] == [(p, "reject", "vision_unhealthy") for p in range(2, 6)]
    assert told.index("healthy False") < told.index("part 2 reject"), told  # the PLC told before the next part's decision


def test_a_stop_drops_the_healthy_coil_first_and_tells_a_slow_plc_its_pending_parts_for_a_bounded_time(
        line: Line, gateways: Any) -> None:  # fmt: skip
    """20 parts pending and a PLC taking 0.3 s a part: the stop wrote every part's reject first, the healthy coil last;
    the gateway overran its 5 s (exit 1), parts were left without a line, and the coil stayed 1."""
    told: list[str] = []

    class SlowPlc(Recorder):
        skip = False

        stop_at = float("inf")

        def part(self, d: PartDecision) -> bool:
            told.append(f"part {d.part_id} {d.reason}")
            if not self.skip and time.monotonic() < self.stop_at:
                time.sleep(0.3)
            return super().part(d)

        def healthy(self, ok: bool, reason: str) -> None:
            told.append(f"healthy {ok}")
            super().healthy(ok, reason)

        def stopping(self, at: float | None = None) -> None:  # as the Modbus output does: no more requests to the PLC
            if at is None:
                self.skip = True
            else:
                self.stop_at = min(self.stop_at, at)

    pub = StationPub(line.config().publisher.endpoint, "d9d9d9d9d9d9d9d9")
    gw, _ = gateways(line.config("gateway.actuator_delay_ms=8000", "publisher.resend_endpoint=null"), SlowPlc())
    try:
        assert wait_for(lambda: pub.beat() and gw.core.run_id is not None, 5)
        for part in range(1, 21):
            pub.verdict(part, deadline_s=8.0)
        assert wait_for(lambda: len(gw.core.pending) == 20, 5)
        started = time.monotonic()
        gw.stop()
        gw.join(5)
        assert not gw.is_alive() and time.monotonic() - started < 4.5
    finally:
        pub.close()
    stopped = [t for t in told if t.endswith("gateway_stopped")]
    assert len(stopped) == 20 and told.index("healthy False") < told.index(stopped[0])
