"""The line trigger on parts it sees: one verdict per part at the line, pieces and fragments never parts, composed footage
across the envelope, the camera lost, parts over the size envelope."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.blobs import find_blobs
from station.config import Direction, TriggerSection
from station.footage import Envelope, compose, labelled_photos, read_truth
from station.messages import Cause, Failure, Frame, Reason
from station.stages.line_trigger import LineTrigger
from station.stages.trigger import FrameTrigger
from station.travel import TravelWatch

from .belt_frames import (
    disc_frame,
    emitted_by,
    frames_of,
    moving,
    never_seen_whole,
    parted,
    ring_or_bar,
    run,
    run_no_flush,
    unreadable,
    with_blank,
)
from .conftest import SAMPLE


@pytest.mark.parametrize("direction", [Direction.LEFT_TO_RIGHT, Direction.RIGHT_TO_LEFT])
def test_synthetic_discs_fire_once_each_at_the_line(direction: Direction) -> None:
    w, h, r, v = 960, 540, 100, 23
    starts = [-r, -r - 320, -r - 700]
    frames = []
    for t in range(90):
        xs = [s + v * t for s in starts]
        if direction is Direction.RIGHT_TO_LEFT:
            xs = [w - x for x in xs]
        frames.append(Frame(t, disc_frame(w, h, [(int(x), 270, r) for x in xs]), 0.0, 0.0))
    parts = run(LineTrigger(TriggerSection(direction=direction)), frames)
    assert [p.part_id for p in parts] == [1, 2, 3]
    for p, s in zip(parts, starts, strict=True):
        x = s + v * p.frame.index
        assert x >= w / 2 and x - v < w / 2  # first frame past the line
        assert x - r >= 0 and x + r <= w


@pytest.mark.parametrize("direction", [Direction.LEFT_TO_RIGHT, Direction.RIGHT_TO_LEFT])
def test_the_trigger_tells_which_way_each_part_it_followed_moved(direction: Direction) -> None:
    w, h, r, v = 960, 540, 100, 23
    frames = moving(w, h, r, [-r, -r - 320, -r - 700], v, 90)  # left to right
    watch = TravelWatch(direction)
    parts = run(LineTrigger(TriggerSection(direction=direction), travel=watch), frames)
    assert len(parts) == 3
    moved = (watch.forwards, watch.backwards)
    assert moved == ((3, 0) if direction is Direction.LEFT_TO_RIGHT else (0, 3))


def test_parts_moving_against_the_direction_are_known_while_the_third_is_in_view_even_never_seen_whole() -> None:
    """Parts of 280 px in a 360 px frame, 30 px below its middle, touch the edge margin and are never seen whole: set the
    wrong way round they get no verdict at all. They are still told, as each moves on, not once it has left."""
    w, h, r, v = 640, 360, 140, 12
    frames = moving(w, h, r, [-r - k * 336 for k in range(4)], v, 120, y=h // 2 + 30)
    watch = TravelWatch(Direction.RIGHT_TO_LEFT)
    trig = LineTrigger(TriggerSection(direction=Direction.RIGHT_TO_LEFT), travel=watch)
    known = None
    for f in frames:
        trig(f)
        if watch.against() is not None:
            known = f.index
            break
    third_leaves = (2 * 336 + r + w + r) // v  # the frame in which the third part's rim leaves the view
    assert known is not None and known < third_leaves and (watch.forwards, watch.backwards) == (0, 3)


def test_a_track_matched_across_frames_not_seen_is_not_told() -> None:
    """Frames dropped or unreadable between two sightings: the blob may be another part's, so which way it went is not
    known (stray counts under heavy frame loss made a right setting look wrong)."""
    w, h, r, v = 960, 540, 100, 23
    frames = moving(w, h, r, [-r, -r - 320, -r - 700], v, 90)
    watch = TravelWatch(Direction.LEFT_TO_RIGHT)
    run(LineTrigger(TriggerSection(), travel=watch), frames[::2])
    assert (watch.forwards, watch.backwards) == (0, 0)


@pytest.mark.parametrize("shaded", ["left", "top"])
def test_a_part_with_a_shaded_sector_is_one_narrower_blob_and_fires_once(shaded: str) -> None:
    """A low side light darkens a sector of the rim to the belt's level: the part's blob is about 0.7 as wide as tall
    (or as tall as wide), and it still gets exactly one verdict (found on composed footage: such a part crossed unseen)."""
    w, h, r, v = 960, 540, 100, 23
    starts = [-r, -r - 320]
    frames = []
    for t in range(70):
        img = disc_frame(w, h, [(s + v * t, 270, r) for s in starts])
        for s in starts:  # the sector facing away from the light, down to the belt's grey
            x0 = s + v * t
            left, top = x0 - r - 2, 270 - r - 2
            corner = (x0 - int(0.45 * r), 270 + r + 2) if shaded == "left" else (x0 + r + 2, 270 - int(0.45 * r))
            cv2.rectangle(img, (left, top), corner, 60, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    blobs, _ = find_blobs(frames[30].image, TriggerSection())
    whole = [b for b in blobs if b.x0 > 0 and b.x1 < w]
    assert whole and all(0.6 <= min(b.x1 - b.x0, b.y1 - b.y0) / b.size <= 0.75 for b in whole), "the test must draw narrow blobs"
    assert [p.part_id for p in run(LineTrigger(TriggerSection()), frames)] == [1, 2]


def _arcs(w: int, h: int, r: int, v: int, n: int, arcs: list[tuple[int, int]], start: int = -120) -> list[Frame]:
    """A part of which only arcs of the rim differ from the belt (dark part, low side light), moving at v px a frame."""
    frames = []
    for t in range(n):
        img = np.full((h, w), 60, np.uint8)
        for a0, a1 in arcs:
            cv2.ellipse(img, (start + v * t, h // 2), (r, r), 0, a0, a1, 190, thickness=max(r // 5, 2))
        frames.append(Frame(t, img, 0.0, 0.0))
    return frames


@pytest.mark.parametrize("arcs", [[(100, 260)], [(110, 250), (-70, 70)]], ids=["a-crescent", "two-arcs-apart"])
def test_a_part_never_seen_whole_that_crosses_the_line_is_one_reject(arcs: list[tuple[int, int]]) -> None:
    """Only a crescent (or two arcs, two blobs) of a dark part shows: never round, so never inspectable; it crossed the
    line, so it is rejected, unable to inspect, once, at the line (before, it crossed without a verdict)."""

    frames = _arcs(960, 540, 100, 23, 60, arcs)
    blobs, _ = find_blobs(frames[20].image, TriggerSection())
    assert len(blobs) == len(arcs) and all(min(b.x1 - b.x0, b.y1 - b.y0) / b.size < 0.6 for b in blobs), "the test must draw pieces"
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1]
    f = parts[0].failure
    assert f is not None and f.reason is Reason.UNABLE and "never seen whole" in f.detail
    assert parts[0].blob is not None and parts[0].blob[0] >= 480  # at the line


def test_a_part_close_behind_a_dark_one_keeps_its_verdict() -> None:
    """Large parts (400 px) 80 px apart: the dark one ahead shows a crescent only and is rejected at the line while the
    next is still cut by the frame's edge; the next, whole later, gets its own verdict (a review found it lost one)."""
    frames = []
    for t in range(100):
        img = np.full((540, 960), 60, np.uint8)
        x = 100 + 23 * t
        cv2.ellipse(img, (x, 270), (200, 200), 0, 100, 260, 190, thickness=40)  # the dark part: its lit side only
        cv2.circle(img, (x - 480, 270), 200, 190, -1)  # the next part, whole
        cv2.circle(img, (x - 480, 270), 100, 25, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2]
    assert never_seen_whole(parts[0]) and parts[1].failure is None


