"""The line trigger at the edges of a recording and of the frame: a part a few pixels inside the frame is entirely in view,
a part in view as the stream begins or ends gets its verdict, and a part seen whole only as it came into view keeps its
place in the order of verdicts."""

from __future__ import annotations

import cv2
import numpy as np

from station.blobs import find_blobs, inside
from station.config import TriggerSection
from station.messages import Frame
from station.stages.line_trigger import LineTrigger

from .belt_frames import disc_frame, emitted_by, moving, run, unreadable, with_blank


def _frame(w: int, h: int, parts: list[tuple[int, bool]], index: int, r: int = 100) -> Frame:
    """A belt with a part at each (x, round) on the middle line: a bright disc with a dark hub, or where not ``round`` only
    a crescent of it shows (a shaded sector: a blob twice as wide as it is long along the belt, never round)."""
    img = np.full((h, w), 60, np.uint8)
    for x, whole in parts:
        if whole:
            cv2.circle(img, (x, h // 2), r, 190, -1)
            cv2.circle(img, (x, h // 2), r // 2, 25, -1)
        else:
            cv2.ellipse(img, (x, h // 2), (r // 2, r), 0, 0, 360, 190, -1)
    return Frame(index, img, index / 25, 0.0)


def test_a_part_a_few_pixels_inside_the_frame_is_entirely_in_view_and_one_cut_by_it_is_not() -> None:
    """Found in the work image, a blob is wider than its part by the blur: 9 px inside the frame, it reached the edge."""
    cfg = TriggerSection()
    for x, entire in [(640 - 100 - 9, True), (100 + 9, True), (640 - 100 + 5, False), (100 - 5, False)]:
        blobs, _ = find_blobs(disc_frame(640, 360, [(x, 180, 100)]), cfg)
        assert len(blobs) == 1 and inside(blobs[0], cfg, 640, 360) is entire, x
        assert blobs[0].x1 - blobs[0].x0 >= 200, "its box still holds all of it"


def test_a_part_whole_only_in_the_first_frames_a_few_pixels_from_the_edge_gets_its_verdict() -> None:
    """Past the line and leaving, entirely in view in frames 0-2 with 9, 5 and 1 px to spare: it got none (an escape, for
    a defect)."""
    parts = run(LineTrigger(TriggerSection()), moving(640, 360, 100, [640 - 100 - 9], 4, 30))
    assert len(parts) == 1 and parts[0].failure is None and parts[0].frame.index == 0


def test_a_part_in_view_as_the_stream_ends_never_seen_whole_is_rejected() -> None:
    """Entirely in view in the last frames, short of the line, never round (a shaded sector): it got no verdict."""
    frames = [_frame(1280, 720, [(-100 + 12 * t, False)], t) for t in range(30)]  # its centre at 248 px on the last
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].failure is not None
    assert parts[0].failure.detail.startswith("in view as the stream ended, never seen whole")


def test_a_part_never_round_past_the_line_as_the_stream_begins_is_rejected() -> None:
    """In view from the first frame, past the line, never round: no part was judged before it, so it is no piece of one."""
    frames = [_frame(1280, 720, [(800 + 12 * t, False)], t) for t in range(40)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].failure is not None and "never seen whole" in parts[0].failure.detail


def test_a_part_seen_whole_only_as_it_came_into_view_is_judged_before_the_part_behind_it() -> None:
    """Round as it comes into view, a crescent from then on (a shaded sector): it waited past the line for a whole view,
    to be judged on its last when its track gave up, after the part behind it had its verdict (out of order)."""
    frames = [_frame(1280, 720, [(-100 + 12 * t, t <= 25), (-430 + 12 * t, True)], t) for t in range(130)]
    emitted = emitted_by(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for _, p in emitted] == [1, 2]
    (at_a, a), (at_b, b) = emitted
    assert at_a == at_b and a.frame.index <= b.frame.index, "judged as the part behind it is, stamped no later"
    assert a.seen is not None and a.seen <= 25, "on its last whole view"


def test_a_part_waiting_past_the_line_keeps_its_place_before_a_part_behind_it_rejected_as_never_whole() -> None:
    """A small part seen whole before the line, then a half disc past it (a shaded sector), waits for a whole view; a part
    behind it, too large for the trigger, crosses the line never whole and is rejected: the waiting part is judged first,
    and its id came after the reject's (verdicts 2, 1: the gateway took part 1 as lost)."""
    w, h = 1600, 720
    frames = []
    for t in range(90):
        img = disc_frame(w, h, [(200 + 20 * t - 500, h // 2, 300), (200 + 20 * t, h // 2, 80)])
        if 200 + 20 * t >= 780:  # the small part's lower half shaded to the belt's level
            img[h // 2 + 1 : h // 2 + 90, 200 + 20 * t - 90 : 200 + 20 * t + 90] = 60
        frames.append(Frame(t, img, float(t), float(t)))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, str(p.failure.cause) if p.failure else "inspect") for p in parts] == [(1, "inspect"), (2, "too_large")]


def _piece_then_part(t: int, speed: int = 20, r: int = 190, crescent: bool = False) -> Frame:
    """A 380 px part coming into view from the left with its leading sector shaded: a sliver of its rim at the frame's side
    and a lit piece of it further in (a disc 130 px across, round and clear of the side) show until its centre is 80 px
    into the frame, then all of it."""
    x = -200 + speed * t
    img = np.full((720, 1280), 60, np.uint8)
    if -40 <= x < 80:
        cv2.rectangle(img, (0, 300), (60, 560), 190, -1)
    if 10 <= x < 80:
        cv2.circle(img, (x + 60, 200), 65, 190, -1)
    elif x >= 80 and crescent:  # the part never round: its shaded sector stays dark
        cv2.ellipse(img, (x, 360), (r // 2, r), 0, 0, 360, 190, -1)
    elif x >= 80:
        cv2.circle(img, (x, 360), r, 190, -1)
        cv2.circle(img, (x, 360), r // 2, 25, -1)
    return Frame(t, img, t / 25, 0.0)


def test_a_lit_piece_of_a_part_coming_into_view_seen_whole_before_it_is_no_part_of_its_own() -> None:
    """The sliver's track takes the part's blob; the piece's, lost, was followed at the belt's speed and judged on its
    whole view as it crossed the line (or as its track gave up): a verdict for no part (another generator's footage: a
    reject, once a part's only verdict, stamped before it came into view)."""
    parts = run(LineTrigger(TriggerSection()), [_piece_then_part(t) for t in range(80)])
    assert len(parts) == 1 and parts[0].failure is None and parts[0].blob is not None and parts[0].blob[2] > 300


def test_a_piece_and_its_never_round_part_in_view_as_the_stream_ends_give_one_verdict() -> None:
    """At the end the part, never whole, was no part of its own beside the piece seen whole, and the piece deferred to
    the part as a piece of it: neither gave a verdict (a review's case)."""
    for n in (16, 25, 30, 40, 50):
        parts = run(LineTrigger(TriggerSection()), [_piece_then_part(t, crescent=True) for t in range(n)])
        assert len(parts) == 1, n


def test_a_part_never_seen_whole_is_rejected_however_the_stream_ends() -> None:
    """Ended in frames not decoded or blank, or the last frame blank, the part in view never seen whole got no verdict."""
    frames = [_frame(1280, 720, [(-100 + 12 * t, False)], t) for t in range(32)]
    for ended in (
        frames[:30],
        unreadable(frames, range(30, 32)),
        with_blank(frames[:31], range(30, 31)),
        with_blank(frames[:30], range(29, 30)),
    ):
        parts = run(LineTrigger(TriggerSection()), ended)
        assert len(parts) == 1 and parts[0].failure is not None and "never seen whole" in parts[0].failure.detail


def _shadowed(t: int, x0: int, v: int = 8, r: int = 125) -> Frame:
    """A part entirely in view whose shadow reaches the frame's bottom edge (640 x 360)."""
    img = np.full((360, 640), 60, np.uint8)
    x = x0 + v * t
    cv2.ellipse(img, (x + 20, 300), (r, 70), 0, 0, 360, 28, -1)
    cv2.circle(img, (x, 175), r, 190, -1)
    cv2.circle(img, (x, 175), r // 2, 25, -1)
    return Frame(t, img, t / 25, 0.0)


def test_a_part_whose_shadow_reaches_the_frames_edge_gets_its_verdict_as_a_stream_begins_or_ends() -> None:
    """Handed to preprocess as it crosses the line while watched; past the line as the stream began, or short of it as
    it ended, it got none (a review's case)."""
    for x0, n in ((150, 40), (380, 20), (150, 12)):
        parts = run(LineTrigger(TriggerSection()), [_shadowed(t, x0) for t in range(n)])
        assert len(parts) == 1 and parts[0].failure is None, (x0, n)
