"""The gateway's judgement, driven message by message with an explicit clock (no sockets)."""

from __future__ import annotations

from dataclasses import replace

from station.gateway.core import GatewayCore
from station.wire import Disposition, Message, Reason, ResendReply

from .stream import FakeStation, T, healthy_core, run_to


def test_not_healthy_until_parts_in_flight_at_join_are_past_the_actuator_and_the_clock_is_known() -> None:
    """Past the actuator delay (1 s) the station's clock is not yet known to be the gateway's: heartbeats over 1.5 s tell
    (before, vision was healthy at 1 s, and a clock 0.4 s behind fired passes early until they did)."""
    st = FakeStation()
    core = GatewayCore(T, "station-1")
    core.receive(st.beat(), 0.0)
    core.tick(0.0)
    assert not core.healthy
    run_to(core, st, 0.05, 1.2)
    assert not core.healthy and core.reason == "recovering_from_joined"
    run_to(core, st, 1.25, 1.5)
    assert core.healthy


def test_a_timely_pass_passes_at_its_actuator_time_and_defects_reject() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.7)
    core.receive(st.verdict(captured_at=1.7, verdict="reject", reason="defect"), 1.8)
    run_to(core, st, 1.8, 2.55)
    assert core.decisions == []  # part 1's actuator time is 1.6 + 1.0
    run_to(core, st, 2.6, 2.65)
    assert [d.part_id for d in core.decisions] == [1]
    run_to(core, st, 2.7, 2.8)
    got = [(d.part_id, d.decision, d.reason) for d in core.decisions]
    assert got == [(1, "pass", "ok"), (2, "reject", "defect")]
    first = core.decisions[0]
    assert first.actuate_at == 2.6 and first.decided_at >= first.actuate_at


def test_test_rejects_reject_each_part_whose_id_n_divides_where_it_would_pass_and_leave_the_others_as_they_were() -> None:
    """``station gateway --test-reject 3``: parts 3 and 6 would pass and are rejected ``test_reject``; part 9, a defect,
    keeps the station's reason; the rest pass as ever."""
    st = FakeStation()
    core = healthy_core(st, test_every=3)
    for i in range(1, 10):
        core.receive(st.verdict(captured_at=1.6 + i / 100, **({"verdict": "reject", "reason": "defect"} if i == 9 else {})), 1.7)
    run_to(core, st, 1.75, 2.8)
    got = [(d.part_id, d.decision, d.reason, d.station_verdict) for d in core.decisions]
    tested = [(3, "reject", "test_reject", "pass"), (6, "reject", "test_reject", "pass"), (9, "reject", "defect", "reject")]
    assert got == sorted([(i, "pass", "ok", "pass") for i in (1, 2, 4, 5, 7, 8)] + tested)


def test_a_verdict_after_the_actuator_margin_is_rejected_late() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=0.6), 1.59)  # actuator at 1.6, margin 20 ms
    run_to(core, st, 1.6, 1.7)
    assert [(d.decision, d.reason) for d in core.decisions] == [("reject", "late")]


def test_a_station_late_verdict_rejects() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6, verdict="reject", reason="late"), 1.7)
    run_to(core, st, 1.75, 2.7)
    assert [(d.decision, d.reason) for d in core.decisions] == [("reject", "late")]


def test_a_station_never_heard_is_no_station_and_one_gone_quiet_is_no_heartbeat() -> None:
    core = GatewayCore(T, "station-1")
    core.tick(5.0)
    assert not core.healthy and core.reason == "no_station"
    st = FakeStation()
    core.receive(st.beat(), 5.0)
    core.tick(5.0 + 3 * T.heartbeat_s + 0.01)
    assert not core.healthy and core.reason == "no_heartbeat"


def test_silence_makes_vision_unhealthy_after_three_heartbeats_and_parts_then_reject() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.5), 1.55)
    core.tick(1.55)
    run_to(core, st, 1.6, 2.25, beats=False)  # last heartbeat at 1.5: 3 x 0.25 s is 2.25
    assert core.healthy
    core.tick(2.3)
    assert not core.healthy and core.reason == "no_heartbeat"
    run_to(core, st, 2.35, 2.6, beats=False)
    assert [(d.part_id, d.decision, d.reason) for d in core.decisions] == [(1, "reject", "vision_unhealthy")]


