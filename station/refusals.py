"""What the line trigger (:mod:`station.stages.line_trigger`) does with a part crossing the line that it has never seen whole:
a part too large to inspect, or never round enough to be a whole part, is rejected there (never ignored); a part the
frame's top or bottom edge cuts is handed on for preprocess to judge; a piece of a part already judged is neither."""

from __future__ import annotations

from station.blobs import Blob, ahead, along, inside, one_part, part_sized, progress, whole_part
from station.config import Direction, TriggerSection
from station.tracks import Track

MAX_SPLIT_GAP = 3  # frames from a part's last blob to the piece split off it (:func:`split_off`): two not seen between
OUTGROWN = 1.5  # a blob this many times the size of its track's last whole view: that view was a piece of its part


def seen_whole(t: Track) -> bool:
    """``t``'s part was seen whole: a whole view, and not one ``OUTGROWN`` times smaller than its blob now, which was a
    piece of it (a part as dark as the belt behind a bright crescent of its rim, coming into view under a low side light,
    then the whole part). Measured: a part of 400 px in a 480 px frame, seen whole at 120 px, crossed the line touching
    the frame's bottom, and was judged on that piece 25 frames late, as its track gave up: the part behind it in time."""
    return t.last_full is not None and t.blob.size < OUTGROWN * t.last_full[1].size


def too_large(t: Track, cfg: TriggerSection, w: int, h: int) -> str | None:
    """Why a part crossing the line is too large to inspect; None for anything else.

    Larger than max_diameter_px: a part, whatever edges it touches, if it crossed the line while
    watched, or entirely in view if already past the line when first seen (else it is a sliver
    at the edge). Smaller ones that never look round are :func:`never_whole`'s: under shaded
    light a part's rim breaks into pieces, and a rejected piece would be a second verdict for
    its part (measured: a rule for part-sized blobs that never look round, blind to the tracks
    around them, added 2 verdicts to 25 parts of in-envelope footage).
    """
    b = t.blob
    if not t.before_line and not inside(b, cfg, w, h):  # past the line when first seen, cut by the frame: a sliver
        return None
    if b.size > cfg.max_diameter_px:
        return f"part {b.size} px across, larger than trigger.max_diameter_px ({cfg.max_diameter_px}): outside the size envelope"
    return None


def never_whole(t: Track, tracks: list[Track], cfg: TriggerSection, w: int, h: int, when: str = "crossed the line") -> str | None:
    """Why a part-sized blob crossing the line unseen as a whole part is a part to reject; None when it is not.

    Under a low side light, or a part as dark as the belt, only a crescent of the rim may differ from
    the belt: a blob as long as a part but never round. Crossing the line while watched, away from the
    frame's edges, and with no track of ``tracks`` near it (centres closer than the larger size) that was ever a
    whole part or rejected, it is a part that cannot be inspected, not a piece of one that has its
    own verdict. So is one past the line, entirely in view, among the first parts the stream showed
    (``Track.first``: before, a part in view as a video began, under a shaded sector, got no verdict). The tracks near it
    that are in view and fit with it in one part's box may be pieces of the same part: they are marked ``covered`` (no
    such reject of their own), and ``t`` ``never_whole``. A
    covered track that turns whole is still a part of its own unless its centre is where the rejected part is
    (:func:`of_refused`): a neighbouring part keeps its verdict. Checked on 925 parts of composed
    footage (six videos, 25 to 600 parts, shaded ones among them): not one verdict more. ``when``: what it did unseen
    (the stream ended with it in view: :meth:`station.stages.line_trigger.LineTrigger.flush`).
    """
    b = t.blob
    if t.covered or not ((t.before_line or t.first) and inside(b, cfg, w, h) and not seen_whole(t) and part_sized(b, cfg)):
        return None
    near = [o for o in tracks if o is not t and o.blob.apart(b) < max(o.blob.size, b.size)]
    if any((o.last_full is not None or o.inspected) and not o.deferred for o in near):  # deferred: another judges its part
        return None
    for o in near:  # perhaps pieces of this part; a neighbour's piece is rarely in view and in its box
        o.covered = o.covered or (not o.missed and inside(o.blob, cfg, w, h) and one_part(b, o.blob))
    t.never_whole = True
    bw, bh = b.x1 - b.x0, b.y1 - b.y0
    return f"{when} never seen whole ({bw} x {bh} px, not round): part or framing too dark or shaded to inspect"


def cut_by_frame(t: Track, tracks: list[Track], cfg: TriggerSection, w: int, h: int) -> bool:
    """A part-sized blob that crossed the line while watched, clear of the frame's sides but touching its top or bottom
    edge, never seen whole, and no piece of a part of ``tracks`` seen whole or judged (the two fit in one part's box): a
    part the frame cuts, or whose shadow reaches the edge (measured: parts of 270 px in a 360 px frame). It was a
    fragment, and got no verdict. Seen whole as a piece of it only (:func:`seen_whole`) is never seen whole."""
    b, m = t.blob, cfg.edge_margin_px
    if t.covered or seen_whole(t) or not (t.before_line or t.first) or not part_sized(b, cfg):
        return False
    if b.x0 < m or b.x1 > w - m or (b.y0 >= m and b.y1 <= h - m):
        return False
    return not any(o is not t and (o.last_full is not None or o.inspected) and one_part(b, o.blob) for o in tracks)


def of_refused(b: Blob, tracks: list[Track]) -> bool:
    """A whole view centred where a part of ``tracks`` rejected as never seen whole is (as close as a track follows its
    blob)."""
    return any(o.never_whole and o.blob.apart(b) < 0.6 * o.blob.size for o in tracks)


