"""Which way the parts move, against ``trigger.direction`` or with it.

The line trigger inspects a part as its centre crosses the trigger line in the direction of travel, and the
gateways time their actuators from that moment. With ``trigger.direction`` set the wrong way round, every part is
already "past" the line as it comes into view: it is judged as it enters, or not at all (one the frame's edge margin
never shows whole), and the actuator fires for a part that is not yet where it is expected. Nothing in the verdicts
themselves shows it.

The trigger tells :class:`TravelWatch` how far each part it follows has moved along the configured direction, once it
has moved far enough to tell (:meth:`TravelWatch.moved`). ``RUN`` parts in a row that moved against it make the station
``degraded`` (:meth:`TravelWatch.against`): the gateways then reject every part, and the reason names the key. It
stays so until ``RUN`` parts in a row move with the direction (which takes the setting changed and a restart): one
part backing out does not degrade the station, and one stray count does not end it.
"""

from __future__ import annotations

import threading
from collections import deque

from station.blobs import along, part_clear_of_sides
from station.config import Direction, TriggerSection
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.tracks import Track

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
        self._wrong = False  # RUN in a row moved against it, and not RUN in a row with it since
        self._lock = threading.Lock()

    def tell(self, t: Track, cfg: TriggerSection, w: int) -> None:
        """Once the part of the line trigger's track ``t`` has moved far enough to tell (:meth:`moved`), which way it moved:
        as it moves, so that parts moving against trigger.direction are known while they are in view. Pieces, slivers at
        the edges of a frame ``w`` px wide and tracks followed across frames not seen (whose blobs may have been another
        part's) are not told."""
        if t.told or t.gapped:
            return
        b = t.blob
        t.part_like = t.part_like or t.whole_view is not None or part_clear_of_sides(b, cfg, w)
        if t.part_like:
            size = t.whole_view[1].size if t.whole_view is not None else b.size
            t.told = self.moved(along(cfg, b.cx - t.came.cx), size)

    def moved(self, along_px: float, size_px: float) -> bool:
        """A part the trigger follows has moved ``along_px`` in the direction of travel (negative: against it) since it was
        first seen; True when that tells which way it moves (at least ``FOLLOWED`` of its ``size_px`` either way): it is
        counted, and need not be told again."""
        if abs(along_px) < FOLLOWED * size_px:
            return False
        forwards = along_px > 0
        with self._lock:
            self._last.append(forwards)
            self.forwards += forwards
            self.backwards += not forwards
            if len(self._last) == RUN and len(set(self._last)) == 1:
                self._wrong = not forwards
        if forwards:
            return True
        if self._metrics is not None:
            self._metrics.parts_against_direction.inc()
        if self._log is not None:
            self._log.emit("against", "part_against_direction", level="warning", moved_px=round(along_px), why=self.why())
        return True

    def against(self) -> str | None:
        """Why the station is degraded: ``RUN`` parts in a row moved against the direction, and not ``RUN`` in a row with it
        since; None otherwise."""
        with self._lock:
            wrong = self._wrong
        return f"{RUN} parts in a row moved {opposite(self.direction).value}: {self.why()}" if wrong else None

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
        return (f"trigger.direction is {self.direction.value}, so each part is judged as it enters the view, or not at all, "
                f"and the actuator is timed from there: if the belt runs {opposite(self.direction).value}, set "
                f"trigger.direction: {opposite(self.direction).value} and restart the station")  # fmt: skip