def test_heartbeats_back_recover_only_after_one_actuator_delay_and_the_clock_known_again() -> None:
    st = FakeStation()
    core = healthy_core(st)
    run_to(core, st, 1.6, 2.5, beats=False)
    assert not core.healthy
    run_to(core, st, 2.55, 3.45)
    assert not core.healthy and core.reason.startswith("recovering")
    run_to(core, st, 3.5, 4.0)  # the delay is over; the station's clock is told from heartbeats over 1.5 s
    assert not core.healthy and core.reason.startswith("recovering")
    run_to(core, st, 4.05, 4.2)
    assert core.healthy


def test_a_gap_asks_for_resend_and_a_filled_gap_costs_nothing() -> None:
    st = FakeStation()
    core = healthy_core(st)
    lost: list[Message] = [st.verdict(captured_at=1.5), st.beat()]
    core.receive(st.verdict(captured_at=1.55), 1.6)
    assert core.resend_requests == [("run-a", lost[0].seq, lost[1].seq)]
    core.resent(ResendReply(run_id="run-a", first=lost[0].seq, last=lost[1].seq, count=2), lost, 1.65)
    run_to(core, st, 1.7, 2.6)
    assert core.healthy
    assert [(d.part_id, d.decision) for d in core.decisions] == [(1, "pass"), (2, "pass")]


def test_a_gap_the_station_no_longer_holds_trips_health_and_rejects_the_lost_part() -> None:
    st = FakeStation()
    core = healthy_core(st)
    first = st.verdict(captured_at=1.5).seq
    core.receive(st.verdict(captured_at=1.55), 1.6)
    core.resent(ResendReply(run_id="run-a", first=first, last=first, gone=(first, first), count=0), [], 1.62)
    assert not core.healthy or core.fault == "gap"
    run_to(core, st, 1.65, 2.6)
    got = [(d.part_id, d.decision, d.reason) for d in core.decisions]
    assert got == [(1, "reject", "missing"), (2, "reject", "vision_unhealthy")]


def test_the_last_verdicts_lost_in_a_gap_the_station_no_longer_holds_are_rejected_as_missing() -> None:
    """No later verdict told of them: the heartbeat's count of verdicts sent does (they got no decision at all)."""
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.5), 1.55)
    lost = st.verdict(captured_at=1.6)  # the run's last part: its verdict never arrives
    core.receive(st.beat(at=1.65), 1.65)  # verdicts: 2, and seq lost.seq missing: a gap
    core.resent(ResendReply(run_id="run-a", first=lost.seq, last=lost.seq, gone=(lost.seq, lost.seq), count=0), [], 1.7)
    run_to(core, st, 1.75, 3.0)
    got = [(d.part_id, d.decision, d.reason) for d in core.decisions]
    assert got == [(1, "reject", "vision_unhealthy"), (2, "reject", "missing")]  # 1 was on the belt when the gap tripped vision


def test_a_gap_nobody_fills_times_out() -> None:
    st = FakeStation()
    core = healthy_core(st)
    st.verdict(captured_at=1.5)  # lost, never resent
    core.receive(st.verdict(captured_at=1.55), 1.6)
    run_to(core, st, 1.65, 1.95)
    assert not core.healthy
    assert core.decisions[0].reason == "missing"


def test_a_station_restart_trips_health() -> None:
    st = FakeStation()
    core = healthy_core(st)
    st2 = FakeStation("run-b")
    core.receive(st2.beat(), 1.6)
    core.tick(1.6)
    assert not core.healthy and core.reason.endswith("run_changed")
    run_to(core, st2, 1.65, 3.05)  # the delay's hold, then the new run's clock, told from 1.5 s of its heartbeats
    assert not core.healthy
    run_to(core, st2, 3.1, 3.2)
    assert core.healthy


