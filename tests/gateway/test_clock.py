"""The heartbeat lag: a station clock behind the gateway's, told from heartbeats read late over a whole span."""

from __future__ import annotations

from station.gateway.clock import CLOCK_AHEAD_S, CLOCK_BEHIND_S, HeartbeatLag


def _beats(lag: HeartbeatLag, start: float, end: float, every: float, late: float) -> None:
    t = start
    while t <= end:
        lag.heard(t, t - late)
        t += every


def test_heartbeats_all_read_late_over_the_span_say_the_station_clock_is_behind() -> None:
    lag = HeartbeatLag(heartbeat_s=0.1)
    _beats(lag, 0.0, CLOCK_BEHIND_S + 0.2, 0.1, late=CLOCK_AHEAD_S + 0.2)
    assert lag.behind(CLOCK_BEHIND_S + 0.2)


def test_a_burst_read_late_between_beats_read_on_time_is_no_fault() -> None:
    lag = HeartbeatLag(heartbeat_s=0.1)
    _beats(lag, 0.0, 1.0, 0.1, late=0.01)
    _beats(lag, 1.1, 1.4, 0.1, late=CLOCK_AHEAD_S + 1.0)  # the gateway's loop was held up, then read them all
    _beats(lag, 1.5, 2.0, 0.1, late=0.01)
    assert not lag.behind(2.0)


def test_slow_heartbeats_need_three_of_them_before_the_clock_is_said_behind() -> None:
    lag = HeartbeatLag(heartbeat_s=1.0)  # the span is 3 beats, longer than CLOCK_BEHIND_S
    _beats(lag, 0.0, 2.0, 1.0, late=1.0)
    assert lag.span == 3.0 and not lag.behind(2.5)
    _beats(lag, 3.0, 4.0, 1.0, late=1.0)
    assert lag.behind(4.0)


def test_cleared_it_waits_a_whole_span_again() -> None:
    lag = HeartbeatLag(heartbeat_s=0.1)
    _beats(lag, 0.0, 2.0, 0.1, late=1.0)
    lag.clear()
    _beats(lag, 2.1, 2.5, 0.1, late=1.0)
    assert not lag.behind(2.5)
