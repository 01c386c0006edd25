"""The line trigger across frames that show no part: not decoded, blank, the light out or a flash, parts lifted off or
unseen behind others. Each part keeps one verdict, in order."""

from __future__ import annotations

import numpy as np
import pytest

from station.blobs import Blob
from station.config import TriggerSection
from station.messages import Cause, Failure, Frame, Part, Reason
from station.stages.line_trigger import LineTrigger
from station.tracks import Track

from .belt_frames import disc_frame, emitted_by, moving, never_seen_whole, ring_or_bar, run, run_no_flush, unreadable, with_blank


def test_unreadable_frames_leave_a_fast_part_one_verdict() -> None:
    """Five frames that could not be decoded, a part moving 25 px a frame: it is looked for where it has moved to."""
    bad = Failure(Reason.UNABLE, "frame 8 could not be decoded", Cause.UNREADABLE)
    blank = np.zeros((0, 0), np.uint8)
    seen = [disc_frame(1280, 360, [(120 + 25 * t, 180, 100)]) for t in range(30)]
    frames = [Frame(t, blank, t / 25, 0.0, bad) if 8 <= t <= 12 else Frame(t, seen[t], t / 25, 0.0) for t in range(30)]
    assert len(run(LineTrigger(TriggerSection()), frames)) == 1


def test_a_part_coming_into_view_that_crosses_the_line_in_frames_not_decoded_is_rejected_once_in_order() -> None:
    """The middle part is seen only coming into view (x -56 to 144 on frame 33), then 72 frames do not decode: at 16 px a
    frame it crossed the line (x 640) meanwhile, as did the part ahead of it, and it is leaving when frames decode again.
    Before, it got no verdict: its track stayed where it was and took the part behind it, coming into view there. Now it
    is rejected, unable to inspect, once, after the part ahead (judged on its last whole view, x 428) and before the part
    behind; the bar of it leaving gets none."""
    frames = unreadable(moving(1280, 360, 100, [-100, -500, -900], 16, 130), range(34, 106))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, p.frame.index) for p in parts] == [(1, 106), (2, 106), (3, 106)]
    first, middle, last = parts
    assert first.failure is None and first.blob is not None and first.blob[0] == pytest.approx(428, abs=4)
    assert middle.failure is not None and middle.failure.reason is Reason.UNABLE and "frames not seen" in middle.failure.detail
    assert last.failure is None and last.blob is not None and last.blob[0] == pytest.approx(796, abs=4)


def test_a_part_seen_only_coming_into_view_is_not_rejected_when_it_is_found_again_whole() -> None:
    """The same with 50 frames not decoded: the middle part is whole when they end, past the line, and judged on that view."""
    parts = run(LineTrigger(TriggerSection()), unreadable(moving(1280, 360, 100, [-100, -500, -900], 16, 130), range(34, 84)))
    assert [p.part_id for p in parts] == [1, 2, 3] and all(p.failure is None for p in parts)
    assert parts[1].frame.index == 84 and parts[1].blob is not None and parts[1].blob[0] == pytest.approx(844, abs=4)


def test_a_part_that_crosses_the_line_in_frames_not_decoded_is_judged_before_the_part_behind_it() -> None:
    """Seen whole short of the line (x 524 on frame 39), then 40 frames not decoded: it is leaving the frame when they
    end, and the part behind it is whole past the line. It is judged at once on its last whole view, then the part
    behind; before, it waited for its track to give up, and was judged after the part behind it (out of order)."""
    parts = run(LineTrigger(TriggerSection()), unreadable(moving(1280, 360, 100, [-100, -500], 16, 120), range(40, 80)))
    assert [(p.part_id, p.frame.index, p.failure) for p in parts] == [(1, 80, None), (2, 80, None)]
    assert [p.blob[0] if p.blob else None for p in parts] == [pytest.approx(524, abs=4), pytest.approx(780, abs=4)]
    assert [p.seen for p in parts] == [39, None], "the view it was judged on, for eval to find its part by"


