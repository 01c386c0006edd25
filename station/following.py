"""Where the line trigger (:mod:`station.stages.line_trigger`) looks for a part it does not see: across frames it did not
see (undecodable, dropped, blank), and while a track has lost its part (a hand over it, a shade). Each part seen whole is
looked for where its speed (:meth:`station.tracks.Track.speed`) has taken it, for as long as that is trusted."""

from __future__ import annotations

from station.blobs import Blob, along, inside, progress
from station.config import TriggerSection
from station.tracks import REACH, Track, about, drifted, found_again

MAX_MISSED = 4  # frames that show other parts in which a track may miss its part before it is followed, or retires
MIN_SPEED = 2.0  # px a frame along the travel: half the envelope's slowest belt; slower, a part may have stopped


def predicted(t: Track, index: int, cfg: TriggerSection) -> Blob | None:
    """``t``'s box on frame ``index`` (:meth:`Track.ahead`): seen whole in the last ``MAX_MISSED`` frames it was seen in,
    moving along at ``MIN_SPEED`` or more (slower, it may have stopped, and be lifted off)."""
    return t.ahead(index, lambda v: along(cfg, v[0]) >= MIN_SPEED, MAX_MISSED)


def expected(t: Track, index: int, cfg: TriggerSection, w: int, h: int) -> bool:
    """``t``, seen on the last frame the trigger believed, is entirely in view where its speed has taken it by frame
    ``index`` (:func:`predicted`)."""
    at = predicted(t, index, cfg) if not t.missed else None
    return at is not None and inside(at, cfg, w, h)


def carried_off(t: Track, steps: int, belt: tuple[float, float] | None, cfg: TriggerSection) -> bool:
    """``t``, never seen whole, has no speed of its own to be looked for with across ``steps`` - 1 frames not seen, and
    the ``belt`` has carried its part out of a match's reach meanwhile: where it was is now another part's (the
    one behind, coming into view there: taking it, the track took that part's place, and its own got no verdict)."""
    return t.last_full is None and belt is not None and abs(along(cfg, belt[0])) * steps > REACH * t.blob.size


def followable(t: Track, tracks: list[Track], belt: tuple[float, float] | None, cfg: TriggerSection, width: int) -> bool:
    """``t``, which lost its part, may follow it on: its speed steady (:meth:`Track.steady`) and within a tenth (and 1 px a
    frame) of the ``belt``'s now (the other parts': followed far, a speed a tenth off puts a verdict frames late), and no
    newer track of ``tracks`` has found the part again (:func:`station.tracks.found_again`) and seen it whole."""
    if not t.steady() or (belt is not None and t.velocity is not None and not about(belt, t.velocity, 0.1, 1.0)):
        return False
    return not any(o.last_full is not None and found_again(t, o, cfg, width, belt) for o in tracks)


def followed(
    tracks: list[Track], everyone: list[Track], index: int, belt: tuple[float, float] | None, cfg: TriggerSection, w: int, h: int
) -> tuple[set[int], set[int]]:
    """Of ``tracks`` (among ``everyone`` the trigger has), by order: those followed across frame ``index`` at their speed
    (:func:`predicted`) and still in view; and those to inspect now, followed past the line or further than their speed is
    known (``MAX_DRIFT``: lost here, as near the line as they will be seen). Those are the tracks seen on the last frame
    believed, across a blank frame, and those that have missed their part for more than ``MAX_MISSED`` frames: a part
    unseen while other parts show (a hand over it, a shade) is judged as it crosses the line, in order, and found where it
    is seen again, as across blank frames. Not one that lost its part and may not follow it (:func:`followable`: a newer
    track found it again and follows it, or its speed is not steady, or no longer the ``belt``'s: on a belt starting again
    its averaged speed lags, and it would be judged late, and after the part behind it)."""
    waited, due = set(), set()
    for t in tracks:
        at, v = predicted(t, index, cfg), t.speed()
        if at is None or not inside(at, cfg, w, h) or (t.missed and not followable(t, everyone, belt, cfg, w)):
            continue
        assert t.whole_view is not None and v is not None  # as predicted gave a box
        if drifted(v, index - t.whole_view[0], t.whole_view[1]):
            due.add(t.order)
            continue
        waited.add(t.order)
        if progress(at, cfg, w) >= cfg.line:
            due.add(t.order)
    return waited, due
