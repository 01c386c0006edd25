"""Rate-limited log lines: a flood gives one line per interval, with the count of the rest."""

from __future__ import annotations

from typing import Any

from station.ratelog import RateLimitedLog


class _Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_a_flood_is_one_line_per_interval_with_the_suppressed_count() -> None:
    now = [0.0]
    out = _Lines()
    log = RateLimitedLog(interval_s=10.0, clock=lambda: now[0], logger=out)
    assert log.emit("k", "served", n=1) is True
    for i in range(999):
        now[0] = i * 0.001
        assert log.emit("k", "served", n=i) is False
    assert log.emit("other", "bad") is True  # keys are independent
    now[0] = 10.5
    assert log.emit("k", "served", n=1000) is True
    assert [e for e, _ in out.lines] == ["served", "bad", "served"]
    assert out.lines[2][1] == {"n": 1000, "suppressed": 999}


def test_the_count_held_back_is_logged_when_the_flood_stops() -> None:
    now = [0.0]
    out = _Lines()
    log = RateLimitedLog(interval_s=10.0, clock=lambda: now[0], logger=out)
    log.emit("k", "served")
    for _ in range(5):
        log.emit("k", "served")
    log.tick()  # too early: nothing yet
    now[0] = 11.0
    log.tick()
    log.tick()  # once only
    assert out.lines == [("served", {}), ("served", {"suppressed": 5, "summary": True})]


def test_a_summary_repeats_the_fields_its_key_keeps() -> None:
    now = [0.0]
    out = _Lines()
    log = RateLimitedLog(interval_s=10.0, clock=lambda: now[0], logger=out)
    for part in range(3):
        log.emit("skip:busy", "skipped", keep=("cause",), part_id=part, cause="busy", why="busy with part 0")
    log.emit("skip:deadline", "skipped", keep=("cause",), part_id=9, cause="deadline", why="2 ms left")
    now[0] = 11.0
    log.tick()
    assert out.lines[-1] == ("skipped", {"cause": "busy", "suppressed": 2, "summary": True})  # not part 0's id nor its why
    assert [f.get("cause") for _, f in out.lines] == ["busy", "deadline", "busy"]  # each cause has its own first line


def test_a_flush_logs_every_count_held_back_before_its_interval_has_passed() -> None:
    now = [0.0]
    out = _Lines()
    log = RateLimitedLog(interval_s=10.0, clock=lambda: now[0], logger=out)
    for _ in range(4):
        log.emit("k", "skipped")
    now[0] = 1.0  # the work ends long before the next summary was due
    log.flush()
    log.flush()  # once only
    assert out.lines == [("skipped", {}), ("skipped", {"suppressed": 3, "summary": True})]