def test_a_row_of_dark_parts_in_pieces_gets_one_verdict_each() -> None:
    """Each part shows two arcs (two blobs), 120 px between parts: the pieces of one part are covered by its one reject,
    and a piece of the part behind is not."""
    r, gap, v = 100, 120, 23
    frames = []
    for t in range(130):
        img = np.full((540, 960), 60, np.uint8)
        for k in range(3):
            for a0, a1 in ((110, 250), (-70, 70)):
                cv2.ellipse(img, (-120 - k * (2 * r + gap) + v * t, 270), (r, r), 0, a0, a1, 190, thickness=20)
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2, 3] and all(never_seen_whole(p) for p in parts)


def test_a_part_rejected_as_never_seen_whole_and_whole_after_the_line_gets_no_second_verdict() -> None:
    frames = _arcs(960, 540, 100, 23, 40, [(100, 260)])
    frames += [Frame(40 + t, disc_frame(960, 540, [(-120 + 23 * (40 + t), 270, 100)]), 0.0, 0.0) for t in range(20)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1] and never_seen_whole(parts[0])


def test_a_piece_beside_a_part_seen_whole_is_not_a_second_part() -> None:
    """A whole part and, just outside its rim, a part-sized arc that never looks round (a fixture ring's reflection, a
    piece of a broken outline): one verdict, the part's."""
    frames = []
    for t in range(60):
        img = disc_frame(960, 540, [(-120 + 23 * t, 270, 100)])
        cv2.ellipse(img, (-120 + 23 * t, 270), (170, 170), 0, 145, 215, 190, thickness=14)
        frames.append(Frame(t, img, 0.0, 0.0))
    blobs, _ = find_blobs(frames[20].image, TriggerSection())
    assert len(blobs) == 2, "the test must draw a separate piece"
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1] and parts[0].failure is None


