"""The gateway's judgement of a stream gone wrong: ids that skip, jump or go back, seqs reused, floods (no sockets)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from station.gateway.core import GatewayCore
from station.gateway.reasons import Fault
from station.wire import CameraState, Disposition, Reason, ResendReply, StationState, Status

from .stream import FakeStation, T, healthy_core, run_to


def test_a_part_decided_so_long_ago_that_it_is_forgotten_is_never_decided_again() -> None:
    from station.gateway.pending import DONE_KEPT

    st = FakeStation()
    core = healthy_core(st)
    first = st.verdict(captured_at=1.6, verdict="reject", reason="defect")
    core.receive(first, 1.6)
    st.part += DONE_KEPT - 1  # lost, with no gap to fill: enough to push part 1 out of what the core remembers
    core.receive(st.verdict(captured_at=1.62), 1.62)
    assert first.part_id not in core.done
    st.seq += 1
    core.receive(replace(first, seq=st.seq, verdict=Disposition.PASS, reason=Reason.OK), 1.64)  # part 1 again, now a pass
    run_to(core, st, 1.65, 2.8)
    assert [d.decision for d in core.decisions if d.part_id == 1] == ["reject"]  # once, as the station said
    assert core.fault == "part_ids_backwards"


def test_a_flood_of_verdicts_each_skipping_part_ids_never_lists_more_than_max_skipped_lost_parts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from station.gateway.core import MAX_SKIPPED

    st = FakeStation()
    core = healthy_core(st)
    for i in range(300):
        st.part += MAX_SKIPPED  # each verdict alone skips as many as may be listed
        core.receive(st.verdict(captured_at=1.6 + i / 10000), 1.6 + i / 10000)
    assert sum(1 for p in core.pending if p.msg is None) <= MAX_SKIPPED and len(core.pending) <= MAX_SKIPPED + 300
    run_to(core, st, 1.65, 2.8)
    assert core.fault == "part_ids_jumped" and all(d.decision == "reject" for d in core.decisions)
    assert capsys.readouterr().out.count("part_ids_jumped") <= 2  # the log says so once, not once a message


def test_another_verdict_under_a_seq_already_heard_trips_vision_and_rejects_the_part() -> None:
    st = FakeStation()
    core = healthy_core(st)
    v = st.verdict(captured_at=1.6)
    core.receive(v, 1.6)
    core.receive(v, 1.61)  # the same message again: nothing changes
    assert core.healthy and core.fault != "seq_conflict"
    core.receive(replace(v, verdict=Disposition.REJECT, reason=Reason.DEFECT, score=0.9), 1.62)  # the same seq, another verdict
    core.resent(ResendReply(run_id="run-a", first=v.seq, last=v.seq, count=1), [replace(v, part_id=7)], 1.63)
    run_to(core, st, 1.65, 2.7)
    assert [(d.part_id, d.decision, d.reason) for d in core.decisions] == [(1, "reject", "seq_conflict")]
    assert core.fault == "seq_conflict"


def test_part_ids_skipped_without_a_seq_gap_reject_the_lost_part_and_trip_vision() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.5), 1.6)
    st.part += 1  # part 2 never sent, yet no seq is missing
    core.receive(st.verdict(captured_at=1.55), 1.65)  # parts 3 and 4, on the belt when the loss showed
    core.receive(st.verdict(captured_at=1.58), 1.66)
    run_to(core, st, 1.75, 2.8)
    assert [(d.part_id, d.reason) for d in core.decisions] == [
        (1, "vision_unhealthy"), (2, "missing"), (3, "vision_unhealthy"), (4, "vision_unhealthy")]  # fmt: skip
    assert core.fault == "verdict_missing"


def test_a_verdict_under_a_seq_given_up_as_lost_is_still_held_against_its_parts_verdict() -> None:
    st = FakeStation()
    core = healthy_core(st)
    lost = st.verdict(captured_at=1.5)  # part 1: its seq never arrives, and the station no longer holds it
    core.receive(st.verdict(captured_at=1.55), 1.56)  # part 2: pass
    core.resent(ResendReply(run_id="run-a", first=lost.seq, last=lost.seq, gone=(lost.seq, lost.seq), count=0), [], 1.57)
    run_to(core, st, 1.6, 4.0)  # vision tripped by the gap, and back
    assert [(d.part_id, d.reason) for d in core.decisions] == [(1, "missing"), (2, "vision_unhealthy")] and core.healthy
    core.receive(lost, 4.01)  # part 1's verdict after all, under the seq given up: it was rejected as lost, nothing changes
    assert core.healthy
    core.receive(replace(lost, part_id=2, verdict=Disposition.REJECT, reason=Reason.DEFECT, score=0.9), 4.02)  # part 2, another verdict
    assert core.fault == "verdict_conflict" and len(core.decisions) == 2


def test_a_message_from_another_station_is_ignored_in_a_log_line_of_bounded_size(capsys: pytest.CaptureFixture[str]) -> None:
    core = GatewayCore(T, station_id="station-1")
    st = FakeStation()
    beat = st.beat()
    core.receive(replace(beat, station="s" * 60_000), 1.5)  # a 64 KiB frame's worth of name, echoed whole before
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "message_ignored" in x]
    assert core.ignored == 1 and "is not 'station-1'" in line and len(line) < 600


def test_more_seq_gaps_open_at_once_than_max_gaps_are_lost_at_once() -> None:
    from station.gateway.gaps import MAX_GAPS

    st = FakeStation()
    core = healthy_core(st)
    for _ in range(MAX_GAPS + 10):
        st.seq += 1  # one seq lost before each heartbeat
        core.receive(st.beat(), 1.6)
    assert len(core.gaps) <= MAX_GAPS and core.fault == "gap"


def test_a_part_due_when_the_hold_ends_is_rejected_however_late_the_loop_decides_it() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.5), 1.6)
    st.part += 1  # part 2 lost: vision trips at 1.65, held until 2.65
    core.receive(st.verdict(captured_at=1.7), 1.65)  # part 3, timed from its arrival (the station's clock a little ahead): due 2.65
    run_to(core, st, 1.7, 2.6)
    core.receive(st.beat(), 2.7)
    core.tick(2.7)  # the loop gets to it only after the hold has ended
    assert [(d.part_id, d.reason) for d in core.decisions][-1] == (3, "vision_unhealthy") and core.healthy


def test_a_stray_part_id_far_ahead_never_costs_the_parts_after_it_their_decisions() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.6)
    core.receive(replace(st.verdict(captured_at=1.62), part_id=10_000_000), 1.62)  # part 2 arrives with a corrupt id
    st.part = 2
    for i in range(5):  # parts 3..7 carry on
        core.receive(st.verdict(captured_at=1.64 + i * 0.02), 1.64 + i * 0.02)
    run_to(core, st, 1.7, 3.0)
    assert sorted(d.part_id for d in core.decisions) == [1, 3, 4, 5, 6, 7, 10_000_000]
    reasons = {d.part_id: d.reason for d in core.decisions}
    assert reasons[10_000_000] == "part_ids_jumped" and reasons[1] == "vision_unhealthy"  # on the belt when vision tripped


def test_a_gateway_that_joins_a_run_decides_its_first_parts_when_resend_fills_them() -> None:
    st = FakeStation()
    st.seq, st.part = 500, 99  # the station has been running a while
    core = GatewayCore(T, "station-1")
    core.receive(st.beat(), 0.0)  # joined at seq 501
    core.tick(0.0)
    lost = [st.verdict(captured_at=0.05 + i * 0.01) for i in range(4)]  # parts 100..103, lost on the way
    core.receive(st.verdict(captured_at=0.1), 0.1)  # part 104: seqs 502..505 asked for again
    core.resent(ResendReply(run_id="run-a", first=502, last=505, count=4), lost, 0.15)
    run_to(core, st, 0.2, 1.5)
    assert sorted(d.part_id for d in core.decisions) == [100, 101, 102, 103, 104] and core.fault == "joined"


def test_verdicts_resent_from_before_a_young_run_was_joined_are_the_joins_to_hold_not_a_late_station() -> None:
    """A gateway restarted in a run's first seconds asks for its first messages again: their parts are past the actuator,
    and each tripped vision as a verdict the station sent late (``verdict_late``), an error line each (found by review)."""
    st = FakeStation()
    old = [st.verdict(captured_at=0.0) for _ in range(5)]  # seqs 1..5, before the gateway was there
    core = GatewayCore(T, "station-1")
    core.receive(st.beat(at=3.0), 3.0)  # joined at seq 6: seqs 1..5 asked for again
    core.resent(ResendReply(run_id="run-a", first=1, last=5, count=5), old, 3.05)
    assert core.fault == "joined"
    core.receive(st.verdict(captured_at=1.0), 3.1)  # sent after the join, 1.1 s after its part's actuator time
    assert core.fault == "verdict_late"


def test_a_forward_clock_step_rejects_the_parts_pending_at_once_in_order() -> None:
    st = FakeStation()
    core = healthy_core(st)
    for t in (1.6, 1.7):
        core.receive(st.verdict(captured_at=t), t)
    core.clock_stepped(10.0, 11.75)
    assert [(d.part_id, d.decision, d.reason) for d in core.decisions] == [(1, "reject", "clock_stepped"), (2, "reject", "clock_stepped")]


def test_a_clock_step_rejects_a_part_whose_verdict_was_lost_as_missing_in_its_place() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.6)
    st.verdict(captured_at=1.65)  # part 2: its verdict lost on the way
    core.receive(st.verdict(captured_at=1.7), 1.7)
    core.tick(2.05)  # the gap was not filled within the resend timeout: part 2 is lost, pending in its place
    assert not core.gaps and [d.part_id for d in core.decisions] == []
    core.clock_stepped(10.0, 12.1)
    assert [(d.part_id, d.reason) for d in core.decisions] == [(1, "clock_stepped"), (2, "missing"), (3, "clock_stepped")]


def test_a_stop_rejects_parts_whose_verdicts_were_being_asked_for_again_too() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.6)
    st.verdict(captured_at=1.65)  # part 2: its verdict lost on the way, its seq a gap being asked for again
    core.receive(st.verdict(captured_at=1.7), 1.7)
    assert core.gaps
    core.stop(1.75)
    assert [(d.part_id, d.reason) for d in core.decisions] == [(1, "gateway_stopped"), (2, "missing"), (3, "gateway_stopped")]


def test_a_station_whose_state_this_gateway_does_not_know_is_a_fault_not_a_dead_gateway() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.station_state = None  # as if no state were known (the decoder refuses one outside the contract before the core)
    core.tick(1.6)
    assert not core.healthy and core.reason == "station_not_running"


def test_a_heartbeat_resent_after_a_newer_stopping_status_never_makes_the_station_look_running() -> None:
    """The station's state and liveness are what its newest message said: a gap filled later changes neither."""
    st = FakeStation()
    core = healthy_core(st)
    lost = st.beat()  # running, lost on the way
    core.receive(Status(**st.envelope(), state=StationState.STOPPING, camera=CameraState.ENDED), 1.7)
    core.tick(1.7)
    core.resent(ResendReply(run_id=st.run_id, first=lost.seq, last=lost.seq, gone=None, count=1), [lost], 1.71)
    assert core.station_state is StationState.STOPPING and core.last_heartbeat == 1.5
    for t in (1.8, 2.2, 2.6, 3.0):  # past the hold of the trip (1.0 s), past three heartbeat intervals
        core.tick(t)
        assert not core.healthy


