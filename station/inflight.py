"""What the station has captured and not yet decided, and whether it is behind its own deadline.

A part whose verdict is not out by its deadline (``publisher.deadline_ms`` after its frame was captured) is published as a
reject (``late``) once it comes, but while it does not come the gateways hear nothing of it: a model run that does not
end, a stage that cannot keep up. Heartbeats saying ``running`` meanwhile tell them that every part gets its decision in
time, and the part reaches the actuator undecided (measured on 2026-12-07: a model run of 7 s, nine parts past the
actuator, four of them defective, the gateway's healthy output 1 throughout). So the station is degraded while anything it
has captured is past its deadline without a verdict: a part the trigger has handed on, or a frame in front of the trigger
or in its hands. The gateways then hold (every part rejected) until it catches up, and for an actuator delay after.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from station.messages import Frame, Part


class InFlight:
    """The parts handed on by the trigger and not yet published: the pipeline's ``count`` adds them (the trigger thread),
    its ``_published`` removes each (the publish thread), the idle turn reads the oldest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[int, float] = {}  # part id: when the frame it is judged on was captured (monotonic)

    def handed_on(self, parts: Sequence[Part]) -> None:
        with self._lock:
            for p in parts:
                self._parts[p.part_id] = p.frame.captured_mono

    def published(self, part_id: int) -> None:
        with self._lock:
            self._parts.pop(part_id, None)

    def oldest(self) -> tuple[int, float] | None:
        """The part id captured first of those in flight, and when (monotonic); None when none is."""
        with self._lock:
            return min(self._parts.items(), key=lambda kv: kv[1], default=None)


def first_waiting(q: queue.Queue[object]) -> Frame | None:
    """The frame at the head of ``q`` (the trigger's inbox), without taking it; None when it holds none (or an end marker)."""
    with q.mutex:  # the queue's own lock: a peek, never a wait
        head = q.queue[0] if q.queue else None
    return head if isinstance(head, Frame) else None


def behind(parts: InFlight, frames: Sequence[Frame | None], deadline_s: float, now: float) -> str | None:
    """Why the station is behind: the oldest of ``parts``, or of ``frames`` (the one the trigger is handling, the first
    waiting for it), captured more than ``deadline_s`` before ``now``; None when nothing is."""
    limit = f"publisher.deadline_ms {deadline_s * 1000:.0f}"
    oldest = parts.oldest()
    if oldest is not None and now - oldest[1] > deadline_s:
        return f"part {oldest[0]} has no verdict {now - oldest[1]:.1f} s after its frame was captured ({limit})"
    late = [f for f in frames if f is not None and now - f.captured_mono > deadline_s]
    if late:
        f = min(late, key=lambda f: f.captured_mono)
        return f"frame {f.index} not through the trigger {now - f.captured_mono:.1f} s after it was captured ({limit})"
    return None