def test_pieces_a_shadow_parts_off_a_part_judged_are_no_parts_of_their_own() -> None:
    """Past the line, a part judged there falls apart into four round, part-sized pieces: its track follows one, and each
    other was a new whole part past the line, inspected (found on composed footage with shadows 120 degrees either side:
    a reject for no part). Each lies where the belt has taken the part: one verdict, the part's."""
    frames = [Frame(t, parted(t, -160 + 23 * t, 150, 36), 0.0, 0.0) for t in range(44)]
    blobs, _ = find_blobs(frames[38].image, TriggerSection())
    assert len(blobs) == 4 and all(b.size >= TriggerSection().min_diameter_px for b in blobs), "the test must draw four pieces"
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1] and parts[0].failure is None


@pytest.mark.parametrize("lost", ["unreadable", "dropped"])
@pytest.mark.parametrize("gap", [range(7, 8), range(35, 36), range(36, 38)], ids=["long_before", "just_before", "as_it_parts"])
def test_pieces_a_shadow_parts_off_a_part_followed_across_frames_not_seen_are_no_parts_either(lost: str, gap: range) -> None:
    """Found by a review: frames not seen while the part came into view (29 frames before it fell apart on frame 36), just
    before it fell apart or as it did, and each of its pieces but one got a verdict of its own, passes for no part (its
    track, matched across them, was never again taken for a part that pieces split off, nor one whose blob of the frame
    just before was not seen)."""
    frames = [Frame(t, parted(t, -160 + 23 * t, 150, 36), 0.0, 0.0) for t in range(44)]
    seen = [f for f in frames if f.index not in gap] if lost == "dropped" else unreadable(frames, gap)
    parts = run(LineTrigger(TriggerSection()), seen)
    assert [p.part_id for p in parts] == [1] and parts[0].failure is None


def test_a_part_lost_in_shade_behind_one_that_splits_keeps_its_verdict() -> None:
    """The part behind, seen whole and then shaded out of view short of the line, is found again nowhere: a piece split
    off the part ahead lay where it would be, and took its part's verdict from it as a piece with no verdict of its own
    (no verdict for it at all). It is judged on its last whole view."""
    frames = [Frame(t, parted(t, -160 + 23 * t, 150, 36, behind=375), 0.0, 0.0) for t in range(60)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, p.frame.index) for p in parts] == [(1, 28), (2, 35)] and all(p.failure is None for p in parts)


def _lit_late(x: int, y: int, ring: bool) -> np.ndarray:
    """A part at ``x``: short of x = 80 only a bright crescent of its leading rim shows (a round blob of 130 px, the part
    as dark as the belt under a low side light), then the part: a disc of 400 px touching the frame's bottom (``ring``),
    or a part never round, its lower half in the dark."""
    img = np.full((480, 640), 60, np.uint8)
    if x < 80:
        cv2.circle(img, (x + 80, y), 65, 190, -1)
    elif ring:
        img = disc_frame(640, 480, [(x, y, 200)])
    else:
        cv2.ellipse(img, (x, y), (150, 60), 0, 0, 360, 190, -1)
    return img