def unseen_part(t: Track, tracks: list[Track], cfg: TriggerSection) -> bool:
    """A part-sized blob, never seen whole, first seen short of the line, that is a part of its own: not a piece of a part
    of ``tracks`` seen whole on the frame ``t`` was last seen in (the two fit in one part's box), nor of one rejected as
    never seen whole, nor covered by one (:func:`never_whole`). Lost across frames not seen, it may have crossed the line
    unseen (:meth:`station.stages.line_trigger.LineTrigger._lost_across`)."""
    b = t.blob
    if t.covered or t.never_whole or t.inspected or t.last_full is not None or not t.before_line or not part_sized(b, cfg):
        return False
    whole_then = [o.whole_view[1] for o in tracks if o is not t and o.whole_view is not None and o.whole_view[0] == t.seen]
    return not of_refused(b, tracks) and not any(one_part(b, o) for o in whole_then)


def crossed_unseen(
    t: Track, new: list[Track], cfg: TriggerSection, w: int, h: int, v: tuple[float, float], steps: int
) -> tuple[bool, Track | None]:
    """Whether ``t``'s part (an :func:`unseen_part`, last seen ``steps`` frames ago) crossed the line in the frames not seen
    since, moved on at the belt's speed ``v``, with no track of ``new`` (those first seen on this frame) to judge it; and
    the one of ``new`` that is its part found again, leaving the frame past the line, if one is. Found again means in its
    lane and where ``v`` has taken it, to a tenth of that travel and half a part's size (a whole size for one cut by the
    frame's side, whose blob's centre is up to half its size behind the part's), part-sized (a piece of it is not). A
    part coming into view is taken to be centred half its height behind its leading edge."""
    b = t.blob
    at = sorted((b.x0, b.x1) if cfg.direction is Direction.LEFT_TO_RIGHT else (w - b.x1, w - b.x0))  # from the side parts come in from
    centre = at[1] - (b.y1 - b.y0) / 2 if at[0] < cfg.edge_margin_px else progress(b, cfg, w) * w
    travel = along(cfg, v[0]) * steps
    if centre >= cfg.line * w or centre + travel < cfg.line * w:
        return False, None  # it crossed the line in view (and was judged or not there, :func:`never_whole`), or has yet to
    found = [
        o
        for o in new
        if part_sized(o.came, cfg)  # not a piece of it, or of another part
        and abs(o.came.cy - b.cy - v[1] * steps) < 0.5 * max(b.size, o.came.size)
        and abs(along(cfg, o.came.cx - b.cx) - travel) <= 0.1 * abs(travel) + o.came.size * (0.5 if inside(o.came, cfg, w, h) else 1.0)
    ]
    if any(whole_part(o.came, cfg, w, h) or progress(o.came, cfg, w) < cfg.line for o in found):
        return False, None  # found again, to be judged there
    return True, (found[0] if found else None)


def split_off(t: Track, tracks: list[Track], speed: tuple[float, float] | None, now: int) -> bool:
    """``t``, first seen on frame ``now`` past the line (and not among the first parts), is a piece split off a part of
    ``tracks`` that was seen whole and has its verdict: ``t``'s blob, smaller than that part's on the frame before
    (``Track.was``, matched on consecutive frames), lies inside where the belt (``speed``, px a frame) took that blob, to a
    tenth of its size. A shadow over the middle of a part leaving the view parts what is left of it in two; its track
    follows one piece, and the other, round and part-sized, was a whole part past the line to inspect (a verdict for no
    part: measured, shadows up to 120 degrees either side, one of 50 parts). A real part is never there: parts do not
    touch. Marks ``t`` ``split``: no part's found again in it (its verdict would be no one's)."""
    if t.before_line or t.first or t.born != now or speed is None:
        return False
    for o in tracks:
        if o is t or o.order > t.order or not o.inspected or o.deferred or o.last_full is None or o.seen != now:
            continue
        if o.was is None or t.blob.size >= o.was[1].size:
            continue
        steps = now - o.was[0]  # more than one across frames not seen (the part came apart on one of them, or just after)
        if not 1 <= steps <= MAX_SPLIT_GAP:
            continue
        if ahead([o.was[1]], (speed[0] * steps, speed[1] * steps))[0].holds(t.blob, 0.1 * o.was[1].size):
            t.split = True
            return True
    return False


def a_piece(t: Track, tracks: list[Track], cfg: TriggerSection, w: int, speed: tuple[float, float] | None, now: int) -> bool:
    """``t``, seen whole last short of the line, was a piece of a part still in view: where the belt (``speed``, px a
    frame) has taken its last whole view by frame ``now`` lies inside the blob of a track of ``tracks`` seen on that frame,
    not yet inspected, short of the line (it faces the line with ``t`` deferred), half as large again. A lit piece of a
    part coming into view under a shaded sector, seen whole before the part's own edge came in: judged on that view as
    its track gave up or was followed across the line, it was a verdict for no part (a reject), and the part had its
    own."""
    if t.last_full is None or speed is None or progress(t.last_full[1], cfg, w) >= cfg.line:
        return False
    seen, b, _ = t.last_full
    steps = now - seen.index
    moved = ahead([b], (speed[0] * steps, speed[1] * steps))[0]
    for o in tracks:
        m = 0.1 * o.blob.size
        if o is t or o.inspected or o.missed or o.blob.size < 1.5 * b.size or progress(o.blob, cfg, w) >= cfg.line:
            continue  # past the line, it was judged as never whole there or not at all: ``t`` is its only verdict
        if o.blob.holds(moved, m):
            return True
    return False