def test_a_run_heard_again_after_a_newer_one_began_is_ignored_and_trips_health() -> None:
    st = FakeStation()
    core = healthy_core(st)
    for t in (1.6, 1.7, 1.8):
        core.receive(st.verdict(t), t)
    run_to(core, st, 1.85, 2.9)
    assert [d.part_id for d in core.decisions] == [1, 2, 3]
    core.receive(FakeStation("run-b").beat(), 2.95)  # one heartbeat of another run under this station's id
    run_to(core, st, 3.0, 4.5)  # ... then the first run again, seq 17 on: once taken as a run to follow from seq 1
    assert [d.part_id for d in core.decisions] == [1, 2, 3]  # its parts are not decided a second time
    assert core.ignored > 0 and not core.healthy  # what it hears is not the run it follows: silence, so vision is down


def test_degraded_and_stopping_states_are_unhealthy() -> None:
    for state in ("degraded", "stopping", "starting"):
        st = FakeStation()
        core = healthy_core(st)
        core.receive(st.beat(state), 1.6)
        core.tick(1.6)
        assert not core.healthy and core.reason == f"station_{state}"


def test_another_station_s_messages_and_undecodable_ones_are_ignored() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(replace(FakeStation().verdict(2.0), station="someone-else"), 1.6)  # its own seqs and counts
    core.ignore("v: expected 1")  # what the service reports for bytes the wire contract refuses (tests/test_wire.py)
    run_to(core, st, 1.65, 3.2)
    assert core.ignored == 2
    assert core.decisions == []


def test_duplicates_are_decided_once() -> None:
    st = FakeStation()
    core = healthy_core(st)
    v = st.verdict(captured_at=1.6)
    core.receive(v, 1.61)
    core.receive(v, 1.62)
    core.resent(ResendReply(run_id="run-a", first=v.seq, last=v.seq, count=1), [v], 1.63)
    run_to(core, st, 1.65, 2.7)
    assert len(core.decisions) == 1


def test_a_verdict_captured_in_the_future_is_a_clock_fault_and_its_part_is_rejected_on_the_gateways_time() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=6.6), 1.6)  # the station's clock 5 s ahead of ours
    run_to(core, st, 1.65, 2.7)
    (d,) = core.decisions
    assert (d.decision, d.reason, d.actuate_at) == ("reject", "clock_ahead", 2.6)  # due when the part is, not at 7.6
    assert core.fault == "clock_ahead"


def test_a_station_clock_behind_the_gateways_trips_vision_and_its_parts_are_rejected() -> None:
    """Each part is fired at captured_at + the delay by the gateway's clock: a station 0.4 s behind would fire it 0.4 s
    early. Every heartbeat for CLOCK_BEHIND_S read more than CLOCK_AHEAD_S after it was sent is that fault."""
    st = FakeStation()
    core = healthy_core(st)
    st.skew = -0.4
    run_to(core, st, 1.55, 2.9)
    assert core.healthy  # not yet CLOCK_BEHIND_S of it
    run_to(core, st, 2.95, 3.2)
    assert not core.healthy and core.reason == "clock_behind"
    core.receive(st.verdict(captured_at=3.2 - 0.4), 3.21)
    run_to(core, st, 3.25, 4.0)
    (d,) = core.decisions
    assert (d.decision, d.reason) == ("reject", "vision_unhealthy")
    st.skew = 0.0
    run_to(core, st, 4.05, 6.0)  # heard on time again: healthy once the hold is past
    assert core.healthy


def test_a_station_clock_behind_is_found_with_slow_heartbeats_too() -> None:
    """Heartbeats every 2 s: never 3 within 1.5 s, and a station 0.4 s behind went unseen."""
    slow = replace(T, heartbeat_s=2.0)
    st, core, t = FakeStation(), GatewayCore(slow, "station-1"), 0.0
    while t <= 20.0:
        if round(t / 2.0, 6).is_integer():
            core.receive(st.beat(at=t - 0.4), t)
        core.tick(t)
        t = round(t + 0.05, 6)
    assert not core.healthy and core.reason == "clock_behind"