def test_a_part_seen_whole_only_as_a_piece_of_it_is_judged_at_the_line_not_on_the_piece() -> None:
    """Found on another generator's footage (parts of 400 px in 640 x 480, shade 150 degrees): the crescent was the track's
    whole view, so the part crossing the line after it, cut by the frame's bottom, waited to be judged on the crescent,
    until its track gave up 25 frames later: the part behind's time. Now it is handed on at the line, on its own view;
    one never round is rejected there as never seen whole (the crescent's crop was judged before)."""
    frames = [Frame(t, _lit_late(-200 + 20 * t, 280, ring=True), 0.0, 0.0) for t in range(40)]
    (part,) = run(LineTrigger(TriggerSection()), frames)
    assert part.failure is None and part.seen is None and part.blob is not None and part.blob[2] >= 400
    assert 320 <= part.blob[0] < 340, "the frame it crossed the line on"
    frames = [Frame(t, _lit_late(-150 + 20 * t, 240, ring=False), 0.0, 0.0) for t in range(40)]
    (part,) = run(LineTrigger(TriggerSection()), frames)
    assert never_seen_whole(part) and part.blob is not None and 320 <= part.blob[0] < 340


def test_a_piece_ahead_of_a_part_that_goes_dark_never_takes_the_parts_blob() -> None:
    """Under a low side light a part's leading rim can show as a bar of its own, ahead of the part and into view first
    (an older track). When the bar goes dark its track waits where it was, and the part moving up to it came within
    its reach: the bar's track, choosing first, took the part's blob and gave the part a second verdict (found on
    composed footage at the envelope's edge: 1280 x 720, 40 px a frame, parts of 440 px, shade 0.6)."""
    w, h, r, v = 960, 540, 100, 20
    frames = []
    for t in range(60):
        img = disc_frame(w, h, [(-r + v * t, 270, r)])
        bar = -r + v * t + r + 60
        if bar <= 785:  # then dark, 175 px ahead of the part's centre
            cv2.rectangle(img, (bar, 170), (bar + 30, 370), 190, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.frame.index for p in parts] == [29]


@pytest.mark.parametrize("ahead", [110, -110], ids=["leading-rim", "trailing-rim"])
@pytest.mark.parametrize("at", [15, 24, 30], ids=["before-the-line", "crossing", "after-the-line"])
def test_a_part_showing_for_a_frame_only_as_a_bar_of_its_rim_gets_one_verdict(ahead: int, at: int) -> None:
    """For one frame the part shows only as a bar of its rim, out of its track's reach (a flash of side light): the bar
    gets a track of its own, which takes the part when it shows whole again. The part's own track lost it; it got a
    second verdict, from that track retiring or from the bar's crossing the line (before, at 25 px a frame, wherever
    the part was in view)."""
    frames = []
    for t in range(48):
        cx = -100 + 25 * t  # its centre crosses the line (x 480) on frame 24
        img = disc_frame(960, 540, [] if t == at else [(cx, 270, 100)])
        if t == at:
            cv2.rectangle(img, (cx + ahead - 20, 190), (cx + ahead + 20, 350), 190, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].failure is None
    assert parts[0].frame.index == (25 if at == 24 else 24), "when it crosses the line, or the frame after when it is a bar then"


def test_a_part_lost_across_blank_frames_before_its_speed_is_known_gets_one_verdict() -> None:
    """Seen whole once (no speed yet), then three frames that show nothing while the part ahead is waited for: the part
    moved out of its track's reach and was found again by a new track, which judged it at the line. Its first track,
    retiring, judged it too (before: four verdicts for three parts)."""
    frames = with_blank(moving(1280, 720, 100, [200, -300, -800], 40, 45), range(12, 15))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.frame.index for p in parts] == [11, 24, 36] and all(p.failure is None for p in parts)


def test_a_part_coming_into_view_in_the_dark_behind_one_judged_keeps_its_verdict_where_that_one_was_last_seen() -> None:
    """A part judged at the line, and the next still coming into view, then 15 frames that show nothing (a light
    dropout); after them the first is gone (lifted off) and the next shows up past where the first was last seen. It
    is not the first part found again: that one would be far on by then, at the belt's speed (counting it so, the next
    part lost its verdict)."""
    frames = [
        Frame(t, disc_frame(1280, 720, [(x, 360, 100) for x in ((-100 + 40 * t, -660 + 40 * t) if t < 19 else (-660 + 40 * t,))]), 0.0, 0.0)
        for t in range(80)
    ]
    parts = run(LineTrigger(TriggerSection()), with_blank(frames, range(19, 34)))
    assert [p.frame.index for p in parts] == [19, 34] and all(p.failure is None for p in parts)