def test_a_part_id_before_the_first_heard_on_joining_sent_after_it_trips_vision_and_is_never_decided() -> None:
    st = FakeStation()
    st.seq, st.part = 500, 40  # a run joined long after it began
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.62)  # part 41
    st.part = 10  # the station's part ids go back
    core.receive(st.verdict(captured_at=1.7), 1.72)  # part 11, under a later seq
    run_to(core, st, 1.75, 3.0)
    assert [(d.part_id, d.reason) for d in core.decisions] == [(41, "vision_unhealthy")]
    assert core.trips[Fault.PART_IDS_BACKWARDS] == 1


def test_a_part_due_while_a_verdict_before_it_is_still_asked_for_is_rejected_and_vision_trips() -> None:
    """A resend timeout longer than the time to the actuator: the lost part went by undecided, and the pass behind it
    fired while the gap was open, vision healthy. The stream is in order: the lost verdict's part was ahead of it."""
    st = FakeStation()
    core = GatewayCore(replace(T, resend_timeout_s=5.0), "station-1")
    for k in range(7):  # heartbeats to t = 1.5, past the join hold
        core.receive(st.beat(at=k * 0.25), k * 0.25)
        core.tick(k * 0.25)
    st.verdict(captured_at=1.5, verdict="reject", reason="defect")  # lost, and not resent before its part is due
    core.receive(st.verdict(captured_at=1.55), 1.6)
    run_to(core, st, 1.65, 2.6)
    assert [(d.part_id, d.decision, d.reason) for d in core.decisions] == [(2, "reject", "vision_unhealthy")]
    assert not core.healthy and core.fault == "gap"