def test_a_part_coming_into_view_that_crosses_the_line_while_frames_show_nothing_is_rejected_once_in_order() -> None:
    """As above, with the 72 frames showing only the belt (the light out) instead of not decoding. Before, the middle part
    got no verdict: its track missed it on each of them and gave up, the part ahead's (which gave the belt's speed)
    with it. Now a frame that shows nothing while a part is coming into view is not believed, as one not decoded, up to
    50 in a row: it is rejected on the 50th, as the frames are believed again."""
    frames = with_blank(moving(1280, 360, 100, [-100, -500, -900], 16, 130), range(34, 106))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2, 3]
    first, middle, last = parts
    assert first.failure is None and first.blob is not None and first.blob[0] == pytest.approx(428, abs=4)
    assert middle.failure is not None and middle.failure.reason is Reason.UNABLE and "frames not seen" in middle.failure.detail
    assert middle.frame.index == 84 and middle.seen == 33
    assert last.failure is None and last.blob is not None and last.blob[0] == pytest.approx(796, abs=4)


def test_a_part_coming_into_view_then_unseen_then_shown_by_an_empty_frame_gets_one_verdict_when_seen_whole() -> None:
    """Seen only coming into view, then 22 frames not decoded, then one that decodes and shows only the belt, then the
    part whole past the line. It was rejected as crossed unseen on the empty frame, and judged again on the next."""
    frames = moving(960, 540, 100, [150, -200], 23, 70)
    frames = with_blank(unreadable(frames, range(9, 31)), range(31, 32))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, p.frame.index, p.failure) for p in parts] == [(1, 32, None), (2, 32, None)]
    assert parts[1].blob is not None and parts[1].blob[0] == pytest.approx(536, abs=4), "the part behind, judged on its whole view"


def test_a_part_the_belt_took_past_the_line_in_frames_not_decoded_at_the_end_of_a_recording_is_rejected() -> None:
    """Seen only coming into view, then the recording's last 46 frames do not decode: at 16 px a frame the part behind
    crossed the line in them. Before, the stream ended with no verdict for it."""
    frames = unreadable(moving(1280, 360, 100, [-100, -500], 16, 80), range(34, 80))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2] and parts[0].failure is None
    last = parts[1]
    assert last.failure is not None and "crossed the line in 46 frames not seen" in last.failure.detail
    assert last.frame.index == 79 and last.seen == 33


def test_a_recording_that_ends_in_frames_not_decoded_gives_its_verdicts_in_order() -> None:
    """The part ahead, short of the line, does not show on the last two frames that decode (a shade); the part behind
    does, and the belt takes it past the line in the frames that follow, to the end, none decoded. The part ahead is
    judged first, on its last whole view; before, the part behind was judged first, as across those frames, and the
    part ahead after it, as its track was given up. Each is stamped with the last frame, the stamps in order too."""
    frames = [Frame(t, disc_frame(1280, 360, [(300 + 16 * t, 180, 100)] * (t < 13) + [(-100 + 16 * t, 180, 100)]), 0.0, 0.0)
              for t in range(60)]  # fmt: skip
    parts = run(LineTrigger(TriggerSection()), unreadable(frames, range(15, 60)))
    assert [(p.part_id, p.frame.index, p.seen) for p in parts] == [(1, 59, 12), (2, 59, 14)]
    assert [p.blob[0] if p.blob else None for p in parts] == [pytest.approx(492, abs=4), pytest.approx(124, abs=4)]


def test_a_part_judged_at_the_end_after_one_judged_across_frames_not_decoded_is_stamped_no_earlier() -> None:
    """Two parts seen whole, 300 px apart; the last 16 frames do not decode, and the belt takes the part ahead past the
    line in them, not the part behind. It was judged across them (stamped with the last frame), the part behind on its
    last whole view (stamped with that view's, earlier): stamps out of order (a review's case)."""
    frames = unreadable(moving(1280, 360, 100, [200, -100], 16, 36), range(20, 36))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, p.frame.index, p.seen) for p in parts] == [(1, 35, 19), (2, 35, 19)]


