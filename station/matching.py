"""Which blob of a frame is which part: the line trigger's (:mod:`station.stages.line_trigger`) match of a frame's blobs to
the tracks it follows."""

from __future__ import annotations

import numpy as np

from station.blobs import Blob
from station.config import TriggerSection
from station.following import MAX_MISSED, carried_off
from station.tracks import REACH, Track


def match(
    tracks: list[Track], blobs: list[Blob], index: int, gap: bool, belt: tuple[float, float] | None, cfg: TriggerSection,
    belt_then: tuple[float, float] | None,
) -> list[Blob]:  # fmt: skip
    """Assigns frame ``index``'s ``blobs`` to ``tracks`` (the nearest centre within ``REACH`` of where each is now) and
    returns those left unmatched. ``gap``: frames not seen came before it (unreadable, dropped, blank), across which a
    track the belt (``belt_then``, its speed as of the last frame believed) has carried off is not looked for; ``belt``:
    the speed a matched track keeps where its own is not known.

    Tracks matched on the last frame choose first, oldest first; then those not seen since, and last those followed
    after they lost their part (:func:`station.following.followed`: at a speed perhaps a little off, they would take a
    part behind that a frame did not show as it passed, from its own track). A track not seen for a frame or two is where
    it was (a piece of a rim that went dark): chosen first, it could take the blob of the part that has just moved up to
    it, while that part's own track took nothing (two verdicts for one part; measured on composed footage: the closest
    pairs first does that too, for a piece on the part's centre line)."""
    free = list(blobs)
    for t in sorted(tracks, key=lambda t: (t.missed > 0, t.missed > MAX_MISSED, t.order)):
        at = t.where(max(index - t.seen, 1))  # more than one frame on across frames not seen
        best = None if at is None or (gap and carried_off(t, index - t.seen, belt_then, cfg)) else _nearest(free, at, t.blob)
        if best is None:
            t.missed += 1
            continue
        free.remove(best)
        t.gapped = t.gapped or gap
        t.was, t.blob, t.missed, t.seen, t.belt = (t.seen, t.blob), best, 0, index, belt or t.belt
    return free


def _nearest(blobs: list[Blob], at: tuple[float, float], part: Blob) -> Blob | None:
    """The blob whose centre is nearest ``at``, within ``REACH`` of ``part``'s size; the first of equals."""
    (x, y), best, dist = at, None, REACH * max(part.size, 1)
    for b in blobs:
        d = float(np.hypot(b.cx - x, b.cy - y))
        if d < dist:
            best, dist = b, d
    return best
