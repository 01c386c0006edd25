"""A part followed across frames by the line trigger (:mod:`station.stages.line_trigger`): where it was seen, whole or not,
how fast it moves, and what the trigger has done with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from station.blobs import Blob, along
from station.config import TriggerSection
from station.messages import Frame

REACH = 0.6  # of a part's diameter: how far from where a track is now a blob may be and still be its part (a match)
MAX_DRIFT = 6.0  # sizes a part may move unseen and still be looked for: a tenth of that is the reach of a match


@dataclass
class Track:
    """One part (or a piece of one) as the line trigger follows it; ``order`` is the order it was first seen in."""

    order: int
    blob: Blob
    before_line: bool = False  # first seen short of the trigger line: it crosses while watched
    first: bool = False  # among the first parts seen: no part was judged before it, so it is no piece of one
    missed: int = 0
    inspected: bool = False
    deferred: bool = False  # inspected as a part a newer track judges: no verdict of its own to defer to
    last_full: tuple[Frame, Blob, float] | None = None
    covered: bool = False  # beside a part rejected as never seen whole, perhaps a piece of it: no such reject of its own
    never_whole: bool = False  # rejected at the line as never seen whole
    part_like: bool = False  # seen whole, or part-sized clear of the frame's sides: a part, not a piece or a sliver
    split: bool = False  # a piece a shadow split off a part judged (refusals.split_off): no part of its own, nor another's
    gapped: bool = False  # matched across frames whose blobs were not matched (unreadable, dropped, blank): perhaps another's
    told: bool = False  # its direction of travel told to the TravelWatch
    seen: int = 0  # the index of the frame it was last matched in
    velocity: tuple[float, float] | None = None  # px per frame, measured between two whole views
    moved: tuple[float, float] | None = None  # px per frame, between its last two whole views
    whole_view: tuple[int, Blob] | None = None  # the index of the frame it was last seen whole in, judged or not, and its blob
    was: tuple[int, Blob] | None = None  # the index of the frame it was matched in before ``seen``, and its blob there
    belt: tuple[float, float] | None = None  # the belt's speed, px a frame, when it was last seen: another part's, if known
    came: Blob = field(init=False)  # its blob on the frame it was first seen in, ``born``: how far it has moved since
    born: int = field(init=False)

    def __post_init__(self) -> None:
        self.came, self.born = self.blob, self.seen

    def copy(self) -> Track:
        """A copy (its fields are values: frames and blobs are not changed in place)."""
        c = object.__new__(Track)
        c.__dict__.update(self.__dict__)
        return c

    def speed(self) -> tuple[float, float] | None:
        """Its own speed, px a frame; seen whole only once, the ``belt``'s (a whole part moves with the belt, while one
        coming into view seems to move at half its speed); None when neither is known."""
        return self.velocity if self.velocity is not None or self.last_full is None else self.belt

    def ahead(self, index: int, moving: Callable[[tuple[float, float]], bool], recent: int) -> Blob | None:
        """Its box on frame ``index``, moved on from its last whole view at its :meth:`speed`; None unless it was seen
        whole when it was last seen or up to ``recent`` frames before, at a speed that is ``moving``. How far to trust it:
        :func:`drifted`."""
        v, seen = self.speed(), self.whole_view
        if v is None or seen is None or not moving(v) or self.seen - seen[0] > recent:
            return None
        steps, b = index - seen[0], seen[1]
        dx, dy = v[0] * steps, v[1] * steps
        return Blob(int(b.x0 + dx), int(b.y0 + dy), int(b.x1 + dx), int(b.y1 + dy))

    def where(self, steps: int) -> tuple[float, float] | None:
        """Its centre ``steps`` frames after it was last seen: where it was, or across frames not seen, moved on at its
        :meth:`speed`; None once that is more than ``MAX_DRIFT`` sizes (lost: a speed a tenth off would put it out of a
        match's reach)."""
        v = self.speed()
        if steps <= 1 or v is None:
            return self.blob.cx, self.blob.cy
        if drifted(v, steps, self.blob):
            return None
        return self.blob.cx + v[0] * steps, self.blob.cy + v[1] * steps

    def findable(self, index: int, belt: tuple[float, float] | None) -> bool:
        """Seen whole, its part may be found again on frame ``index``
        (:func:`found_again`): moved on no more than ``MAX_DRIFT`` sizes at its
        :meth:`speed`, or the ``belt``'s now; with neither known, only on the next frame."""
        v, steps = self.speed() or belt, index - self.seen
        if self.last_full is None:
            return False
        return steps <= 1 if v is None else not drifted(v, steps, self.last_full[1])

    def whole(self, frame: Frame, b: Blob, belt: float) -> None:
        """Seen whole on ``frame``: its last full view, and its speed since the one before."""
        if self.last_full is not None and frame.index > self.last_full[0].index:
            was, steps = self.last_full[1], frame.index - self.last_full[0].index
            moved = ((b.cx - was.cx) / steps, (b.cy - was.cy) / steps)
            v = self.velocity
            self.velocity, self.moved = (moved if v is None else ((v[0] + moved[0]) / 2, (v[1] + moved[1]) / 2)), moved
        self.last_full = (frame, b, belt)

    def steady(self) -> bool:
        """Its own speed is known and it moved at :func:`about` that speed between its last two whole views: not speeding
        up or slowing down, as a belt starting again does, where the :attr:`velocity` its whole views average lags."""
        v, m = self.velocity, self.moved
        return v is not None and m is not None and about(m, v)


def about(v: tuple[float, float], to: tuple[float, float], share: float = 0.2, px: float = 2.0) -> bool:
    """Speed ``v`` is about speed ``to``: within ``share`` of it, and ``px`` a frame more (the pixels a centre is measured
    to: one measured move is off by up to 2, a speed averaged over several by less)."""
    return float(np.hypot(v[0] - to[0], v[1] - to[1])) <= share * float(np.hypot(*to)) + px


def drifted(v: tuple[float, float], steps: int, b: Blob) -> bool:
    """Moved more than ``MAX_DRIFT`` sizes of ``b`` in ``steps`` frames at speed ``v``: a speed a tenth off has put it out
    of a match's reach."""
    return float(np.hypot(*v)) * steps > MAX_DRIFT * b.size


def found_again(t: Track, o: Track, cfg: TriggerSection, width: int, belt: tuple[float, float] | None) -> bool:
    """``o`` is ``t``'s part (seen whole) found again: first seen after ``t`` was last seen, clear of the frame's sides,
    in its lane, no larger, and from half its size behind to less than its size ahead of where it would be by then,
    moved on at its speed from where it was last seen whole (:meth:`Track.speed`; not known, the ``belt``'s now, perhaps
    ``o``'s own) as far as that is trusted (:meth:`Track.findable`; no speed, only on the next frame, from where it was
    last seen); ``width``: the frame's. ``t`` lost it across blank frames, or while only a bar of its rim showed (the
    bar's track took it on, or ``t`` took a bar and lost the part). Another part is never there: parts do not touch, and
    one behind moves on as fast."""
    w, m, c = width, cfg.edge_margin_px, o.came
    if o.order <= t.order or o.born <= t.seen or c.x0 < m or c.x1 > w - m or not t.findable(o.born, belt):
        return False
    assert t.last_full is not None and t.whole_view is not None  # as findable: seen whole
    size, v = t.last_full[1].size, t.speed() or belt
    seen, b = t.whole_view if v is not None else (t.seen, t.blob)
    dx, dy = (0.0, 0.0) if v is None else (v[0] * (o.born - seen), v[1] * (o.born - seen))
    ahead = along(cfg, c.cx - b.cx - dx)
    lane = abs(c.cy - b.cy - dy) < 0.5 * size and c.size < 1.25 * size  # not two parts run together
    return -0.5 * size < ahead < size and lane