@pytest.mark.parametrize("level", [None, 3, 255], ids=["empty-belt", "light-out", "flash"])
@pytest.mark.parametrize("frames_out", [5, 12, 30])
def test_a_part_unseen_for_frames_that_show_no_part_as_it_crosses_the_line_gets_one_verdict(level: int | None, frames_out: int) -> None:
    """Seen whole and moving, then frames that show nothing (a light dropout) while it crosses the line: it gets one
    verdict, when it crosses, on a whole view (past the line when it is seen again in time, else its last one before);
    the part behind it, coming into view meanwhile, gets its own when it crosses. Before, the first got two verdicts
    (judged on its last view, then as a new part)."""
    frames = with_blank(moving(1280, 360, 100, [-100, -400], 12, 120), range(40, 40 + frames_out), level)
    blank: list[int] = []
    trig = LineTrigger(TriggerSection(), blank.append)
    emitted = [(f.index, p) for f in frames for p in trig(f)]
    assert trig.flush() == []
    assert [p.part_id for _, p in emitted] == [1, 2] and all(p.failure is None for _, p in emitted)
    assert [at for at, _ in emitted] == [62, 87], "each when its centre crosses the line (x 640: frames 62 and 87)"
    assert [p.frame.index for _, p in emitted] == [62, 87], "stamped with the frame it crossed in: the actuator is timed from it"
    assert all(p.blob is not None and 100 <= p.blob[0] <= 1280 - 100 for _, p in emitted), "each seen whole"
    assert blank == list(range(40, 40 + frames_out)), "each frame not believed is told"


def test_a_judged_part_unseen_for_a_while_gets_no_second_verdict_when_seen_again() -> None:
    frames = with_blank(moving(1280, 360, 100, [-100], 12, 120), range(70, 85))
    parts = run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].frame.index < 70


def test_a_part_lifted_off_short_of_the_line_gets_one_verdict_and_the_next_part_its_own() -> None:
    """It stops, is lifted off, and the next part comes: the stopped track is not looked for (the belt may hold none there)."""
    xs = [min(-100 + 16 * t, 420) for t in range(60)]
    frames = [Frame(t, disc_frame(1280, 360, [(xs[t], 180, 100)] if t < 45 else []), 0.0, 0.0) for t in range(60)]
    frames += [Frame(60 + t, disc_frame(1280, 360, [(-100 + 16 * t, 180, 100)]), 0.0, 0.0) for t in range(80)]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2] and all(p.failure is None for p in parts)
    assert parts[0].frame.index < 45 and parts[1].frame.index >= 60


def test_a_part_lifted_off_while_moving_is_inspected_on_its_last_whole_view_within_a_bound() -> None:
    """Frames that stay empty are believed after _MAX_BLANK of them; the part, no longer seen, is followed at its speed
    from its last whole view (x 346 on frame 49, 4 px a frame) and judged on that view as its speed takes it across the
    line (960 px, frame 203), as a photo-eye would fire: no part is waited for for ever."""
    frames = with_blank(moving(1920, 360, 100, [150], 4, 300), range(50, 300))
    trig = LineTrigger(TriggerSection())
    parts = run_no_flush(trig, frames)
    assert [(p.frame.index, p.blob[0] if p.blob else None, p.failure) for p in parts] == [(203, 346.0, None)]
    assert trig.flush() == []


def test_a_part_waited_for_when_the_camera_is_lost_is_rejected_once() -> None:
    frames = with_blank(moving(1280, 360, 100, [-100], 12, 40), range(30, 40))
    trig = LineTrigger(TriggerSection())
    assert run_no_flush(trig, frames) == []
    lost = Frame(40, np.zeros((0, 0), np.uint8), 0.0, 0.0, Failure(Reason.UNABLE, "camera lost: test", Cause.CAMERA_LOST), camera_lost=True)
    parts = trig(lost)
    assert len(parts) == 1 and parts[0].failure is not None and "camera lost" in parts[0].failure.detail
    assert trig.flush() == []


def test_unreadable_and_blank_frames_together_leave_one_verdict_each() -> None:
    bad = Failure(Reason.UNABLE, "not decodable", Cause.UNREADABLE)
    frames = with_blank(moving(1280, 360, 100, [-100, -400], 12, 120), range(38, 46), 3)
    frames = [Frame(f.index, np.zeros((0, 0), np.uint8), 0.0, 0.0, bad) if f.index % 3 == 0 and 30 < f.index < 60 else f for f in frames]
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2] and all(p.failure is None for p in parts)