def test_fragments_at_the_edges_never_become_parts() -> None:
    w, h = 960, 540
    # a part sitting half out of the frame at both edges for the whole clip
    frames = [Frame(t, disc_frame(w, h, [(-40, 270, 120), (w + 30, 270, 120)]), 0.0, 0.0) for t in range(20)]
    assert run(LineTrigger(TriggerSection()), frames) == []


def test_part_already_past_the_line_at_the_start_is_inspected_once() -> None:
    w, h = 960, 540
    frames = [Frame(t, disc_frame(w, h, [(600 + 10 * t, 270, 100)]), 0.0, 0.0) for t in range(20)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].frame.index == 0


def test_stream_ending_before_the_line_still_inspects_a_whole_part() -> None:
    w, h = 960, 540
    frames = [Frame(t, disc_frame(w, h, [(150 + 10 * t, 270, 100)]), 0.0, 0.0) for t in range(10)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].frame.index == 9


ENVELOPE = [
    Envelope(width=640, height=360, speed=4.0, diameter=180.0, noise=4.0, shade=0.6, ring=0.1, codec="MJPG"),
    Envelope(width=640, height=360, speed=30.0, diameter=250.0, stripes=5.0, drift=0.1),
    Envelope(width=1280, height=720, speed=40.0, diameter=300.0, belt_drop=45.0, part_gain=0.12, offset=0.1),
    Envelope(width=960, height=540, speed=12.0, diameter=220.0, direction="right_to_left"),
]


@pytest.mark.parametrize("env", ENVELOPE, ids=lambda e: f"{e.width}x{e.height}-v{e.speed:g}-d{e.diameter:g}-{e.direction}")
def test_composed_footage_one_part_each_inside_its_window(env: Envelope, tmp_path: Path) -> None:
    photos = labelled_photos(SAMPLE)[::5]
    video = compose(photos, tmp_path / f"line{'.avi' if env.codec == 'MJPG' else '.mp4'}", env, seed=int(env.speed))
    truth = read_truth(video)
    cfg = TriggerSection(direction=Direction(env.direction), min_diameter_px=int(env.diameter * 0.6))
    blank: list[int] = []
    parts = run(LineTrigger(cfg, blank.append), frames_of(video))
    assert len(parts) == len(truth)
    assert blank == [], "in-envelope footage has no frame the trigger may disbelieve"
    for p, t in zip(parts, truth, strict=True):
        assert int(t["first_frame"]) <= p.frame.index <= int(t["last_frame"]), (p.part_id, p.frame.index, t)


def test_parts_in_view_when_the_camera_is_lost_are_unable_to_inspect() -> None:

    trig = LineTrigger(TriggerSection())
    frames = [Frame(i, disc_frame(640, 360, [(150 + 10 * i, 180, 100)]), time.monotonic(), time.time()) for i in range(5)]
    assert run_no_flush(trig, frames) == []  # whole and followed, not yet at the line
    lost = Frame(
        5,
        np.zeros((0, 0), np.uint8),
        time.monotonic(),
        time.time(),
        Failure(Reason.UNABLE, "camera lost: test", Cause.CAMERA_LOST),
        camera_lost=True,
    )
    parts = trig(lost)
    assert (
        len(parts) == 1
        and parts[0].failure is not None
        and parts[0].failure.reason is Reason.UNABLE
        and "camera lost" in parts[0].failure.detail
    )
    assert trig.flush() == [], "the part is not inspected again after the outage"
    assert FrameTrigger()(lost) == []


@pytest.mark.parametrize(("w", "h", "r"), [(1920, 1080, 350), (1920, 1080, 700)], ids=["700px", "taller-than-the-frame"])
def test_parts_larger_than_the_envelope_are_each_rejected_once_at_the_line(w: int, h: int, r: int) -> None:

    parts = run(LineTrigger(TriggerSection()), moving(w, h, r, [-r, -r - 3 * r], 40, 140))
    assert [p.part_id for p in parts] == [1, 2]
    for p in parts:
        assert (
            p.failure is not None and p.failure.reason is Reason.UNABLE and "larger than trigger.max_diameter_px (560)" in p.failure.detail
        )
        assert p.blob is not None and p.blob[0] >= w / 2  # fired at the line


def test_pieces_and_debris_under_the_envelope_are_not_parts() -> None:
    assert run(LineTrigger(TriggerSection()), moving(960, 540, 40, [-40], 20, 60)) == []  # 80 px: a piece or debris


