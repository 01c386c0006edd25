"""The line trigger, for free-running conveyor footage (:mod:`station.stages.trigger` picks it).

Parts are found as blobs that differ from the belt, tracked from frame to frame, and inspected exactly once, like a
photo-eye: on the first frame in which the part's centre has crossed the trigger line while the part is entirely in
view. A track that leaves (or a stream that ends) after a full view but before crossing is inspected on its last full
view; a blob never entirely in view is a fragment and never a part, unless it is part-sized and crosses the line clear
of the frame's sides, touching only its top or bottom (:func:`station.refusals.cut_by_frame`: preprocess then says
whether it is cut off). A part-sized blob that crosses the line in view without ever looking round, with no whole part
near it, is rejected at the line, unable to inspect (:func:`station.refusals.never_whole`).

Across frames the trigger did not see (undecodable frames of a recording, frames the capture queue dropped: gaps in the
frame index) a track seen whole is looked for where its speed has taken it (:meth:`station.tracks.Track.speed`: seen
whole only once, the belt's), so that its part keeps its one verdict. A frame that shows nothing where such a part must
be (the light out or a flash), or while a part is coming into view, is not believed either: the part is waited for, and
judged on its last whole view if its speed takes it past the line unseen, or, never seen whole, looked for where the
belt has taken it on the next frame that shows something (:meth:`LineTrigger._blank`, :meth:`LineTrigger._unseen`,
:meth:`LineTrigger._awaited`). A recording that ends in such frames is judged as of its last
(:meth:`LineTrigger.flush`). A part whose track misses it for more than ``MAX_MISSED`` frames that do show other parts
(a hand over it, a shade) is followed the same way (:mod:`station.following`). A part that a new track finds again where
its own track would have had it by then keeps one verdict (:meth:`LineTrigger._found_again`), also once its own track
has given up on it (:meth:`LineTrigger._retire`).

Each part tells a :class:`station.travel.TravelWatch` which way it moves, once it has moved far enough to tell: parts
moving against ``trigger.direction`` are each already past the line as they come into view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from station.blobs import Blob, ahead, along, find_blobs, one_part, part_clear_of_sides, progress, whole_part
from station.config import TriggerSection
from station.following import MAX_MISSED, MIN_SPEED, expected, followed, predicted
from station.matching import match
from station.messages import Cause, Failure, Frame, Part, Reason
from station.refusals import a_piece, crossed_unseen, cut_by_frame, never_whole, of_refused, split_off, too_large, unseen_part
from station.tracks import Track, found_again
from station.travel import TravelWatch

_END = object()  # the stream's end, as the frame being handled (:meth:`LineTrigger._begin`)
_MAX_BLANK = 50  # frames in a row that show nothing where a part must be, before it is no longer looked for there


class LineTrigger:
    """Tracks parts across frames and fires once per part at the trigger line."""

    def __init__(self, cfg: TriggerSection, on_blank: Callable[[int], None] | None = None, travel: TravelWatch | None = None) -> None:
        self.cfg = cfg
        self._travel = travel
        self._on_blank = on_blank
        self._tracks: list[Track] = []
        self._lost: list[Track] = []  # retired after a whole view, with its part's verdict: perhaps found again (_found_again)
        self._next_id = 1
        self._order = 0
        self._blanks = 0  # frames in a row that were blank where a part must be (:meth:`_blank`)
        self._matched_at = -1  # the index of the last frame whose blobs were matched to the tracks
        self._gap_from = -1  # on the first frame matched after frames not seen, the last one matched before them; else -1
        self._width = 0  # of the last frame looked at
        self._belt_then: tuple[float, float] | None = None  # the belt's speed (:meth:`_belt`) as of the last frame believed
        self._level: float | None = None  # the belt's grey level on the last frame seen
        self._ended = False  # flush has begun: no track defers to a part as a piece of it (:meth:`_a_piece`)
        self._last: Frame | None = None  # the last frame handed in (perhaps unseen): where the stream ended (:meth:`flush`)
        self._height = 0
        self._blobs_then: list[Blob] = []  # the last frame's blobs, where the belt takes them: its level is read elsewhere
        self._saved: tuple[object, dict[str, object]] = (None, {})  # the frame being handled, and the state it found

    def _begin(self, at: Frame | None) -> None:
        """The frame ``at`` (None: the stream's end) begins: the state it finds is kept, to go back to should the trigger
        fail on it (:meth:`failed`). The tracks in view are copied; the rest is values, or lists of them copied (tracks
        retired to ``_lost`` are not changed in place); a few µs."""
        saved = vars(self).copy()
        saved.update(_tracks=[t.copy() for t in self._tracks], _lost=self._lost.copy(), _blobs_then=self._blobs_then.copy(), _saved=None)
        self._saved = (_END if at is None else at, saved)

    def _emit(self, frame: Frame, blob: Blob, belt: float | None, seen: int | None = None) -> Part:
        part = Part(self._next_id, frame, blob=(blob.cx, blob.cy, float(blob.size)), belt_level=belt, seen=seen)
        self._next_id += 1
        return part

    def _judged(self, t: Track, b: Blob) -> bool:
        """``t``'s part, seen whole as ``b``, has its verdict from another track: a part rejected as never seen whole, or
        found again by a newer track (:meth:`_to_newer`), or of an older one that gave its verdict (:meth:`_of_older`)."""
        return of_refused(b, self._tracks) or self._to_newer(t) or self._of_older(t)

    def _inspect(self, t: Track, b: Blob) -> bool:
        """Marks ``t`` inspected, seen whole as ``b``, and ``deferred`` when a newer track judges its part (:meth:`_to_newer`)
        or it was a piece of a part still in view (:meth:`_a_piece`) or split off one judged (:func:`split_off`); True when
        it is to give its part's verdict (no other track does: :meth:`_judged`)."""
        t.inspected, t.deferred = True, self._to_newer(t) or self._a_piece(t) or split_off(t, self._tracks, self._belt(), self._matched_at)
        return not (t.deferred or of_refused(b, self._tracks) or self._of_older(t))

    def _of_older(self, t: Track) -> bool:
        """``t`` finds again (:meth:`_found_again`) the part of an older track inspected. Never of one that deferred to a
        newer track (``deferred``, perhaps ``t``): then neither would give a verdict."""
        return any(self._found_again(o, t) and o.inspected and not o.deferred for o in [*self._tracks, *self._lost])

    def _to_newer(self, t: Track) -> bool:
        """``t``'s part found again (:meth:`_found_again`) by a newer track seen whole or inspected, no split piece: that judges it."""
        return any(self._found_again(t, o) and (o.inspected or o.last_full is not None) and not o.split for o in self._tracks + self._lost)

    def _found_again(self, t: Track, o: Track) -> bool:
        """:func:`station.tracks.found_again`, on this frame's width and the belt's speed now (:meth:`_belt`)."""
        return found_again(t, o, self.cfg, self._width, self._belt())

    def _belt(self) -> tuple[float, float] | None:
        """The belt's speed, px a frame: that of the part seen last whose speed is known; None if none is."""
        known = [t for t in self._tracks if t.velocity is not None]
        return max(known, key=lambda t: t.seen).velocity if known else None

    def _refuse(self, frame: Frame, blob: Blob, belt: float | None, why: str | Failure, cause: Cause | None = None,
                seen: int | None = None) -> Part:  # fmt: skip
        """A part the trigger saw but that cannot be inspected: rejected unable_to_inspect, with why and its cause (or for
        the ``Failure`` given as ``why``)."""
        failure = why if isinstance(why, Failure) else Failure(Reason.UNABLE, why, cause)
        part = Part(self._next_id, frame, blob=(blob.cx, blob.cy, float(blob.size)), belt_level=belt, failure=failure, seen=seen)
        self._next_id += 1
        return part

    def _match(self, blobs: list[Blob], frame: Frame) -> list[Blob]:
        """:func:`station.matching.match` on this frame: the blobs no track took. After frames not seen, a matched track
        whose own speed is not known keeps the belt's now; else the belt's as of the frame before (nothing has moved the
        tracks since)."""
        before, self._matched_at = self._matched_at, frame.index
        unseen = frame.index - before > 1  # frames between: unreadable, dropped, blank
        self._gap_from = before if unseen else -1
        belt = self._belt() if unseen else self._belt_then
        return match(self._tracks, blobs, frame.index, unseen, belt, self.cfg, self._belt_then)

    def __call__(self, frame: Frame) -> list[Part]:
        self._begin(frame)
        if frame.camera_lost:
            return self._blinded(frame)
        self._last = frame
        if frame.failure is not None or frame.image.size == 0:
            return []  # unseen: the tracks wait, and are looked for where they will have moved to
        h, w = frame.image.shape
        self._width, self._height = w, h
        blobs, belt = find_blobs(frame.image, self.cfg, self._blobs_then)
        self._level = belt
        self._blobs_then = ahead(blobs, self._belt())
        if self._blank(blobs, frame.index, w, h):
            return self._unseen(frame, w, h)
        new, speed, first = self._match(blobs, frame), self._belt(), self._order == 0
        for b in sorted(new, key=lambda b: -progress(b, self.cfg, w)):
            self._tracks.append(Track(self._order, b, progress(b, self.cfg, w) < self.cfg.line, seen=frame.index, belt=speed, first=first))
            self._order += 1
        out: list[Part] = []
        waiting: list[Track] = []  # past the line, seen whole before but not now: judged before any part behind them
        for t in sorted(self._tracks, key=lambda t: t.order):
            if t.missed:
                if t.seen == self._gap_from and not t.inspected:  # missed on this frame, or on blank frames before it
                    out.extend(self._lost_across(t, frame, w, h))
                continue
            full = whole_part(t.blob, self.cfg, w, h)
            if full:
                t.whole_view = (frame.index, t.blob)
            if self._travel is not None:
                self._travel.tell(t, self.cfg, w)
            if t.inspected:
                continue
            judged = self._decide(t, frame, belt, full, waiting)
            out += judged
            if not judged and not full and t.last_full is not None and progress(t.blob, self.cfg, w) >= self.cfg.line:
                waiting.append(t)
        waited, due = self._followed([t for t in self._tracks if t.missed > MAX_MISSED], frame.index, w, h)
        out += self._inspect_followed(frame, waited, due)
        self._belt_then = self._belt()
        return out

    def _decide(self, t: Track, frame: Frame, belt: float, full: bool, waiting: list[Track]) -> list[Part]:
        """``t``'s part on this frame, not yet inspected (``full``: seen whole on it): judged, rejected or left to wait. The
        parts of ``waiting`` (ahead of it, past the line, seen whole before but not now) are judged first on their last
        whole view, so that the verdicts stay in order: they had waited for their track to give up, and a part seen whole
        as it came into view and never again (a shaded sector: a half disc) got its verdict after the part behind it."""
        h, w = frame.image.shape
        past = progress(t.blob, self.cfg, w) >= self.cfg.line
        if not full and past and self._crossed_in_gap(t, w):
            return self._on_last_whole(t, frame)
        if not full:  # crossed the line never seen whole: a reject or preprocess's to judge, never ignored
            return self._never_whole(t, frame, belt, too_large(t, self.cfg, w, h), "crossed the line", waiting) if past else []
        t.whole(frame, t.blob, belt)
        if past and self._inspect(t, t.blob):
            return [*self._ahead(waiting, frame), self._emit(frame, t.blob, belt)]
        return []

    def _ahead(self, waiting: list[Track], frame: Frame) -> list[Part]:
        """The parts ``waiting`` ahead of one judged now, each judged on its last whole view, stamped with ``frame``."""
        out = [p for t in waiting if not t.inspected for p in self._on_last_whole(t, frame)]
        waiting.clear()
        return out

    def _lost_across(self, t: Track, frame: Frame, w: int, h: int, ended: bool = False) -> list[Part]:
        """``t``, seen on the last frame before frames not seen (undecodable, dropped, blank), is not where its speed has
        taken it by ``frame``: the first after them (``ended``: the last of the stream, not seen either). Taken past the
        line meanwhile, its part crossed it unseen, and is judged now, in order: before the parts behind it (a new track,
        past the line when first seen, judges its part at once; ``t`` had waited to retire, and its verdict came after
        theirs). Seen whole, on its last whole view (as :meth:`_retire` would); coming into view, never seen whole, it
        is rejected, unable to inspect, unless it is a piece of a part seen whole (:func:`station.refusals.unseen_part`)
        or found again (:func:`station.refusals.crossed_unseen`): before, it got no verdict at all (measured: 49
        undecodable frames of an AVI, a defective part among them)."""
        if t.last_full is not None:
            at = predicted(t, frame.index, self.cfg)
            if at is None or progress(at, self.cfg, w) < self.cfg.line:
                return []  # still to cross: found again by a new track, or judged when its track gives up
            return self._on_last_whole(t, frame)
        v, steps = self._belt_then, frame.index - t.seen  # as of the last frame believed: tracks may have retired since
        if v is None or along(self.cfg, v[0]) < MIN_SPEED or not unseen_part(t, self._tracks, self.cfg):
            return []
        new = [o for o in self._tracks if o.born == frame.index and o.order > t.order]  # none when the stream ended (flush)
        crossed, leaving = crossed_unseen(t, new, self.cfg, w, h, v, steps)
        if not crossed:
            return []
        t.inspected = True
        if leaving is not None:  # its part found again leaving, past the line: it may look whole for a frame, and is judged here
            leaving.inspected = True
        # it and the other pieces of its part seen with it are dropped: where they were is the place of the part behind now
        # (kept, such a track took that part's blob as it came into view, and, judged, never judged it)
        gone = [o for o in self._tracks if o is t or (o.seen == t.seen and o.last_full is None and one_part(o.blob, t.blob))]
        self._tracks = [o for o in self._tracks if all(o is not g for g in gone)]
        unseen = steps if ended else steps - 1  # ``frame`` not seen either: the last of the stream (:meth:`flush`)
        return [self._refuse(frame, t.blob, None, f"crossed the line in {unseen} frames not seen, never seen whole", Cause.UNSEEN, t.seen)]

    def _crossed_in_gap(self, t: Track, w: int) -> bool:
        """``t``, matched on the first frame after frames not seen, is past the line and not whole now (a part leaving the
        frame), its last whole view short of it: it crossed the line unseen, and is judged now, on that view (it had
        waited for its track to give up, and the parts behind it were judged first)."""
        if self._gap_from < 0 or t.seen != self._matched_at or t.last_full is None or t.inspected:
            return False
        return progress(t.last_full[1], self.cfg, w) < self.cfg.line

    def _on_last_whole(self, t: Track, frame: Frame) -> list[Part]:
        """``t``'s part judged now (:meth:`_inspect`), on its last whole view, stamped with ``frame`` (the view's own
        index kept as the part's ``seen``)."""
        assert t.last_full is not None
        seen, blob, level = t.last_full
        return [self._emit(replace(frame, image=seen.image), blob, level, seen.index)] if self._inspect(t, blob) else []

    def _blank(self, blobs: list[Blob], index: int, w: int, h: int) -> bool:
        """A frame that shows nothing at all where a part must be: the light went out or flashed, or the camera showed
        an empty belt. Parts do not vanish from the middle of the belt, so it is not believed: the trigger waits
        for the next frame, as across an unreadable one, and looks for each part where its speed has taken it.

        A part must be in view when it was seen whole and moving along the belt (:func:`station.following.expected`), or coming into view
        on the last frame believed (:meth:`_awaited`: debris that vanishes with everything else in view is taken for such
        a part, and rejected as crossed unseen). Up to
        ``_MAX_BLANK`` such frames in a row; after that the frames are taken as they are. What each track does in
        such a frame is :meth:`_unseen`'s.
        """
        if blobs:
            self._blanks = 0
            return False
        if self._blanks >= _MAX_BLANK or not any(expected(t, index, self.cfg, w, h) or self._awaited(t) for t in self._tracks):
            return False
        self._blanks += 1
        if self._on_blank is not None:
            self._on_blank(index)
        return True

    def _unseen(self, frame: Frame, w: int, h: int) -> list[Part]:
        """A blank frame (:meth:`_blank`). The parts that must be in view wait for it to pass, as do those whose tracks
        had already missed them for more than ``MAX_MISSED`` frames and are followed (:meth:`_followed`), and parts coming
        into view (:meth:`_awaited`, looked for after it); every other track misses it, as it would have, and retires
        after ``MAX_MISSED`` (a whole one inspected on its last whole view).

        A waited-for part its speed takes past the line is inspected now, as a photo-eye would fire: on the pixels of
        its last whole view, stamped with this frame's number and capture time, for the gateway times its actuator
        from the moment a part crosses the line. It is still followed, so that seen again it gets no second verdict.
        One followed further than its speed is known for (``MAX_DRIFT``) is lost, and inspected now the same way, as near
        the line as it will be seen. One that a track behind it, inspected now, would overtake is inspected now too:
        verdicts stay in order."""
        waited, due = self._followed([t for t in self._tracks if t.missed == 0 or t.missed >= MAX_MISSED], frame.index, w, h)
        for t in self._tracks:
            t.missed += 0 if t.order in waited or self._awaited(t) else 1
        return self._inspect_followed(frame, waited, due)

    def _followed(self, tracks: list[Track], index: int, w: int, h: int) -> tuple[set[int], set[int]]:
        """:func:`station.following.followed`, on this frame's tracks and the belt's speed now (:meth:`_belt`; read only when
        there are ``tracks`` to follow: most frames follow none)."""
        return followed(tracks, self._tracks, index, self._belt() if tracks else None, self.cfg, w, h)

    def _inspect_followed(self, frame: Frame, waited: set[int], due: set[int]) -> list[Part]:
        """Inspects now each track ``due`` (:meth:`_followed`), and each ``waited`` for ahead of one due or of one that
        retires now (verdicts stay in order): on its last whole view, stamped with ``frame``. Then retires the tracks that
        have missed their part for more than ``MAX_MISSED`` frames and are not followed (:meth:`_retire`)."""
        gone = {t.order for t in self._tracks if t.missed > MAX_MISSED and t.order not in waited}
        retiring = [t.order for t in self._tracks if t.order in gone and t.last_full is not None and not t.inspected]
        behind = max([*retiring, *due], default=-1)
        out: list[Part] = []
        for t in sorted(self._tracks, key=lambda t: t.order):
            if not t.inspected and t.last_full is not None and (t.order in due or (t.order in waited and t.order < behind)):
                out.extend(self._on_last_whole(t, frame))
        return out + self._retire(lambda t: t.order in gone, frame.index)

    def _awaited(self, t: Track) -> bool:
        """``t``, a part coming into view (:func:`station.refusals.unseen_part`), short of the line on the last frame
        believed, the belt moving: a frame that shows nothing is not believed, and the part is looked for where the belt
        has taken it on the next that shows something (:meth:`_lost_across`). Believed, the part was missed in a run of
        them, or judged crossed unseen on one and again as it showed whole past the line on the next."""
        if t.missed or t.seen != self._matched_at or (v := self._belt_then) is None or along(self.cfg, v[0]) < MIN_SPEED:
            return False
        return progress(t.blob, self.cfg, self._width) < self.cfg.line and unseen_part(t, self._tracks, self.cfg)

    def _retire(self, gone: Callable[[Track], bool], index: int | None = None) -> list[Part]:
        """Drops the tracks ``gone``: one seen whole and not yet inspected is inspected now on its last whole view, unless
        its part has its verdict from another track. One whose part has its verdict from it is kept among the lost for as
        long as its part may be found again (:meth:`_found_again`, :meth:`Track.findable`): a part unseen for a while
        (shaded, a hand over it) keeps one verdict. ``index``: this frame's; None, the stream ended."""
        out: list[Part] = []
        keep: list[Track] = []
        for t in sorted(self._tracks, key=lambda t: t.order):
            if not gone(t):
                keep.append(t)
                continue
            out += self._last_verdict(t)
            if t.inspected and t.last_full is not None:
                self._lost.append(t)
        self._tracks = keep
        belt = self._belt() if self._lost else None  # read once, not once per lost track
        self._lost = [] if index is None else [t for t in self._lost if t.findable(index, belt)]
        return out

    def _last_verdict(self, t: Track) -> list[Part]:
        """``t`` seen whole and not yet inspected: inspected now on its last whole view, unless its part has its verdict
        from another track (:meth:`_judged`)."""
        if t.inspected or t.last_full is None or self._judged(t, t.last_full[1]):
            return []
        t.inspected = True
        t.deferred = self._a_piece(t)
        return [] if t.deferred else [self._emit(*t.last_full)]

    def _a_piece(self, t: Track) -> bool:
        """:func:`station.refusals.a_piece`, on this frame's tracks, width and belt speed. Never as the stream ends: the part
        it would leave the verdict to may get none there (never whole, it is rejected only as no piece's part)."""
        return not self._ended and a_piece(t, self._tracks, self.cfg, self._width, self._belt(), self._matched_at)

    def _blinded(self, marker: Frame) -> list[Part]:
        """The camera went away: every part in view not yet inspected is rejected, unable to inspect.

        They move on while the station is blind, so no later frame can be matched to them.
        """
        out = []
        for t in sorted(self._tracks, key=lambda t: t.order):
            if not t.inspected:
                frame = t.last_full[0] if t.last_full is not None else marker
                out.append(self._refuse(frame, t.blob, None, "camera lost while the part was in view", Cause.CAMERA_LOST))
        self._tracks, self._lost, self._belt_then = [], [], None
        return out

    def failed(self, frame: Frame | None, failure: Failure) -> list[Part]:
        """The trigger raised on ``frame`` (None: as the stream ended; :class:`station.stages.trigger.TriggerStage`): its
        state goes back to what the frame found (the numbers it took on it too: their parts were lost with the exception),
        and the frame is taken as one not seen, as an unreadable one: the parts are followed across it and judged as ever.
        A camera-lost marker, or the stream's end, has no next frame to judge them on: each part in view not yet judged,
        seen whole or of a part's size clear of the frame's sides, is rejected for ``failure`` (a piece of such a size may
        so get a verdict of its own, a reject: never none), and after a camera lost none is followed on."""
        if self._saved[0] is (_END if frame is None else frame):  # else it raised before it changed anything
            vars(self).update(self._saved[1])
            self._saved = (None, {})
        if frame is not None and not frame.camera_lost:
            self._last = frame
            return []
        at = frame if frame is not None else self._last
        if at is None:
            return []  # nothing seen: none in view
        self._ended = frame is None
        out = [
            self._refuse(at, t.blob, None, failure)
            for t in sorted(self._tracks, key=lambda t: t.order)
            if not t.inspected and (t.last_full is not None or part_clear_of_sides(t.blob, self.cfg, self._width))
        ]
        for t in self._tracks:
            t.inspected = True
        if at.camera_lost:
            self._tracks, self._lost, self._belt_then = [], [], None
        return out

    def flush(self) -> list[Part]:
        """End of stream: parts seen whole but not yet past the line are inspected now, and parts never seen whole are
        rejected as at the line (:meth:`_ended_unseen`). Ended in frames not seen, the parts
        seen before them are first judged as across them (:meth:`_lost_across`), as of the last: one the belt took past the
        line meanwhile, never seen whole, is rejected (before, it got no verdict)."""
        self._begin(None)
        out, last = [], self._last if self._last is not None and self._last.index > self._matched_at >= 0 else None
        stamp, self._ended = None if last is None else replace(last, failure=None), True
        for t in sorted(self._tracks, key=lambda t: t.order):  # one pass, in order: the verdicts stay in order
            if stamp is not None and t.seen == self._matched_at and not t.inspected:
                out += self._lost_across(t, stamp, self._width, self._height, ended=True)
            # after frames not seen, each stamped with the last, as those judged across them (in order of their stamps too)
            out += self._last_verdict(t) if stamp is None or t.inspected or t.last_full is None else self._on_last_whole(t, stamp)
            out += self._ended_unseen(t, stamp or self._last)
        return out + self._retire(lambda t: True)

    def _ended_unseen(self, t: Track, last: Frame | None) -> list[Part]:
        """``t``, in view as the stream ended (``last``: its last frame, or where it ended in frames not seen, the last of
        them) and never seen whole: rejected as it would be at the line (:func:`station.refusals.never_whole`: a part
        under a shaded sector, a crescent of its rim, no piece of a part seen whole), or handed to preprocess where the
        frame's top or bottom cuts it (:func:`station.refusals.cut_by_frame`). Before, it got no verdict."""
        if t.inspected or t.last_full is not None or last is None:
            return []
        return self._never_whole(t, last, self._level, None, "in view as the stream ended,")

    def _never_whole(
        self, t: Track, frame: Frame, belt: float | None, why: str | None, when: str, ahead: list[Track] | None = None
    ) -> list[Part]:
        """``t``'s part, never seen whole (``when``: as it crossed the line, or as the stream ended), judged on ``frame``:
        rejected for ``why`` or as :func:`station.refusals.never_whole` says, or handed to preprocess where the frame's top
        or bottom cuts it (:func:`station.refusals.cut_by_frame`: preprocess says whether it is cut off); none when it is
        no part of its own (a piece of a part seen whole, a sliver). The parts waiting ``ahead`` of it (:meth:`_ahead`) are
        judged first, their ids before its own (its id was taken first, and verdicts went out 2, 1)."""
        w, h = self._width, self._height
        cause, why = (Cause.TOO_LARGE, why) if why else (Cause.NEVER_WHOLE, never_whole(t, self._tracks, self.cfg, w, h, when))
        if why is None and not cut_by_frame(t, self._tracks, self.cfg, w, h):
            return []
        t.inspected = True
        first = self._ahead(ahead, frame) if ahead is not None else []
        return [*first, self._refuse(frame, t.blob, belt, why, cause) if why is not None else self._emit(frame, t.blob, belt)]
