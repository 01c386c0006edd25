"""station/inflight.py: what is captured and not yet decided, and when the station is behind its deadline."""

from __future__ import annotations

import queue

import numpy as np

from station.inflight import InFlight, behind, first_waiting
from station.messages import END, Frame, Part

_PIXELS = np.zeros((2, 2), np.uint8)


def _frame(index: int, captured: float) -> Frame:
    return Frame(index, _PIXELS, captured, 0.0)


def _part(part_id: int, captured: float) -> Part:
    return Part(part_id, _frame(part_id, captured))


def test_the_oldest_part_in_flight_is_the_one_captured_first_until_it_is_published() -> None:
    parts = InFlight()
    assert parts.oldest() is None
    parts.handed_on([_part(2, 10.0), _part(3, 10.5)])
    parts.handed_on([_part(1, 9.0)])  # judged on an earlier view: handed on after the others
    assert parts.oldest() == (1, 9.0)
    parts.published(1)
    assert parts.oldest() == (2, 10.0)
    parts.published(2)
    parts.published(3)
    parts.published(3)  # once more: nothing
    assert parts.oldest() is None


def test_the_station_is_behind_once_a_part_or_a_frame_is_past_its_deadline_without_a_verdict() -> None:
    parts = InFlight()
    parts.handed_on([_part(7, 100.0)])
    assert behind(parts, [], 0.5, 100.5) is None  # at its deadline: not past it
    assert behind(parts, [], 0.5, 100.6) == "part 7 has no verdict 0.6 s after its frame was captured (publisher.deadline_ms 500)"
    parts.published(7)
    assert behind(parts, [None, _frame(40, 100.2)], 0.5, 100.6) is None
    why = behind(parts, [_frame(41, 99.0), _frame(40, 98.0)], 0.5, 100.6)
    assert why == "frame 40 not through the trigger 2.6 s after it was captured (publisher.deadline_ms 500)"


def test_the_first_frame_waiting_is_read_without_being_taken() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=4)
    assert first_waiting(q) is None
    q.put(_frame(3, 1.0))
    q.put(_frame(4, 2.0))
    head = first_waiting(q)
    assert head is not None and head.index == 3 and q.qsize() == 2
    q2: queue.Queue[object] = queue.Queue()
    q2.put(END)
    assert first_waiting(q2) is None  # the stream's end is no frame