def test_heartbeats_read_late_in_a_burst_after_the_loop_was_held_up_are_no_clock_fault() -> None:
    st = FakeStation()
    core = healthy_core(st)
    held = [st.beat(at=round(1.55 + 0.05 * i, 6)) for i in range(20)]  # sent while the gateway's loop was held up
    for beat in held:
        core.receive(beat, 3.2)  # read at once when it turned again: 0.7 to 1.65 s late, every one
    run_to(core, st, 3.25, 6.0)
    assert core.healthy and core.fault != "clock_behind"


def test_a_seq_jump_beyond_any_resend_buffer_is_lost_at_once_and_never_listed() -> None:
    from station.gateway.gaps import MAX_GAP

    st = FakeStation()
    core = healthy_core(st)
    st.seq += 10**12
    core.receive(st.beat(), 1.6)
    assert len(core.gaps) == 0 and core.resend_requests == [] and core.fault == "gap"
    st.seq = 1  # a modest jump is still asked for again
    core2 = healthy_core(st)
    st.seq += MAX_GAP // 2
    core2.receive(st.beat(), 1.6)
    assert len(core2.gaps) == 1 and core2.resend_requests[-1][2] - core2.resend_requests[-1][1] == MAX_GAP // 2 - 1


def test_a_message_that_jumps_the_seq_of_a_stream_that_goes_on_below_it_trips_vision_once_not_for_the_run() -> None:
    """One message 50000 seqs ahead (a forged one, or another publisher's), then the station's own stream: once the gap it
    opened was given up (no resend of seqs never sent), every later message was under a seq heard past and dropped
    without a word, heartbeats too, so vision stayed down and no part had a decision until the station restarted. The
    ordered stream going on below the jump proves the jump false: it is followed from there."""
    st = FakeStation()
    core = healthy_core(st)
    own = st.seq
    st.seq += 50000
    core.receive(st.beat(at=1.6), 1.6)
    st.seq = own
    run_to(core, st, 1.65, 1.95)  # the gap is asked for and never answered: given up after 0.3 s
    assert core.fault == "gap" and not core.healthy
    core.receive(st.verdict(captured_at=2.0), 2.0)  # under the jump, the first since: a message late, perhaps, not acted on
    run_to(core, st, 2.05, 2.1)  # the third: the stream goes on below the jump, and is followed from there
    assert core.next_seq == st.seq + 1
    run_to(core, st, 2.15, 4.0)
    assert core.healthy and [(d.part_id, d.decision) for d in core.decisions] == [(1, "reject")]  # its verdict missing
    core.receive(st.verdict(captured_at=4.05), 4.05)
    run_to(core, st, 4.1, 5.3)
    assert [(d.part_id, d.decision) for d in core.decisions] == [(1, "reject"), (2, "pass")]


def test_part_ids_that_jump_further_than_parts_on_a_belt_trip_vision_without_a_reject_per_id() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.6)
    st.part += 10**9
    core.receive(st.verdict(captured_at=1.7), 1.7)
    run_to(core, st, 1.75, 2.8)
    assert [d.reason for d in core.decisions] == ["vision_unhealthy", "part_ids_jumped"] and core.fault == "part_ids_jumped"


def test_many_lost_part_ids_are_each_rejected_in_order_in_one_pass() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.6)
    st.part += 3000  # verdicts lost, and no gap to fill: seqs ran on
    core.receive(st.verdict(captured_at=1.7), 1.7)
    run_to(core, st, 1.75, 2.8)
    assert [d.part_id for d in core.decisions] == list(range(1, 3003))
    assert {d.reason for d in core.decisions[1:-1]} == {"missing"}
    assert core.decisions[0].reason == "vision_unhealthy" and core.fault == "verdict_missing"  # a stream that loses verdicts is blind


def test_a_second_different_verdict_for_a_part_rejects_it_and_trips_vision() -> None:
    st = FakeStation()
    core = healthy_core(st)
    v = st.verdict(captured_at=1.6)
    core.receive(v, 1.61)
    core.receive(replace(v, seq=st.seq + 1, verdict=Disposition.REJECT, reason=Reason.DEFECT, score=0.9), 1.63)
    st.seq += 1
    run_to(core, st, 1.65, 2.7)
    (d,) = core.decisions
    assert (d.decision, d.reason) == ("reject", "verdict_conflict") and core.fault == "verdict_conflict"