@pytest.mark.parametrize("frames_out", [4, 6, 8, 12])
def test_parts_crossing_while_the_light_is_out_and_leaving_as_it_returns_keep_their_order_and_time(frames_out: int) -> None:
    """The smallest frame, fast parts close together (30 px a frame, a gap of 0.44 diameters), the light out from the first
    part's crossing until it is leaving: it is judged as it crosses, not after it has gone and after the parts behind it
    (20 frames late, past the deadline: found by a review of the first version of the blank rule)."""
    frames = with_blank(moving(640, 360, 90, [-90, -350, -610], 30, 60), range(13, 13 + frames_out), 3)
    emitted = emitted_by(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for _, p in emitted] == [1, 2, 3] and all(p.failure is None for _, p in emitted)
    crossing = [14, 23, 31]  # the first frame each centre is past x 320; one not yet seen whole is judged when seen again
    assert all(c <= at <= max(c, 13 + frames_out) + 1 for (at, _), c in zip(emitted, crossing, strict=True)), [at for at, _ in emitted]


@pytest.mark.parametrize("frames_out", [11, 30, 45])
def test_a_part_judged_without_a_speed_leaves_no_track_to_take_the_next_parts_blob_after_the_dark(frames_out: int) -> None:
    """Ahead, a part whose lower half is shaded to the belt (rejected at the line as never seen whole: no speed); behind
    it a whole part, moving, and a third coming into view as the light goes out. Only the moving part is waited for:
    the shaded one's track, kept where it was, took the next part's blob after the dark, and that part got no verdict."""
    frames = []
    for t in range(40 + frames_out + 60):
        x = 640 + 40 - 800 + 20 * t  # the shaded part at the line near frame 38
        img = disc_frame(1280, 540, [(x - k * 300, 270, 110) for k in range(3)])
        img[270:, max(0, x - 112) : max(0, x + 113)] = 60
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = [p for _, p in emitted_by(LineTrigger(TriggerSection()), with_blank(frames, range(40, 40 + frames_out)))]
    assert len(parts) == 3 and never_seen_whole(parts[0]) and parts[1].failure is None and parts[2].failure is None


@pytest.mark.parametrize("frames_out", [8, 20, 30])
def test_a_part_seen_whole_once_as_the_light_goes_is_judged_once_as_the_belt_takes_it_across_the_line(frames_out: int) -> None:
    """Fast parts (40 px a frame), the line at 0.7, the light out from frame 17: the one ahead seen whole and moving, the
    one behind seen whole once as the light goes (no speed of its own). It moves on at the belt's (the part ahead's, as
    it was when the part was last seen) and is judged once, as that takes it across the line, after the part ahead.
    Before, it missed the dark frames and was judged on retiring, 14 frames before it crossed (the actuator times from
    the stamp), and where the light came back while it was in view its part came back as a second part: 8 and 20 frames
    out gave four verdicts for three parts."""
    frames = with_blank(moving(1280, 720, 100, [-100, -500, -900], 40, 90), range(17, 17 + frames_out))
    emitted = emitted_by(LineTrigger(TriggerSection(line=0.7)), frames)
    assert [p.part_id for _, p in emitted] == [1, 2, 3]
    assert [(at, p.frame.index) for at, p in emitted][:2] == [(25, 25), (35, 35)], "x 140 on frame 16: past 896 on frame 35"
    if frames_out == 30:
        assert [p.blob[0] if p.blob else None for _, p in emitted][:2] == [540.0, 140.0], "judged on their views before the dark"