def test_an_oversized_part_already_past_the_line_at_the_start_is_not_a_part() -> None:
    assert run(LineTrigger(TriggerSection()), moving(1920, 1080, 350, [1700], 30, 20)) == []


def test_an_oversized_part_whole_in_view_past_the_line_at_the_start_is_rejected_once() -> None:
    parts = run(LineTrigger(TriggerSection()), moving(1920, 1080, 300, [1300], 30, 10))
    assert len(parts) == 1 and parts[0].failure is not None and "larger than" in parts[0].failure.detail


def test_a_part_whose_blob_touches_the_frames_bottom_as_it_crosses_gets_one_verdict() -> None:
    """Its shadow, or the part, reaches the edge (a 275 px part in a 360 px frame): it was a fragment, and got none."""
    frames = [Frame(t, disc_frame(640, 360, [(40 + 20 * t, 225, 140)]), t / 25, 0.0) for t in range(30)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].failure is None and parts[0].blob is not None and parts[0].blob[0] >= 320


def test_a_part_touching_the_frames_bottom_close_behind_one_leaving_gets_its_own_verdict() -> None:
    """The part ahead, half out of the frame, is near it but no piece of it (the two do not fit in one part's box)."""
    frames = [Frame(t, disc_frame(640, 360, [(200 + 20 * t, 180, 140), (200 + 20 * t - 340, 225, 140)]), t / 25, 0.0) for t in range(40)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 2 and all(p.failure is None for p in parts)


@pytest.mark.parametrize("at", [20, 24, 28])
def test_a_part_whose_track_took_a_bar_of_its_rim_keeps_one_verdict(at: int) -> None:
    """A part at 20 px a frame shows only as a bar of its rim ahead of its centre on one frame (its track takes the bar),
    and behind it on the next (a new track starts there and follows the part). The track left on the bar is given up;
    the new one is its part found again, reckoned from where the part was last seen whole, not from the bar: one verdict,
    at the line (it got a second on its last whole view, stamped when its track gave up)."""
    frames = []
    for t in range(80):
        img = np.full((720, 1280), 60, np.uint8)
        ring_or_bar(img, -100 + 20 * t, 360, 100, {at: 85, at + 1: -60}.get(t))
        frames.append(Frame(t, img, 0.0, 0.0))
    emitted = emitted_by(LineTrigger(TriggerSection()), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(37, 37, 640.0)]


def test_a_part_lost_on_a_bar_and_found_again_is_followed_by_the_track_that_found_it_only() -> None:
    """Right to left at 26 px a frame: the part behind shows as a bar behind its centre (its track takes it), then ahead
    (a new track), then whole, then not at all for 4 frames while the part ahead shows. Both tracks have lost it by then;
    only the new one, which found the part again, is followed. Following the old one as well, it took the part back as
    it reappeared, and the new one, followed to the line unseen, judged it a second time."""
    frames = []
    for t in range(100):
        img = np.full((720, 1280), 60, np.uint8)
        ring_or_bar(img, 1830 - 26 * t, 306, 155, None)
        if t not in range(53, 57):
            ring_or_bar(img, 2300 - 26 * t, 300, 155, {50: 150, 51: -140}.get(t))
        frames.append(Frame(t, img, 0.0, 0.0))
    cfg = TriggerSection(direction=Direction.RIGHT_TO_LEFT, line=0.75, min_diameter_px=201, max_diameter_px=413)
    emitted = emitted_by(LineTrigger(cfg), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(59, 59, 296.0), (77, 77, 300.0)]


@pytest.mark.parametrize("again", [60, 74, 80, 86])
def test_a_part_past_the_line_that_shows_as_bars_twice_keeps_one_verdict(again: int) -> None:
    """A part judged at the line (x 384, frame 25) shows, past it, twice for two frames only as bars of its rim: each time
    its track takes the first bar and a new track follows the part from the second. The second new track finds the
    first new one again, which deferred its verdict to the track that judged the part, an older one: it defers too (it
    gave a second verdict once the track that judged the part was too far behind to be found again)."""
    frames = []
    for t in range(120):
        img = np.full((720, 1920), 60, np.uint8)
        ring_or_bar(img, -100 + 20 * t, 360, 80, {28: 68, 29: -48, again: 68, again + 1: -48}.get(t))
        frames.append(Frame(t, img, 0.0, 0.0))
    emitted = emitted_by(LineTrigger(TriggerSection(line=0.2)), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(25, 25, 400.0)]