def test_a_decision_the_loop_makes_after_its_actuator_time_trips_vision() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=1.6), 1.6)
    core.receive(st.beat(), 2.5)
    core.tick(2.5)
    assert core.healthy
    core.receive(st.verdict(captured_at=1.7), 1.7)
    core.tick(2.65)  # within the actuator window (0.1 s) of its actuator time (2.6): scheduling jitter, not a stall
    assert core.healthy and core.decisions[-1].reason == "ok"
    core.tick(3.1)  # the loop stalled 0.4 s past the second part's actuator time (2.7)
    d = core.decisions[-1]
    assert (d.decision, d.reason) == ("reject", "vision_unhealthy") and core.fault == "decision_late"


def test_the_actuator_window_is_the_lateness_a_decision_may_have() -> None:
    """gateway.actuator_window_ms 30: a pass decided 0.05 s after its actuator time is past the actuator on a fast belt (it
    was taken while 0.1 s was fixed)."""
    st = FakeStation()
    core = healthy_core(st, timing=replace(T, window_s=0.03))
    core.receive(st.verdict(captured_at=1.6), 1.6)
    core.receive(st.beat(), 2.5)
    core.tick(2.65)
    (d,) = core.decisions
    assert (d.decision, d.reason) == ("reject", "vision_unhealthy") and core.fault == "decision_late"


def test_a_gateway_clock_step_back_does_not_hide_a_silent_station() -> None:
    st = FakeStation()
    core = healthy_core(st)  # last heartbeat at 1.5
    core.receive(st.verdict(captured_at=1.5), 1.52)
    core.clock_stepped(-10.0, 1.55 - 10.0)
    assert [(d.part_id, d.reason) for d in core.decisions] == [(1, "clock_stepped")] and not core.pending  # rejected at once
    assert core.fault == "clock_stepped"
    core.tick(1.55 - 10.0 + 0.8)  # 0.8 s of silence after the step, on the stepped clock
    assert not core.healthy and core.reason == "no_heartbeat"


def test_parts_pending_when_the_gateway_stops_are_each_rejected() -> None:
    st = FakeStation()
    core = healthy_core(st)
    for t in (1.6, 1.7):
        core.receive(st.verdict(captured_at=t), t)
    core.stop(1.8)
    assert [(d.part_id, d.decision, d.reason) for d in core.decisions] == [
        (1, "reject", "gateway_stopped"),
        (2, "reject", "gateway_stopped"),
    ]
    assert not core.pending


def test_a_decision_the_plc_never_got_trips_vision_for_an_actuator_delay() -> None:
    st = FakeStation()
    core = healthy_core(st)
    core.output_failed(7, 1.6)
    run_to(core, st, 1.6, 2.55)
    assert not core.healthy and core.reason == "recovering_from_output_failed"
    run_to(core, st, 2.65, 2.7)
    assert core.healthy


def test_a_verdict_for_a_part_decided_under_a_seq_never_heard_trips_vision_whatever_it_says() -> None:
    """The station sends one verdict a part: a part id used twice may be a second part on the belt, which no decision is for
    (before 2026-12-07 the same verdict again was passed over, vision healthy: that part went by undecided)."""
    for again in ((Disposition.PASS, Reason.OK), (Disposition.REJECT, Reason.DEFECT)):
        st = FakeStation()
        core = healthy_core(st)
        v = st.verdict(captured_at=1.6)
        core.receive(v, 1.6)
        run_to(core, st, 1.65, 2.7)
        st.seq += 1
        core.receive(replace(v, seq=st.seq, captured_at=2.71, verdict=again[0], reason=again[1]), 2.72)  # captured now, part 1's id
        assert core.fault == "verdict_conflict" and core.hold_until >= 2.71 + T.actuator_delay_s
        core.receive(st.verdict(captured_at=2.70), 2.74)  # a part on the belt with it
        run_to(core, st, 2.75, 3.8)
        assert [(d.part_id, d.reason) for d in core.decisions] == [(1, "ok"), (2, "vision_unhealthy")], again