def test_a_part_decided_past_its_actuator_time_is_rejected_even_behind_a_late_one() -> None:
    """The loop stalled 1.1 s (a slow PLC) with a late part first in line: the stall's trip looked at that part alone (late,
    so passed over), and the on-time pass behind it was decided 0.15 s after its actuator time, a pass, no trip."""
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.0), 1.6)  # past its deadline: rejected late
    core.receive(st.verdict(captured_at=1.55), 1.6)  # on time: due at 2.55
    core.tick(1.6)
    core.receive(st.beat(at=2.7), 2.7)
    core.tick(2.7)  # the loop held up until 0.15 s past the second part's actuator time
    assert [(d.part_id, d.decision, d.reason) for d in core.decisions] == [(1, "reject", "late"), (2, "reject", "vision_unhealthy")]
    core.tick(2.75)
    assert core.fault == Fault.DECISION_LATE and not core.healthy


def test_a_verdict_for_a_part_id_given_up_as_lost_under_a_seq_never_heard_trips_vision() -> None:
    """Ids skipped, or a heartbeat counting verdicts the station had not sent: those parts were rejected as lost at once,
    vision back within an actuator delay. Their verdicts coming after, each under a new seq, were passed over: parts
    captured then reached the actuator with vision healthy and no decision."""
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.55), 1.56)  # part 1
    st.verdicts += 3  # a heartbeat that counts parts 2 to 4 before they were sent
    core.receive(st.beat(at=1.57), 1.57)
    run_to(core, st, 1.6, 2.7)
    assert [(d.part_id, d.reason) for d in core.decisions][1:] == [(2, "missing"), (3, "missing"), (4, "missing")]
    assert core.healthy
    st.verdicts -= 3
    for _ in range(3):  # parts 2 to 4 now, as the station sends them
        core.receive(st.verdict(captured_at=2.72, verdict="reject", reason="defect"), 2.72)
        assert core.fault == "verdict_conflict" and core.hold_until >= 2.72 + T.actuator_delay_s
    core.tick(2.73)
    assert not core.healthy