@pytest.mark.parametrize("frames_out", [5, 10, 20])
def test_a_slow_part_unseen_while_the_others_show_keeps_one_verdict_when_it_is_seen_again(frames_out: int) -> None:
    """Two parts at 1 px a frame, too slow to be followed (under _MIN_SPEED: it may have stopped and been lifted off); the
    one behind, seen whole from frame 0, is not seen from frame 40 while the other shows, so the frames are not blank.
    Its track gives up after 4 frames and judges it on its last whole view (frame 39); seen again, it is found again
    where its speed has taken it, and keeps that one verdict (it got a second at the line)."""
    frames = [
        Frame(t, disc_frame(640, 360, [(s + t, 180, 70) for s in (290, 100) if s != 100 or t not in range(40, 40 + frames_out)]), 0.0, 0.0)
        for t in range(260)
    ]
    emitted = emitted_by(LineTrigger(TriggerSection()), frames)
    assert [(at, p.part_id, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(29, 1, 29, 320.0), (44, 2, 39, 140.0)]


@pytest.mark.parametrize(("frames_out", "judged"), [(5, (46, 650.0)), (10, (46, 650.0)), (20, (47, 676.0))])
def test_a_part_unseen_while_the_others_show_is_followed_and_judged_once_as_it_crosses(frames_out: int, judged: tuple[int, float]) -> None:
    """Three parts at 25 px a frame; the middle one, seen whole from frame 24, is not seen from frame 27 (a hand over it, a
    shade) while the others show, so the frames are not blank. Its track is followed at its speed, as across blank
    frames, and matched again where that has taken it: judged once, on the frame it is seen across the line. Before, it
    was judged on its track giving up (frame 31, on its frame-26 view at x 150, 15 frames before it crossed), and given a
    second verdict at the line (without its lost track kept to find it again)."""
    frames = [
        Frame(
            t,
            disc_frame(1280, 720, [(s + 25 * t, 360, 100) for s in (-100, -500, -900) if s != -500 or t not in range(27, 27 + frames_out)]),
            0.0,
            0.0,
        )
        for t in range(90)
    ]
    emitted = emitted_by(LineTrigger(TriggerSection()), frames)
    assert [(at, p.part_id, p.blob[0] if p.blob else None) for at, p in emitted] == [
        (30, 1, 650.0),
        (judged[0], 2, judged[1]),
        (62, 3, 650.0),
    ]


@pytest.mark.parametrize("dark_from", [90, 100, 120])
def test_a_part_unseen_behind_one_short_of_the_line_is_judged_after_it(dark_from: int) -> None:
    """Two parts at 8 px a frame, the line at 0.8 (x 1024): the one behind, seen whole from frame 83, is not seen for 6
    frames while the one ahead is still short of the line. It was judged as its track gave up, before the part ahead
    (out of order) and about 100 frames before it crossed (the gateway times the actuator from the stamp); followed at
    its speed, it is seen again and judged as it crosses."""
    frames = [
        Frame(
            t,
            disc_frame(1280, 720, [(s + 8 * t, 360, 100) for s in (-100, -560) if s != -560 or t not in range(dark_from, dark_from + 6)]),
            0.0,
            0.0,
        )
        for t in range(220)
    ]
    emitted = emitted_by(LineTrigger(TriggerSection(line=0.8)), frames)
    assert [(at, p.part_id, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [
        (141, 1, 141, 1028.0),
        (198, 2, 198, 1024.0),
    ]


def _rings(w: int, t: int, centres: list[tuple[float, bool]], blank: bool = False) -> Frame:
    """Frame ``t``: a part of 160 px at each x of ``centres`` shown (True), on a belt ``w`` px wide and 720 px high."""
    img = np.full((720, w), 60, np.uint8)
    for x, shown in centres:
        if shown and not blank:
            ring_or_bar(img, round(x), 360, 80, None)
    return Frame(t, img, 0.0, 0.0)


def test_a_part_lifted_off_as_the_belt_starts_again_is_judged_before_the_part_behind_it() -> None:
    """The belt stops (frames 30 to 44) and starts again at 12 px a frame; a part is lifted off on the first frame it moves
    (46) while the one behind stays in view. Its speed, averaged over its whole views, lags the belt's (it halved at
    every view at rest), so it is not followed (Track.steady): it is judged as its track gives up, before the part
    behind. Followed at half the belt's speed, it was judged 60 frames late, after the part behind."""
    belt = [0.0]
    for k in range(1, 200):
        belt.append(belt[-1] + (0.0 if 30 <= k < 45 else 12.0))
    frames = [_rings(1280, t, [(-60 + belt[t], t < 46), (-380 + belt[t], True)]) for t in range(200)]
    emitted = emitted_by(LineTrigger(TriggerSection(line=0.8)), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(50, 45, 300.0), (132, 132, 1024.0)]


@pytest.mark.parametrize("dark_from", [53, 54, 55, 56])
def test_a_part_lifted_off_as_the_light_goes_out_is_still_judged_as_it_crosses(dark_from: int) -> None:
    """A part at 10 px a frame, lifted off on frame 50 while the one behind stays; the light goes out for 3 frames as its
    track is about to give up. It is followed across them as across frames that show the others, and judged as its speed
    takes it across the line (frame 70), not on the frame its track gave up, stamped with its last whole view."""
    frames = [_rings(1280, t, [(-60 + 10 * t, t < 50), (-380 + 10 * t, True)], t in range(dark_from, dark_from + 3)) for t in range(140)]
    emitted = emitted_by(LineTrigger(TriggerSection()), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(70, 70, 430.0), (102, 102, 640.0)]


def test_a_track_that_deferred_its_verdict_gives_none_to_defer_to() -> None:
    """A newer track that finds the part of one inspected again defers its verdict to it, unless that one deferred its
    own (to this one): then neither would give one, and a part crossing the line got no verdict."""
    trig, frame = LineTrigger(TriggerSection()), Frame(10, np.zeros((720, 1280), np.uint8), 0.0, 0.0)
    trig._width = 1280
    old, new = Track(0, Blob(500, 260, 700, 460), True, seen=10), Track(1, Blob(520, 260, 720, 460), True, seen=11)
    old.whole(frame, old.blob, 60.0)
    old.whole_view, old.inspected = (10, old.blob), True
    trig._tracks = [old, new]
    assert trig._judged(new, new.blob), "found again of one that gave its verdict"
    old.deferred = True
    assert not trig._judged(new, new.blob), "found again of one that deferred: this one gives the verdict"


def test_a_part_judged_in_the_dark_is_stamped_with_the_time_it_crossed_the_line() -> None:
    """The gateway times the actuator from a verdict's capture time, as the moment its part crossed the line. A part last
    seen whole well short of the line (the light out for 30 frames at 25 fps) is judged on that view's pixels, stamped
    with the frame its speed took it across in: stamped with its view's, it was 640 ms late (a reject) and would have
    fired the actuator early (found by a second review)."""
    frames = [
        Frame(f.index, f.image, f.index / 25, 1000 + f.index / 25)
        for f in with_blank(moving(1280, 720, 100, [-100, -500, -900], 40, 70), range(10, 40), 3)
    ]
    emitted = emitted_by(LineTrigger(TriggerSection(line=0.7)), frames)
    first = emitted[0][1]
    assert emitted[0][0] == first.frame.index == 25, "x 260 on frame 9, 40 px a frame: past 896 on frame 25"
    assert first.frame.captured_mono == 1.0 and first.frame.captured_wall == 1001.0
    assert first.blob is not None and first.blob[0] == 260.0 and float(first.frame.image.mean()) > 60, "its frame-9 pixels"


def test_a_part_moved_further_unseen_than_its_speed_can_be_trusted_is_not_looked_for_and_takes_no_other_parts_blob() -> None:
    """Tight parts in a wide frame, the belt 10 % faster from the moment the light goes out for 30 frames: the part ahead,
    followed at its old speed, would be 120 px behind where it is, and 90 px from the next part, whose blob its track took
    (that part got no verdict). Past six of its sizes unseen it is lost instead: each part behind gets its verdict."""

    def x(t: int) -> int:
        return 40 * t if t < 7 else 280 + 44 * (t - 7)

    frames = []
    for t in range(60):
        img = disc_frame(1920, 1080, [(-90 - 210 * k + x(t), 540, 90) for k in range(4)])
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = [p for _, p in emitted_by(LineTrigger(TriggerSection(min_diameter_px=108)), with_blank(frames, range(7, 37)))]

    def which(p: Part) -> int:  # the part it is, from where it was seen
        return min(range(4), key=lambda k: abs(-90 - 210 * k + x(p.frame.index) - (p.blob[0] if p.blob else 0)))

    assert {1, 2, 3} <= {which(p) for p in parts if p.frame.index >= 37}, [(p.frame.index, p.blob) for p in parts]