def test_a_verdict_after_its_parts_actuator_time_is_rejected_late_and_trips_vision() -> None:
    """The station fell behind without a word (heartbeats saying running): its part went by the actuator undecided with the
    healthy output 1, and so may others captured meanwhile (before 2026-12-07: rejected late, vision left healthy). A
    verdict late by the station's deadline but before the actuator is no fault: the part is rejected in time."""
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.verdict(captured_at=0.55), 1.5)  # after its deadline (0.5 s), before its actuator time (1.55)
    run_to(core, st, 1.5, 1.6)
    assert core.healthy and [(d.part_id, d.reason) for d in core.decisions] == [(1, "late")]
    core.receive(st.verdict(captured_at=0.4), 1.6)  # its actuator time (1.4) has gone
    assert core.fault == "verdict_late" and core.hold_until >= 1.6 + T.actuator_delay_s
    core.receive(st.verdict(captured_at=1.55), 1.6)
    run_to(core, st, 1.6, 2.7)
    assert [(d.part_id, d.reason) for d in core.decisions] == [(1, "late"), (2, "late"), (3, "vision_unhealthy")]


def test_open_gaps_together_never_ask_for_more_than_max_gap() -> None:
    from station.gateway.gaps import MAX_GAP

    st = FakeStation()
    core = healthy_core(st)
    for _ in range(3):
        st.seq += MAX_GAP // 2
        core.receive(st.beat(), 1.6)
    assert core.gaps.missing() <= MAX_GAP and core.fault == "gap"


def test_a_station_degraded_for_a_moment_trips_vision_however_the_state_came() -> None:
    """Only the newest state was kept and read at the next tick: degraded then running in one read, or a degraded state
    resent after a newer running one, never dropped vision while the parts of the moment went by undecided."""
    st = FakeStation()
    core = healthy_core(st)
    core.receive(st.beat("degraded", at=1.6), 1.6)
    core.receive(st.beat("running", at=1.605), 1.605)
    core.tick(1.61)
    assert not core.healthy and core.reason == "recovering_from_station_degraded"
    st2 = FakeStation("run-c")
    core2 = healthy_core(st2)
    lost = st2.beat("degraded", at=1.6)  # lost on the way, and resent after the newer one
    core2.receive(st2.beat("running", at=1.65), 1.65)
    core2.tick(1.65)
    core2.resent(ResendReply(run_id="run-c", first=lost.seq, last=lost.seq, count=1), [lost], 1.7)
    core2.tick(1.7)
    assert not core2.healthy and core2.fault == "station_degraded"


def test_after_a_step_of_the_gateways_clock_vision_waits_until_the_stations_clock_is_known_again() -> None:
    """The heartbeats heard before the step are forgotten (read against the old clock), and the hold ended an actuator
    delay on, before 1.5 s of new heartbeats could tell a station 0.4 s behind: passes were fired early meanwhile."""
    st = FakeStation()
    core = healthy_core(st)
    st.skew = -0.4  # the station's clock behind the gateway's, the gateway's clock stepped to where it is now
    core.clock_stepped(0.4, 1.6)
    assert not any(_health_while_beating(core, st, 1.6, 3.5)) and core.reason == "clock_behind"


def test_after_a_silence_vision_waits_until_the_stations_clock_is_known_again() -> None:
    """The heartbeat kept from before a silence counted towards the clock: 2 new beats made it known, and an on-time one
    hid a station now 0.4 s behind (passes fired early until it left the span)."""
    st = FakeStation()
    core = healthy_core(st)
    core.tick(6.0)  # 4.5 s without a heartbeat
    assert not core.healthy and core.reason == "no_heartbeat"
    st.skew = -0.4  # the station back, its clock now behind the gateway's
    assert not any(_health_while_beating(core, st, 6.0, 9.0)) and core.reason == "clock_behind"


def _health_while_beating(core: GatewayCore, st: FakeStation, start: float, end: float) -> list[bool]:
    """Whether vision was healthy at each tick of :func:`run_to` from ``start`` to ``end``, a heartbeat at each."""
    seen = []
    while start <= end:
        run_to(core, st, start, start)
        seen.append(core.healthy)
        start = round(start + 0.05, 6)
    return seen
