"""Which way the parts move, against ``trigger.direction`` or with it.

The line trigger inspects a part as its centre crosses the trigger line in the direction of travel, and the
gateways time their actuators from that moment. With ``trigger.direction`` set the wrong way round, every part is
already "past" the line as it comes into view: it still gets one verdict, in order, but on the frame it enters by,
and the actuator fires for a part that is not yet where it is expected. Nothing else in the verdicts shows it.

The trigger tells :class:`TravelWatch` how far each part it followed moved along the configured direction over its
whole track (:meth:`TravelWatch.moved`). A few parts in a row that moved against it make the station ``degraded``
(:meth:`TravelWatch.against`): the gateways then reject every part until the config is set right, and the reason
names the key. One part backing out does not: it takes ``RUN`` in a row, and a part that moves with the direction
ends the run.
"""

from __future__ import annotations

import threading
from collections import deque

from station.config import Direction
from station.metrics import Metrics
from station.ratelog import RateLimitedLog

RUN = 3  # parts in a row against the direction before the station says so: one backing out is not a wrong setting
FOLLOWED = 0.5  # of a part's size it must move over its track for its direction to count (a part at rest says nothing)


def opposite(direction: Direction) -> Direction:
    return Direction.RIGHT_TO_LEFT if direction is Direction.LEFT_TO_RIGHT else Direction.LEFT_TO_RIGHT


class TravelWatch:
    """Counts the parts that moved against ``direction``; told from the trigger's thread, read from any other."""

    def __init__(self, direction: Direction, metrics: Metrics | None = None, log: RateLimitedLog | None = None) -> None:
        self.direction = direction
        self.forwards = 0
        self.backwards = 0
        self._metrics = metrics
        self._log = log
        self._last: deque[bool] = deque(maxlen=RUN)  # the latest parts' directions, True: with trigger.direction
        self._lock = threading.Lock()

    def moved(self, along_px: float, size_px: float) -> None:
        """A part the trigger followed moved ``along_px`` in the direction of travel (negative: against it) over its
        track; one that moved less than ``FOLLOWED`` of its ``size_px`` either way is not counted."""
        if abs(along_px) < FOLLOWED * size_px:
            return
        forwards = along_px > 0
        with self._lock:
            self._last.append(forwards)
            self.forwards += forwards
            self.backwards += not forwards
        if forwards:
            return
        if self._metrics is not None:
            self._metrics.parts_against_direction.inc()
        if self._log is not None:
            self._log.emit("against", "part_against_direction", level="warning", moved_px=round(along_px), why=self.why())

    def against(self) -> str | None:
        """Why the station is degraded: the last ``RUN`` parts all moved against the direction; None otherwise."""
        with self._lock:
            wrong = len(self._last) == RUN and not any(self._last)
        return f"the last {RUN} parts moved {opposite(self.direction).value}: {self.why()}" if wrong else None

    def mostly_against(self) -> bool:
        """More of the parts counted moved against the direction than with it, and at least ``RUN`` of them."""
        with self._lock:
            return self.backwards >= RUN and self.backwards > self.forwards

    def summary(self) -> str:
        """What :meth:`mostly_against` found, for a note or a refusal at the end of a video."""
        with self._lock:
            counts = f"{self.backwards} of the {self.backwards + self.forwards} blobs the trigger followed across the view"
        return f"the parts moved {opposite(self.direction).value} ({counts}): {self.why()}"

    def why(self) -> str:
        return (f"trigger.direction is {self.direction.value}, so each part is inspected as it enters the view and the "
                f"actuator is timed from there: set trigger.direction: {opposite(self.direction).value} if that is "
                "how the belt runs")  # fmt: skip
