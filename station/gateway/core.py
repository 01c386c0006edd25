"""The reference gateway's judgement, free of sockets and clocks (time is passed in).

It follows one station's stream and decides, for every part at its actuator time, pass or
reject, and at every moment whether vision is healthy. Only a positive, timely pass from a
healthy, gap-free stream passes a part; everything else rejects it, with a reason.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from station.gateway.clock import CLOCK_AHEAD_S, HeartbeatLag
from station.gateway.gaps import MAX_GAP, MAX_GAPS, Gaps, Skipped
from station.gateway.pending import DONE_KEPT, PartsPending, Pending, decision, keep
from station.gateway.reasons import Fault, GatewayReason, PartDecision
from station.ratelog import RateLimitedLog
from station.wire import Disposition, Heartbeat, Message, Reason, ResendReply, StationState, Status, Topic, VerdictMessage, shown

Heard = tuple[str, int, str, str]  # what one seq carried, as far as deciding goes: topic, part id (0: none), verdict or state, reason

log = structlog.get_logger()
JOIN_BACKFILL = 64  # a run first heard at seq <= this is followed from seq 1
MAX_SKIPPED = DONE_KEPT  # part ids lost and not yet decided, all together; more is not a stream to follow part by part: vision trips
ENDED_KEPT = 64  # runs remembered as ended: a message of one is stale (or a second station under this id), never a new run


@dataclass(frozen=True)
class Timing:
    actuator_delay_s: float
    margin_s: float
    heartbeat_s: float
    missed_heartbeats: int = 3
    resend_timeout_s: float = 0.3
    window_s: float = 0.1  # a part decided this long after its actuator time is late: the loop stalled (a slow PLC)


class GatewayCore:
    """Feed it messages with :meth:`receive` and resend replies with :meth:`resent`; call :meth:`tick`. With ``test_every``
    (commissioning: the actuator's timing) each part whose id it divides is rejected where it would pass."""

    def __init__(self, timing: Timing, station_id: str | None = None, test_every: int = 0) -> None:
        self.t = timing
        self.station_id = station_id
        self.test_every = test_every
        self.run_id: str | None = None
        self.ended: deque[str] = deque(maxlen=ENDED_KEPT)  # runs a newer run followed
        self.next_seq = 0
        self.skipped = Skipped()  # the seqs the newest jump went past, and what came under them since
        self.next_part = 1
        self.station_state: StationState | None = None  # as its newest heartbeat or status said
        self.state_seq = 0  # the seq that said it (a heartbeat or status)
        self.last_heartbeat = float("-inf")
        self.lag = HeartbeatLag(timing.heartbeat_s)  # is the station's clock behind ours
        self.gaps = Gaps()
        self.awaiting: set[int] = set()
        self.done: dict[int, tuple[str, str] | None] = {}  # part ids heard in this run (the last DONE_KEPT): (verdict, reason), None lost
        self.heard: dict[int, Heard] = {}  # what each seq of this run carried (the last DONE_KEPT seqs)
        self.forgotten_below = 0  # part ids under this were decided and may have left ``done``
        self.joined_at: tuple[int, int] | None = None  # a run joined mid-way: the seq and part id of its first verdict heard
        self.first_seq = 0  # the seq this run was first heard at (what came before it, resent, is the join's to hold)
        self.pending = PartsPending()
        self.fault = Fault.NO_STATION  # the fault holding vision down, or the last one
        self.hold_until = 0.0
        self.healthy = False
        self.reason: str = Fault.NO_STATION  # ok, a fault present now, or recovering_from_ the last one
        self.trips = dict.fromkeys(Fault, 0)
        self.decisions: list[PartDecision] = []
        self.resend_requests: list[tuple[str, int, int]] = []
        self.ignored = 0
        self._quiet = RateLimitedLog()

    # ---- input -------------------------------------------------------------------------
    def ignore(self, why: str) -> None:
        """A message that is not the contract (the service could not decode it): counted, never acted on; logged at most
        once every 10 s with a count of the rest, so that a flood of junk cannot flood the log."""
        self.ignored += 1
        self._quiet.emit("ignored", "message_ignored", level="warning", stage="gateway", why=why)

    def _ours(self, msg: Message) -> bool:
        if self.station_id is None or msg.station == self.station_id:
            return True
        self.ignore(f"station {shown(msg.station)} is not {self.station_id!r}")
        return False

    def receive(self, msg: Message, now: float) -> None:
        if not self._ours(msg):
            return
        if msg.run_id in self.ended:  # its parts were decided, or rejected when the newer run began: never again
            self.ignore(f"run {shown(msg.run_id)} ended when a newer run began")
            self._trip(now, Fault.ENDED_RUN)  # a station that is not one stream cannot be believed about its parts
            return
        if msg.run_id != self.run_id:
            self._new_run(msg, now)
        if isinstance(msg, Heartbeat):  # live: a resent one was sent long before
            self.lag.heard(now, msg.sent_at)
        seq = msg.seq
        if seq >= self.next_seq:
            if seq - self.next_seq + self.gaps.missing() > MAX_GAP:  # lost at once, never listed one by one
                self._unrecovered(now, f"seq jumped from {self.next_seq} to {seq}")
            elif seq > self.next_seq and len(self.gaps) >= MAX_GAPS:
                self._unrecovered(now, f"more than {MAX_GAPS} seq gaps open at once")
            elif seq > self.next_seq:
                self._gap(self.next_seq, seq - 1, now)
            if seq > self.next_seq:
                self.skipped.jumped(self.next_seq, seq)
            self.next_seq = seq + 1
        elif not self.gaps.fill(seq):
            if seq in self.heard or not self.skipped.below(seq):
                self._seq_again(msg, now)
                return
            self._went_back(seq, now)
        self._handle(msg, now)
        self._abandon_awaiting(now)

    def resent(self, head: ResendReply, messages: Sequence[Message], now: float) -> None:
        """A resend reply: the messages it carried, then whatever it says is gone."""
        if head.run_id != self.run_id:
            return
        for msg in messages:
            if not self._ours(msg) or msg.run_id != self.run_id:
                continue
            if self.gaps.fill(msg.seq):
                self._handle(msg, now)
            else:
                self._seq_again(msg, now)
        self._abandon_awaiting(now)
        gone = head.gone
        if gone is not None and self.gaps.any_within(*gone):
            self._unrecovered(now, f"seq {gone[0]}..{gone[1]} gone from the station's buffer")

    def _new_run(self, msg: Message, now: float) -> None:
        # parts already on the belt when a run starts (or when we join one) had verdicts we never
        # saw: vision stays unhealthy until they are past the actuator
        if self.run_id is not None:
            log.warning("station_restarted", stage="gateway", old=self.run_id, new=msg.run_id)
            self.ended.append(self.run_id)
        self.gaps.clear()
        self.lag.clear()
        self._abandon_awaiting(now)
        self._trip(now, Fault.RUN_CHANGED if self.run_id is not None else Fault.JOINED)
        self.run_id = msg.run_id
        # a run that began moments ago (ZeroMQ's slow joiner: the first messages went out before our
        # subscription arrived) is taken from seq 1, the rest asked for by resend, so that its first
        # parts are decided too; a run joined later starts where we joined, learnt from its first verdict
        seq = self.first_seq = msg.seq
        self.next_seq = 1 if seq <= JOIN_BACKFILL else seq
        self.skipped = Skipped()
        self.next_part = 1 if self.next_seq == 1 else 0
        self.done.clear()
        self.heard.clear()
        self.forgotten_below = 0
        self.joined_at = None
        self.state_seq = 0

    def _gap(self, first: int, last: int, now: float) -> None:
        assert self.run_id is not None
        self.gaps.open(first, last, now)
        self.resend_requests.append((self.run_id, first, last))
        log.warning("seq_gap", stage="gateway", first=first, last=last)

    def _went_back(self, seq: int, now: float) -> None:
        """The stream goes on below a jump whose gap was given up (:class:`Skipped`): vision trips, and the stream is
        followed from ``seq`` (before, every later message was under a seq heard past and dropped without a word: no
        heartbeat, no decision, vision down until the run changed). What the jump said of the station's state goes too."""
        self._quiet.emit("went_back", "seq_went_back", level="error", stage="gateway", seq=seq, jumped_to=self.skipped.end)
        self._trip(now, Fault.SEQ_CONFLICT)
        self.next_seq, self.skipped, self.state_seq = seq + 1, Skipped(), 0

    def _seq_again(self, msg: Message, now: float) -> None:
        """A seq heard before (or given up as lost). The same message again changes nothing; another under that seq is a
        stream gone wrong: vision trips, and a part either one is about is rejected if it is still pending. Under a seq
        too old to tell (or given up), a verdict is still held against its part's, as any second verdict is."""
        before, heard = self.heard.get(msg.seq), _heard(msg)
        if before is None and isinstance(msg, VerdictMessage) and msg.part_id in self.done:
            self._again(msg, now)
        if before is None or before == heard:  # the same again, or too old to tell: never acted on twice
            return
        self._quiet.emit("seq_conflict", "seq_conflict", level="error", stage="gateway", seq=msg.seq, before=list(before), now=list(heard))
        self._trip(now, Fault.SEQ_CONFLICT)
        parts = {x[1] for x in (before, heard) if x[0] == Topic.VERDICT}
        for p in self.pending:
            if p.part_id in parts and p.run_id == self.run_id:
                p.fault = GatewayReason.SEQ_CONFLICT

    def _handle(self, msg: Message, now: float) -> None:
        keep(self.heard, msg.seq, _heard(msg))
        if isinstance(msg, Heartbeat | Status):
            if msg.state is not StationState.RUNNING:  # however brief, and however it came (two states in one read, a
                self._trip(now, Fault.of_station(msg.state))  # resent one): parts may have gone by undecided meanwhile
            if msg.seq < self.state_seq:  # resent to fill a gap: the station's state and liveness are the newest said
                return
            self.state_seq = msg.seq
            if isinstance(msg, Heartbeat):
                self.last_heartbeat = now
                self._counted(msg.verdicts, now)
            self.station_state = msg.state
            return
        self._verdict(msg, now)

    def _verdict(self, msg: VerdictMessage, now: float) -> None:
        pid = msg.part_id
        assert self.run_id is not None
        if pid in self.done:
            self._again(msg, now, new_seq=True)
            return
        joined = self.joined_at is not None and pid < self.joined_at[1] and msg.seq > self.joined_at[0]
        if (pid < self.forgotten_below and pid not in self.awaiting) or joined:  # decided so long ago that it is forgotten
            # (never twice), or an id before the first heard on joining, sent after it: the ids went back
            self._quiet.emit(
                "backwards", "part_ids_backwards", level="error", stage="gateway", expected=self.next_part, got=pid, seq=msg.seq
            )
            self._trip(now, Fault.PART_IDS_BACKWARDS)
            return
        if self.next_part == 0:  # joined: ids before this one come only in the seqs before it (a gap resend fills)
            self.next_part, self.joined_at = pid, (msg.seq, pid)
        fault: GatewayReason | None = None  # the part's own reason to be rejected, and the fault it trips
        trip: Fault | None = None
        if not self._skipped_to(pid):
            fault, trip = GatewayReason.PART_IDS_JUMPED, Fault.PART_IDS_JUMPED
        self.next_part = max(self.next_part, pid + 1)
        self.awaiting.discard(pid)
        self._mark_done(pid, (msg.verdict, msg.reason.value))
        late = now > msg.captured_at + self.t.actuator_delay_s - self.t.margin_s or now > msg.deadline_at
        if msg.captured_at > now + CLOCK_AHEAD_S:  # judged by the gateway's clock: the part was captured about now
            fault, trip = GatewayReason.CLOCK_AHEAD, Fault.CLOCK_AHEAD
            log.error(fault, stage="gateway", part_id=pid, captured_at=msg.captured_at, now=now)
        elif (past := now - msg.captured_at - self.t.actuator_delay_s) > 0 and trip is None and msg.seq >= self.first_seq:
            self._quiet.emit("late", "verdict_after_actuator", level="error", stage="gateway", part_id=pid, late_s=round(past, 3))
            trip = Fault.VERDICT_LATE  # its part went by undecided (one sent before the run was heard: the join's hold covers it)
        if trip is not None:
            self._trip(now, trip)
        due = min(msg.captured_at, now) + self.t.actuator_delay_s
        self.pending.push(Pending(due, pid, self.run_id, msg, late, fault))

    def _again(self, msg: VerdictMessage, now: float, new_seq: bool = False) -> None:
        """A second verdict for a part, under another seq: the station sends one per part, so this is a stream gone wrong.
        Under a seq given up as lost (a resend reply after its gap was), the same verdict again, or one for a part rejected
        as lost, changes nothing. Under a seq never heard of before (``new_seq``), it trips vision whatever it says: a part
        id used twice may be a second part on the belt, which no decision is for (the blind hold rejects it), and so may a
        part's verdict after its id was given up as lost. A different verdict rejects the part, if it is still pending."""
        heard = self.done.get(msg.part_id)
        if not new_seq and (heard is None or heard == (msg.verdict, msg.reason.value)):
            log.warning("verdict_repeated", stage="gateway", part_id=msg.part_id, seq=msg.seq, lost_before=heard is None)
            return
        mine = next((p for p in self.pending if p.part_id == msg.part_id and p.run_id == self.run_id), None)
        log.error("verdict_conflict", stage="gateway", part_id=msg.part_id, seq=msg.seq, decided=mine is None)
        self._trip(now, Fault.VERDICT_CONFLICT)
        if mine is not None:
            mine.fault = GatewayReason.VERDICT_CONFLICT

    def _counted(self, sent: int, now: float) -> None:
        """A heartbeat's count of the verdicts sent before it: part ids run 1, 2, ... with one verdict each, so the parts
        past the last one heard are awaited as any part id skipped. The last verdicts of a run, lost in a gap the station
        no longer holds, had no later verdict to tell of them: they got no decision at all. Joined mid-run (no part id
        learnt yet): the count says nothing of which ids."""
        if self.next_part == 0 or sent < self.next_part:
            return
        if self._skipped_to(sent + 1):
            self.next_part = sent + 1
        else:
            self._trip(now, Fault.PART_IDS_JUMPED)

    def _skipped_to(self, pid: int) -> bool:
        """Part ids from ``next_part`` up to ``pid`` (a verdict's, or one past a heartbeat's count) were not heard: awaited
        as lost. False, with nothing awaited, when so many would be lost that this is no belt's parts (logged)."""
        lost = len(self.awaiting) + self.pending.lost(self.run_id)
        if pid - self.next_part + lost > MAX_SKIPPED:  # not parts on a belt: a stream gone wrong
            self._quiet.emit("jumped", GatewayReason.PART_IDS_JUMPED, level="error", stage="gateway", expected=self.next_part,
                             got=pid, lost_before=lost)  # fmt: skip
            return False
        if pid >= self.next_part:
            self.awaiting |= set(range(self.next_part, pid))
        return True

    def _abandon_awaiting(self, now: float) -> None:
        """Part ids skipped over with no gap left to fill them: their verdicts are lost. Each is rejected in its place in
        the order: due with the part before it, or now (one pass over the parts pending, not one per lost part)."""
        if not self.awaiting or self.gaps:
            return
        assert self.run_id is not None
        known = sorted((p.part_id, p.actuate_at) for p in self.pending if p.run_id == self.run_id)
        k, due = 0, now
        lost = sorted(self.awaiting)
        for pid in lost:
            while k < len(known) and known[k][0] < pid:
                due = max(due, known[k][1])
                k += 1
            self.pending.push(Pending(due, pid, self.run_id, None, False))
            self._mark_done(pid, None)
        log.warning("verdicts_missing", stage="gateway", first=lost[0], last=lost[-1], count=len(lost))
        self.awaiting.clear()
        self._trip(now, Fault.VERDICT_MISSING)  # the stream loses verdicts: the parts around them may have lost theirs too

    def _mark_done(self, pid: int, heard: tuple[str, str] | None) -> None:
        if (old := keep(self.done, pid, heard)) is not None:
            self.forgotten_below = max(self.forgotten_below, old + 1)

    # ---- time --------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Resend timeouts, health, and every part whose actuator time has come."""
        if self.gaps.overdue(now, self.t.resend_timeout_s):
            self._unrecovered(now, f"no resend within {self.t.resend_timeout_s:.3f} s")
        first = self.pending.first()
        if first is not None and not first.late and now > first.actuate_at + self.t.window_s:  # the loop fell behind (a stall)
            log.error("decision_late", stage="gateway", part_id=first.part_id, behind_s=round(now - first.actuate_at, 3))
            self._trip(now, Fault.DECISION_LATE)
        self._health(now)
        self._quiet.tick()
        while (due := self.pending.first()) is not None and due.actuate_at <= now:
            self.decisions.append(self._actuate(self.pending.pop(), now))

    def clock_stepped(self, step: float, now: float) -> None:
        """The gateway's wall clock jumped by ``step`` s (the service saw it against the monotonic clock): the times it
        kept by its own clock move with it, vision trips (the station's timestamps are now read against another clock),
        and the parts pending are rejected now, in order, since when each reaches the actuator can no longer be told."""
        log.error("clock_stepped", stage="gateway", step_s=round(step, 3))
        self.last_heartbeat += step
        self.hold_until += step
        self.lag.clear()  # read against the clock before the step
        self.gaps.shift(step)
        self._trip(now, Fault.CLOCK_STEPPED)
        self._reject_pending(GatewayReason.CLOCK_STEPPED, now)  # when each comes due can no longer be told (the healthy coil is down)

    def output_failed(self, part_id: int, now: float, late_s: float | None = None) -> None:
        """A part's decision never reached the PLC, or ``late_s`` after its actuator time: the PLC rejects on the coil."""
        event = "decision_not_delivered" if late_s is None else "decision_delivered_late"
        log.error(event, stage="gateway", part_id=part_id, late_s=late_s)
        self._trip(now, Fault.OUTPUT_FAILED if late_s is None else Fault.OUTPUT_LATE)

    def stop(self, now: float) -> None:
        """Every part still pending, decided now as a reject: the gateway stops before their actuator time."""
        self.gaps.clear()
        self._abandon_awaiting(now)  # parts whose verdicts were being asked for again: lost, and rejected with the rest
        self._reject_pending(GatewayReason.GATEWAY_STOPPED, now)
        self._quiet.flush()

    def _reject_pending(self, reason: GatewayReason, now: float) -> None:
        """Every part pending, rejected now, in actuator order: ``reason``, or ``missing`` where its verdict never came."""
        while self.pending:
            p = self.pending.pop()
            self.decisions.append(decision(p, reason if p.msg is not None else GatewayReason.MISSING, now))

    def _unrecovered(self, now: float, why: str) -> None:
        log.error("gap_unrecovered", stage="gateway", why=why)
        self.gaps.clear()
        self._abandon_awaiting(now)
        self._trip(now, Fault.GAP)  # the cause, named last

    def _trip(self, now: float, fault: Fault) -> None:
        self.fault = fault
        self.hold_until = max(self.hold_until, now + self.t.actuator_delay_s)

    def _health(self, now: float) -> None:
        silent = now - self.last_heartbeat > self.t.missed_heartbeats * self.t.heartbeat_s
        if silent:  # never heard since the gateway started, or heard and gone quiet (its clock to be told again)
            live: Fault | None = Fault.NO_HEARTBEAT if self.run_id is not None else Fault.NO_STATION
            self.lag.clear()
        elif self.lag.behind(now):
            live = Fault.CLOCK_BEHIND
        else:
            live = None if self.station_state is StationState.RUNNING else Fault.of_station(self.station_state)
        if live is not None:  # a present fault keeps the hold a full actuator delay ahead
            self._trip(now, live)
        ok = live is None and now >= self.hold_until and self.lag.known(now)  # a clock not yet known to be ours: held on
        reason = "ok" if ok else (live or self.fault.recovering())
        if ok != self.healthy:
            log.info("vision_healthy" if ok else "vision_unhealthy", stage="gateway", reason=reason, last_heartbeat=self.last_heartbeat)
            if not ok:
                self.trips[self.fault] += 1  # each time vision goes unhealthy, by the fault that took it down
        self.healthy, self.reason = ok, reason

    def _actuate(self, p: Pending, now: float) -> PartDecision:
        m = p.msg
        if m is None:  # its verdict was lost
            reason: str = GatewayReason.MISSING
        elif p.late:
            reason = GatewayReason.LATE
        elif p.fault is not None:
            reason = p.fault
        elif now > p.actuate_at + self.t.window_s:  # the loop fell behind (a slow PLC): the part is past the actuator
            self._trip(now, Fault.DECISION_LATE)
            reason = GatewayReason.VISION_UNHEALTHY
        elif self.gaps.any_within(0, m.seq - 1):  # a verdict lost ahead of it (the stream is in order): that part went by undecided
            self._trip(now, Fault.GAP)
            reason = GatewayReason.VISION_UNHEALTHY
        elif not self.healthy or p.actuate_at <= self.hold_until:  # on the belt when vision tripped, whenever the loop got to it
            reason = GatewayReason.VISION_UNHEALTHY
        elif m.verdict == Disposition.PASS and m.reason is Reason.OK:
            reason = GatewayReason.TEST_REJECT if self.test_every and m.part_id % self.test_every == 0 else Reason.OK
        else:
            reason = m.reason.value
        return decision(p, reason, now)

    def next_due(self) -> float | None:
        first = self.pending.first()
        return first.actuate_at if first is not None else None


def _heard(msg: Message) -> Heard:
    if isinstance(msg, VerdictMessage):
        return (Topic.VERDICT, msg.part_id, msg.verdict, msg.reason.value)
    return (Topic.HEARTBEAT, 0, "", "") if isinstance(msg, Heartbeat) else (Topic.STATUS, 0, msg.state.value, "")
