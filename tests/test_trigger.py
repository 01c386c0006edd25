from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.blobs import Blob, find_blobs
from station.config import Direction, TriggerMode, TriggerSection, load_config
from station.footage import Envelope, compose, labelled_photos, read_truth
from station.messages import Failure, Frame, Part, Reason
from station.sources import source_for
from station.stages.line_trigger import LineTrigger
from station.stages.trigger import FrameTrigger, trigger_for, trigger_mode
from station.tracks import Track
from station.travel import TravelWatch

from .conftest import SAMPLE


def _frames(video: Path) -> list[Frame]:
    cap = cv2.VideoCapture(str(video))
    out: list[Frame] = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(Frame(len(out), np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), np.uint8), time.monotonic(), time.time()))
    cap.release()
    return out


def _run(trigger: LineTrigger, frames: list[Frame]) -> list[Part]:
    parts: list[Part] = []
    for f in frames:
        parts += trigger(f)
    return parts + trigger.flush()


def _disc_frame(w: int, h: int, centres: list[tuple[int, int, int]], belt: int = 60) -> np.ndarray:
    img = np.full((h, w), belt, np.uint8)
    for x, y, r in centres:
        cv2.circle(img, (x, y), r, 190, -1)
        cv2.circle(img, (x, y), r // 2, 25, -1)
    return img


def test_frame_trigger_makes_one_part_per_frame_in_order() -> None:
    t = FrameTrigger()
    frames = [Frame(i, np.zeros((8, 8), np.uint8), 0.0, 0.0) for i in range(5)]
    ids = [p.part_id for f in frames for p in t(f)]
    assert ids == [1, 2, 3, 4, 5]


def test_unreadable_frame_becomes_a_part_that_cannot_be_inspected() -> None:
    p = FrameTrigger()(Frame(0, np.zeros((0, 0), np.uint8), 0.0, 0.0, Failure(Reason.UNABLE, "x.jpg: not a decodable image")))[0]
    assert p.failure == Failure(Reason.UNABLE, "x.jpg: not a decodable image")


def test_auto_makes_each_frame_a_part_for_a_hardware_triggered_camera_and_an_image_folder(tmp_path: Path) -> None:
    hardware = load_config(None, ["camera.source=gige:Cam1", "camera.trigger=Line1"])
    free = load_config(None, [])
    usb = source_for("usb:0")  # not opened
    video = tmp_path / "line.mp4"
    video.write_bytes(b"")
    assert trigger_mode(hardware, usb) is TriggerMode.FRAME, "a trigger pulse per part: the line tracker would see one part"
    assert isinstance(trigger_for(hardware, usb), FrameTrigger)
    assert trigger_mode(free, usb) is TriggerMode.LINE
    assert trigger_mode(free, source_for(str(SAMPLE))) is TriggerMode.FRAME
    assert trigger_mode(hardware, source_for(str(video))) is TriggerMode.LINE, "a recording is footage of the conveyor"
    assert trigger_mode(load_config(None, ["trigger.mode=frame"]), source_for(str(video))) is TriggerMode.FRAME
    encoder = load_config(None, ["camera.source=gige:Cam1", "camera.trigger=Line1", "trigger.mode=line"])  # pulses by belt travel
    assert trigger_mode(encoder, usb) is TriggerMode.LINE


@pytest.mark.parametrize("direction", [Direction.LEFT_TO_RIGHT, Direction.RIGHT_TO_LEFT])
def test_synthetic_discs_fire_once_each_at_the_line(direction: Direction) -> None:
    w, h, r, v = 960, 540, 100, 23
    starts = [-r, -r - 320, -r - 700]
    frames = []
    for t in range(90):
        xs = [s + v * t for s in starts]
        if direction is Direction.RIGHT_TO_LEFT:
            xs = [w - x for x in xs]
        frames.append(Frame(t, _disc_frame(w, h, [(int(x), 270, r) for x in xs]), 0.0, 0.0))
    parts = _run(LineTrigger(TriggerSection(direction=direction)), frames)
    assert [p.part_id for p in parts] == [1, 2, 3]
    for p, s in zip(parts, starts, strict=True):
        x = s + v * p.frame.index
        assert x >= w / 2 and x - v < w / 2  # first frame past the line
        assert x - r >= 0 and x + r <= w


@pytest.mark.parametrize("direction", [Direction.LEFT_TO_RIGHT, Direction.RIGHT_TO_LEFT])
def test_the_trigger_tells_which_way_each_part_it_followed_moved(direction: Direction) -> None:
    w, h, r, v = 960, 540, 100, 23
    frames = _moving(w, h, r, [-r, -r - 320, -r - 700], v, 90)  # left to right
    watch = TravelWatch(direction)
    parts = _run(LineTrigger(TriggerSection(direction=direction), travel=watch), frames)
    assert len(parts) == 3
    moved = (watch.forwards, watch.backwards)
    assert moved == ((3, 0) if direction is Direction.LEFT_TO_RIGHT else (0, 3))


def test_parts_moving_against_the_direction_are_known_while_the_third_is_in_view_even_never_seen_whole() -> None:
    """Parts of 280 px in a 360 px frame, 30 px below its middle, touch the edge margin and are never seen whole: set the
    wrong way round they get no verdict at all. They are still told, as each moves on, not once it has left."""
    w, h, r, v = 640, 360, 140, 12
    frames = _moving(w, h, r, [-r - k * 336 for k in range(4)], v, 120, y=h // 2 + 30)
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
    frames = _moving(w, h, r, [-r, -r - 320, -r - 700], v, 90)
    watch = TravelWatch(Direction.LEFT_TO_RIGHT)
    _run(LineTrigger(TriggerSection(), travel=watch), frames[::2])
    assert (watch.forwards, watch.backwards) == (0, 0)


@pytest.mark.parametrize("shaded", ["left", "top"])
def test_a_part_with_a_shaded_sector_is_one_narrower_blob_and_fires_once(shaded: str) -> None:
    """A low side light darkens a sector of the rim to the belt's level: the part's blob is about 0.7 as wide as tall
    (or as tall as wide), and it still gets exactly one verdict (found on composed footage: such a part crossed unseen)."""
    w, h, r, v = 960, 540, 100, 23
    starts = [-r, -r - 320]
    frames = []
    for t in range(70):
        img = _disc_frame(w, h, [(s + v * t, 270, r) for s in starts])
        for s in starts:  # the sector facing away from the light, down to the belt's grey
            x0 = s + v * t
            left, top = x0 - r - 2, 270 - r - 2
            corner = (x0 - int(0.45 * r), 270 + r + 2) if shaded == "left" else (x0 + r + 2, 270 - int(0.45 * r))
            cv2.rectangle(img, (left, top), corner, 60, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    blobs, _ = find_blobs(frames[30].image, TriggerSection())
    whole = [b for b in blobs if b.x0 > 0 and b.x1 < w]
    assert whole and all(0.6 <= min(b.x1 - b.x0, b.y1 - b.y0) / b.size <= 0.75 for b in whole), "the test must draw narrow blobs"
    assert [p.part_id for p in _run(LineTrigger(TriggerSection()), frames)] == [1, 2]


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
    from station.messages import Reason

    frames = _arcs(960, 540, 100, 23, 60, arcs)
    blobs, _ = find_blobs(frames[20].image, TriggerSection())
    assert len(blobs) == len(arcs) and all(min(b.x1 - b.x0, b.y1 - b.y0) / b.size < 0.6 for b in blobs), "the test must draw pieces"
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1]
    f = parts[0].failure
    assert f is not None and f.reason is Reason.UNABLE and "never seen whole" in f.detail
    assert parts[0].blob is not None and parts[0].blob[0] >= 480  # at the line


def _never_seen_whole(p: Part) -> bool:
    return p.failure is not None and "never seen whole" in p.failure.detail


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
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2]
    assert _never_seen_whole(parts[0]) and parts[1].failure is None


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
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2, 3] and all(_never_seen_whole(p) for p in parts)


def test_a_part_rejected_as_never_seen_whole_and_whole_after_the_line_gets_no_second_verdict() -> None:
    frames = _arcs(960, 540, 100, 23, 40, [(100, 260)])
    frames += [Frame(40 + t, _disc_frame(960, 540, [(-120 + 23 * (40 + t), 270, 100)]), 0.0, 0.0) for t in range(20)]
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1] and _never_seen_whole(parts[0])


def test_a_piece_beside_a_part_seen_whole_is_not_a_second_part() -> None:
    """A whole part and, just outside its rim, a part-sized arc that never looks round (a fixture ring's reflection, a
    piece of a broken outline): one verdict, the part's."""
    frames = []
    for t in range(60):
        img = _disc_frame(960, 540, [(-120 + 23 * t, 270, 100)])
        cv2.ellipse(img, (-120 + 23 * t, 270), (170, 170), 0, 145, 215, 190, thickness=14)
        frames.append(Frame(t, img, 0.0, 0.0))
    blobs, _ = find_blobs(frames[20].image, TriggerSection())
    assert len(blobs) == 2, "the test must draw a separate piece"
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1] and parts[0].failure is None


def test_a_piece_ahead_of_a_part_that_goes_dark_never_takes_the_parts_blob() -> None:
    """Under a low side light a part's leading rim can show as a bar of its own, ahead of the part and into view first
    (an older track). When the bar goes dark its track waits where it was, and the part moving up to it came within
    its reach: the bar's track, choosing first, took the part's blob and gave the part a second verdict (found on
    composed footage at the envelope's edge: 1280 x 720, 40 px a frame, parts of 440 px, shade 0.6)."""
    w, h, r, v = 960, 540, 100, 20
    frames = []
    for t in range(60):
        img = _disc_frame(w, h, [(-r + v * t, 270, r)])
        bar = -r + v * t + r + 60
        if bar <= 785:  # then dark, 175 px ahead of the part's centre
            cv2.rectangle(img, (bar, 170), (bar + 30, 370), 190, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = _run(LineTrigger(TriggerSection()), frames)
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
        img = _disc_frame(960, 540, [] if t == at else [(cx, 270, 100)])
        if t == at:
            cv2.rectangle(img, (cx + ahead - 20, 190), (cx + ahead + 20, 350), 190, -1)
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].failure is None
    assert parts[0].frame.index == (25 if at == 24 else 24), "when it crosses the line, or the frame after when it is a bar then"


def test_a_part_lost_across_blank_frames_before_its_speed_is_known_gets_one_verdict() -> None:
    """Seen whole once (no speed yet), then three frames that show nothing while the part ahead is waited for: the part
    moved out of its track's reach and was found again by a new track, which judged it at the line. Its first track,
    retiring, judged it too (before: four verdicts for three parts)."""
    frames = _with_blank(_moving(1280, 720, 100, [200, -300, -800], 40, 45), range(12, 15))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.frame.index for p in parts] == [11, 24, 36] and all(p.failure is None for p in parts)


def test_a_part_coming_into_view_in_the_dark_behind_one_judged_keeps_its_verdict_where_that_one_was_last_seen() -> None:
    """A part judged at the line, and the next still coming into view, then 15 frames that show nothing (a light
    dropout); after them the first is gone (lifted off) and the next shows up past where the first was last seen. It
    is not the first part found again: that one would be far on by then, at the belt's speed (counting it so, the next
    part lost its verdict)."""
    frames = [
        Frame(
            t, _disc_frame(1280, 720, [(x, 360, 100) for x in ((-100 + 40 * t, -660 + 40 * t) if t < 19 else (-660 + 40 * t,))]), 0.0, 0.0
        )
        for t in range(80)
    ]
    parts = _run(LineTrigger(TriggerSection()), _with_blank(frames, range(19, 34)))
    assert [p.frame.index for p in parts] == [19, 34] and all(p.failure is None for p in parts)


def test_fragments_at_the_edges_never_become_parts() -> None:
    w, h = 960, 540
    # a part sitting half out of the frame at both edges for the whole clip
    frames = [Frame(t, _disc_frame(w, h, [(-40, 270, 120), (w + 30, 270, 120)]), 0.0, 0.0) for t in range(20)]
    assert _run(LineTrigger(TriggerSection()), frames) == []


def test_part_already_past_the_line_at_the_start_is_inspected_once() -> None:
    w, h = 960, 540
    frames = [Frame(t, _disc_frame(w, h, [(600 + 10 * t, 270, 100)]), 0.0, 0.0) for t in range(20)]
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].frame.index == 0


def test_stream_ending_before_the_line_still_inspects_a_whole_part() -> None:
    w, h = 960, 540
    frames = [Frame(t, _disc_frame(w, h, [(150 + 10 * t, 270, 100)]), 0.0, 0.0) for t in range(10)]
    parts = _run(LineTrigger(TriggerSection()), frames)
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
    parts = _run(LineTrigger(cfg, blank.append), _frames(video))
    assert len(parts) == len(truth)
    assert blank == [], "in-envelope footage has no frame the trigger may disbelieve"
    for p, t in zip(parts, truth, strict=True):
        assert int(t["first_frame"]) <= p.frame.index <= int(t["last_frame"]), (p.part_id, p.frame.index, t)


def test_parts_in_view_when_the_camera_is_lost_are_unable_to_inspect() -> None:
    from station.messages import Reason

    trig = LineTrigger(TriggerSection())
    frames = [Frame(i, _disc_frame(640, 360, [(150 + 10 * i, 180, 100)]), time.monotonic(), time.time()) for i in range(5)]
    assert _run_no_flush(trig, frames) == []  # whole and followed, not yet at the line
    lost = Frame(
        5, np.zeros((0, 0), np.uint8), time.monotonic(), time.time(), Failure(Reason.UNABLE, "camera lost: test"), camera_lost=True
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


def _run_no_flush(trigger: LineTrigger, frames: list[Frame]) -> list[Part]:
    out: list[Part] = []
    for f in frames:
        out += trigger(f)
    return out


def _moving(w: int, h: int, r: int, starts: list[int], v: int, n: int, y: int | None = None) -> list[Frame]:
    return [Frame(t, _disc_frame(w, h, [(s + v * t, y or h // 2, r) for s in starts]), 0.0, 0.0) for t in range(n)]


@pytest.mark.parametrize(("w", "h", "r"), [(1920, 1080, 350), (1920, 1080, 700)], ids=["700px", "taller-than-the-frame"])
def test_parts_larger_than_the_envelope_are_each_rejected_once_at_the_line(w: int, h: int, r: int) -> None:
    from station.messages import Reason

    parts = _run(LineTrigger(TriggerSection()), _moving(w, h, r, [-r, -r - 3 * r], 40, 140))
    assert [p.part_id for p in parts] == [1, 2]
    for p in parts:
        assert (
            p.failure is not None and p.failure.reason is Reason.UNABLE and "larger than trigger.max_diameter_px (560)" in p.failure.detail
        )
        assert p.blob is not None and p.blob[0] >= w / 2  # fired at the line


def test_pieces_and_debris_under_the_envelope_are_not_parts() -> None:
    assert _run(LineTrigger(TriggerSection()), _moving(960, 540, 40, [-40], 20, 60)) == []  # 80 px: a piece or debris


def test_an_oversized_part_already_past_the_line_at_the_start_is_not_a_part() -> None:
    assert _run(LineTrigger(TriggerSection()), _moving(1920, 1080, 350, [1700], 30, 20)) == []


def test_an_oversized_part_whole_in_view_past_the_line_at_the_start_is_rejected_once() -> None:
    parts = _run(LineTrigger(TriggerSection()), _moving(1920, 1080, 300, [1300], 30, 10))
    assert len(parts) == 1 and parts[0].failure is not None and "larger than" in parts[0].failure.detail


def test_a_part_whose_blob_touches_the_frames_bottom_as_it_crosses_gets_one_verdict() -> None:
    """Its shadow, or the part, reaches the edge (a 275 px part in a 360 px frame): it was a fragment, and got none."""
    frames = [Frame(t, _disc_frame(640, 360, [(40 + 20 * t, 225, 140)]), t / 25, 0.0) for t in range(30)]
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].failure is None and parts[0].blob is not None and parts[0].blob[0] >= 320


def test_unreadable_frames_leave_a_fast_part_one_verdict() -> None:
    """Five frames that could not be decoded, a part moving 25 px a frame: it is looked for where it has moved to."""
    bad = Failure(Reason.UNABLE, "frame 8 could not be decoded")
    blank = np.zeros((0, 0), np.uint8)
    seen = [_disc_frame(1280, 360, [(120 + 25 * t, 180, 100)]) for t in range(30)]
    frames = [Frame(t, blank, t / 25, 0.0, bad) if 8 <= t <= 12 else Frame(t, seen[t], t / 25, 0.0) for t in range(30)]
    assert len(_run(LineTrigger(TriggerSection()), frames)) == 1


def _unreadable(frames: list[Frame], lost: range) -> list[Frame]:
    """The frames in ``lost`` replaced by frames that could not be decoded (their numbers kept)."""
    bad = Failure(Reason.UNABLE, "could not be decoded")
    return [Frame(f.index, np.zeros((0, 0), np.uint8), 0.0, 0.0, bad) if f.index in lost else f for f in frames]


def test_a_part_coming_into_view_that_crosses_the_line_in_frames_not_decoded_is_rejected_once_in_order() -> None:
    """The middle part is seen only coming into view (x -56 to 144 on frame 33), then 72 frames do not decode: at 16 px a
    frame it crossed the line (x 640) meanwhile, as did the part ahead of it, and it is leaving when frames decode again.
    Before, it got no verdict: its track stayed where it was and took the part behind it, coming into view there. Now it
    is rejected, unable to inspect, once, after the part ahead (judged on its last whole view, x 428) and before the part
    behind; the bar of it leaving gets none."""
    frames = _unreadable(_moving(1280, 360, 100, [-100, -500, -900], 16, 130), range(34, 106))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, p.frame.index) for p in parts] == [(1, 106), (2, 106), (3, 106)]
    first, middle, last = parts
    assert first.failure is None and first.blob is not None and first.blob[0] == pytest.approx(428, abs=4)
    assert middle.failure is not None and middle.failure.reason is Reason.UNABLE and "frames not seen" in middle.failure.detail
    assert last.failure is None and last.blob is not None and last.blob[0] == pytest.approx(796, abs=4)


def test_a_part_seen_only_coming_into_view_is_not_rejected_when_it_is_found_again_whole() -> None:
    """The same with 50 frames not decoded: the middle part is whole when they end, past the line, and judged on that view."""
    parts = _run(LineTrigger(TriggerSection()), _unreadable(_moving(1280, 360, 100, [-100, -500, -900], 16, 130), range(34, 84)))
    assert [p.part_id for p in parts] == [1, 2, 3] and all(p.failure is None for p in parts)
    assert parts[1].frame.index == 84 and parts[1].blob is not None and parts[1].blob[0] == pytest.approx(844, abs=4)


def test_a_part_that_crosses_the_line_in_frames_not_decoded_is_judged_before_the_part_behind_it() -> None:
    """Seen whole short of the line (x 524 on frame 39), then 40 frames not decoded: it is leaving the frame when they
    end, and the part behind it is whole past the line. It is judged at once on its last whole view, then the part
    behind; before, it waited for its track to give up, and was judged after the part behind it (out of order)."""
    parts = _run(LineTrigger(TriggerSection()), _unreadable(_moving(1280, 360, 100, [-100, -500], 16, 120), range(40, 80)))
    assert [(p.part_id, p.frame.index, p.failure) for p in parts] == [(1, 80, None), (2, 80, None)]
    assert [p.blob[0] if p.blob else None for p in parts] == [pytest.approx(524, abs=4), pytest.approx(780, abs=4)]
    assert [p.seen for p in parts] == [39, None], "the view it was judged on, for eval to find its part by"


def test_a_part_coming_into_view_that_crosses_the_line_while_frames_show_nothing_is_rejected_once_in_order() -> None:
    """As above, with the 72 frames showing only the belt (the light out) instead of not decoding. Before, the middle part
    got no verdict: its track missed it on each of them and gave up, the part ahead's (which gave the belt's speed)
    with it. Now a frame that shows nothing while a part is coming into view is not believed, as one not decoded, up to
    50 in a row: it is rejected on the 50th, as the frames are believed again."""
    frames = _with_blank(_moving(1280, 360, 100, [-100, -500, -900], 16, 130), range(34, 106))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2, 3]
    first, middle, last = parts
    assert first.failure is None and first.blob is not None and first.blob[0] == pytest.approx(428, abs=4)
    assert middle.failure is not None and middle.failure.reason is Reason.UNABLE and "frames not seen" in middle.failure.detail
    assert middle.frame.index == 84 and middle.seen == 33
    assert last.failure is None and last.blob is not None and last.blob[0] == pytest.approx(796, abs=4)


def test_a_part_coming_into_view_then_unseen_then_shown_by_an_empty_frame_gets_one_verdict_when_seen_whole() -> None:
    """Seen only coming into view, then 22 frames not decoded, then one that decodes and shows only the belt, then the
    part whole past the line. It was rejected as crossed unseen on the empty frame, and judged again on the next."""
    frames = _moving(960, 540, 100, [150, -200], 23, 70)
    frames = _with_blank(_unreadable(frames, range(9, 31)), range(31, 32))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, p.frame.index, p.failure) for p in parts] == [(1, 32, None), (2, 32, None)]
    assert parts[1].blob is not None and parts[1].blob[0] == pytest.approx(536, abs=4), "the part behind, judged on its whole view"


def test_a_part_the_belt_took_past_the_line_in_frames_not_decoded_at_the_end_of_a_recording_is_rejected() -> None:
    """Seen only coming into view, then the recording's last 46 frames do not decode: at 16 px a frame the part behind
    crossed the line in them. Before, the stream ended with no verdict for it."""
    frames = _unreadable(_moving(1280, 360, 100, [-100, -500], 16, 80), range(34, 80))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2] and parts[0].failure is None
    last = parts[1]
    assert last.failure is not None and "crossed the line in 46 frames not seen" in last.failure.detail
    assert last.frame.index == 79 and last.seen == 33


def test_a_recording_that_ends_in_frames_not_decoded_gives_its_verdicts_in_order() -> None:
    """The part ahead, short of the line, does not show on the last two frames that decode (a shade); the part behind
    does, and the belt takes it past the line in the frames that follow, to the end, none decoded. The part ahead is
    judged first, on its last whole view; before, the part behind was judged first, as across those frames, and the
    part ahead after it, as its track was given up. Each is stamped with the last frame, the stamps in order too."""
    frames = [Frame(t, _disc_frame(1280, 360, [(300 + 16 * t, 180, 100)] * (t < 13) + [(-100 + 16 * t, 180, 100)]), 0.0, 0.0)
              for t in range(60)]  # fmt: skip
    parts = _run(LineTrigger(TriggerSection()), _unreadable(frames, range(15, 60)))
    assert [(p.part_id, p.frame.index, p.seen) for p in parts] == [(1, 59, 12), (2, 59, 14)]
    assert [p.blob[0] if p.blob else None for p in parts] == [pytest.approx(492, abs=4), pytest.approx(124, abs=4)]


def test_a_part_judged_at_the_end_after_one_judged_across_frames_not_decoded_is_stamped_no_earlier() -> None:
    """Two parts seen whole, 300 px apart; the last 16 frames do not decode, and the belt takes the part ahead past the
    line in them, not the part behind. It was judged across them (stamped with the last frame), the part behind on its
    last whole view (stamped with that view's, earlier): stamps out of order (a review's case)."""
    frames = _unreadable(_moving(1280, 360, 100, [200, -100], 16, 36), range(20, 36))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [(p.part_id, p.frame.index, p.seen) for p in parts] == [(1, 35, 19), (2, 35, 19)]


def test_a_part_touching_the_frames_bottom_close_behind_one_leaving_gets_its_own_verdict() -> None:
    """The part ahead, half out of the frame, is near it but no piece of it (the two do not fit in one part's box)."""
    frames = [Frame(t, _disc_frame(640, 360, [(200 + 20 * t, 180, 140), (200 + 20 * t - 340, 225, 140)]), t / 25, 0.0) for t in range(40)]
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 2 and all(p.failure is None for p in parts)


def _with_blank(frames: list[Frame], blank: range, level: int | None = None) -> list[Frame]:
    """The frames in ``blank`` replaced by an empty belt (``level`` None) or a uniform field at ``level`` (a light out)."""
    out = []
    for f in frames:
        if f.index in blank:
            img = np.full_like(f.image, 60 if level is None else level)
            f = Frame(f.index, np.clip(img + np.random.default_rng(f.index).normal(0, 3, img.shape), 0, 255).astype(np.uint8), 0.0, 0.0)
        out.append(f)
    return out


@pytest.mark.parametrize("level", [None, 3, 255], ids=["empty-belt", "light-out", "flash"])
@pytest.mark.parametrize("frames_out", [5, 12, 30])
def test_a_part_unseen_for_frames_that_show_no_part_as_it_crosses_the_line_gets_one_verdict(level: int | None, frames_out: int) -> None:
    """Seen whole and moving, then frames that show nothing (a light dropout) while it crosses the line: it gets one
    verdict, when it crosses, on a whole view (past the line when it is seen again in time, else its last one before);
    the part behind it, coming into view meanwhile, gets its own when it crosses. Before, the first got two verdicts
    (judged on its last view, then as a new part)."""
    frames = _with_blank(_moving(1280, 360, 100, [-100, -400], 12, 120), range(40, 40 + frames_out), level)
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
    frames = _with_blank(_moving(1280, 360, 100, [-100], 12, 120), range(70, 85))
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert len(parts) == 1 and parts[0].frame.index < 70


def test_a_part_lifted_off_short_of_the_line_gets_one_verdict_and_the_next_part_its_own() -> None:
    """It stops, is lifted off, and the next part comes: the stopped track is not looked for (the belt may hold none there)."""
    xs = [min(-100 + 16 * t, 420) for t in range(60)]
    frames = [Frame(t, _disc_frame(1280, 360, [(xs[t], 180, 100)] if t < 45 else []), 0.0, 0.0) for t in range(60)]
    frames += [Frame(60 + t, _disc_frame(1280, 360, [(-100 + 16 * t, 180, 100)]), 0.0, 0.0) for t in range(80)]
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2] and all(p.failure is None for p in parts)
    assert parts[0].frame.index < 45 and parts[1].frame.index >= 60


def test_a_part_lifted_off_while_moving_is_inspected_on_its_last_whole_view_within_a_bound() -> None:
    """Frames that stay empty are believed after _MAX_BLANK of them; the part, no longer seen, is followed at its speed
    from its last whole view (x 346 on frame 49, 4 px a frame) and judged on that view as its speed takes it across the
    line (960 px, frame 203), as a photo-eye would fire: no part is waited for for ever."""
    frames = _with_blank(_moving(1920, 360, 100, [150], 4, 300), range(50, 300))
    trig = LineTrigger(TriggerSection())
    parts = _run_no_flush(trig, frames)
    assert [(p.frame.index, p.blob[0] if p.blob else None, p.failure) for p in parts] == [(203, 346.0, None)]
    assert trig.flush() == []


def test_a_part_waited_for_when_the_camera_is_lost_is_rejected_once() -> None:
    frames = _with_blank(_moving(1280, 360, 100, [-100], 12, 40), range(30, 40))
    trig = LineTrigger(TriggerSection())
    assert _run_no_flush(trig, frames) == []
    lost = Frame(40, np.zeros((0, 0), np.uint8), 0.0, 0.0, Failure(Reason.UNABLE, "camera lost: test"), camera_lost=True)
    parts = trig(lost)
    assert len(parts) == 1 and parts[0].failure is not None and "camera lost" in parts[0].failure.detail
    assert trig.flush() == []


def test_unreadable_and_blank_frames_together_leave_one_verdict_each() -> None:
    bad = Failure(Reason.UNABLE, "not decodable")
    frames = _with_blank(_moving(1280, 360, 100, [-100, -400], 12, 120), range(38, 46), 3)
    frames = [Frame(f.index, np.zeros((0, 0), np.uint8), 0.0, 0.0, bad) if f.index % 3 == 0 and 30 < f.index < 60 else f for f in frames]
    parts = _run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == [1, 2] and all(p.failure is None for p in parts)


def _emitted(trig: LineTrigger, frames: list[Frame]) -> list[tuple[int, Part]]:
    """Each part with the index of the frame on which the trigger gave it (flush: after the last)."""
    out = [(f.index, p) for f in frames for p in trig(f)]
    return out + [(len(frames), p) for p in trig.flush()]


@pytest.mark.parametrize("frames_out", [4, 6, 8, 12])
def test_parts_crossing_while_the_light_is_out_and_leaving_as_it_returns_keep_their_order_and_time(frames_out: int) -> None:
    """The smallest frame, fast parts close together (30 px a frame, a gap of 0.44 diameters), the light out from the first
    part's crossing until it is leaving: it is judged as it crosses, not after it has gone and after the parts behind it
    (20 frames late, past the deadline: found by a review of the first version of the blank rule)."""
    frames = _with_blank(_moving(640, 360, 90, [-90, -350, -610], 30, 60), range(13, 13 + frames_out), 3)
    emitted = _emitted(LineTrigger(TriggerSection()), frames)
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
        img = _disc_frame(1280, 540, [(x - k * 300, 270, 110) for k in range(3)])
        img[270:, max(0, x - 112) : max(0, x + 113)] = 60
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = [p for _, p in _emitted(LineTrigger(TriggerSection()), _with_blank(frames, range(40, 40 + frames_out)))]
    assert len(parts) == 3 and _never_seen_whole(parts[0]) and parts[1].failure is None and parts[2].failure is None


@pytest.mark.parametrize("frames_out", [8, 20, 30])
def test_a_part_seen_whole_once_as_the_light_goes_is_judged_once_as_the_belt_takes_it_across_the_line(frames_out: int) -> None:
    """Fast parts (40 px a frame), the line at 0.7, the light out from frame 17: the one ahead seen whole and moving, the
    one behind seen whole once as the light goes (no speed of its own). It moves on at the belt's (the part ahead's, as
    it was when the part was last seen) and is judged once, as that takes it across the line, after the part ahead.
    Before, it missed the dark frames and was judged on retiring, 14 frames before it crossed (the actuator times from
    the stamp), and where the light came back while it was in view its part came back as a second part: 8 and 20 frames
    out gave four verdicts for three parts."""
    frames = _with_blank(_moving(1280, 720, 100, [-100, -500, -900], 40, 90), range(17, 17 + frames_out))
    emitted = _emitted(LineTrigger(TriggerSection(line=0.7)), frames)
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
        Frame(t, _disc_frame(640, 360, [(s + t, 180, 70) for s in (290, 100) if s != 100 or t not in range(40, 40 + frames_out)]), 0.0, 0.0)
        for t in range(260)
    ]
    emitted = _emitted(LineTrigger(TriggerSection()), frames)
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
            _disc_frame(
                1280, 720, [(s + 25 * t, 360, 100) for s in (-100, -500, -900) if s != -500 or t not in range(27, 27 + frames_out)]
            ),
            0.0,
            0.0,
        )
        for t in range(90)
    ]
    emitted = _emitted(LineTrigger(TriggerSection()), frames)
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
            _disc_frame(1280, 720, [(s + 8 * t, 360, 100) for s in (-100, -560) if s != -560 or t not in range(dark_from, dark_from + 6)]),
            0.0,
            0.0,
        )
        for t in range(220)
    ]
    emitted = _emitted(LineTrigger(TriggerSection(line=0.8)), frames)
    assert [(at, p.part_id, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [
        (141, 1, 141, 1028.0),
        (198, 2, 198, 1024.0),
    ]


def _ring_or_bar(img: np.ndarray, x: int, y: int, r: int, bar: int | None) -> None:
    """A part at (x, y), or only a bright bar of its rim ``bar`` px from its centre along the belt (a side light that
    shows one sector for a frame)."""
    if bar is None:
        cv2.circle(img, (x, y), r, 190, -1)
        cv2.circle(img, (x, y), r // 2, 25, -1)
    else:
        cv2.rectangle(img, (x + bar - 20, int(y - 0.8 * r)), (x + bar + 20, int(y + 0.8 * r)), 190, -1)


@pytest.mark.parametrize("at", [20, 24, 28])
def test_a_part_whose_track_took_a_bar_of_its_rim_keeps_one_verdict(at: int) -> None:
    """A part at 20 px a frame shows only as a bar of its rim ahead of its centre on one frame (its track takes the bar),
    and behind it on the next (a new track starts there and follows the part). The track left on the bar is given up;
    the new one is its part found again, reckoned from where the part was last seen whole, not from the bar: one verdict,
    at the line (it got a second on its last whole view, stamped when its track gave up)."""
    frames = []
    for t in range(80):
        img = np.full((720, 1280), 60, np.uint8)
        _ring_or_bar(img, -100 + 20 * t, 360, 100, {at: 85, at + 1: -60}.get(t))
        frames.append(Frame(t, img, 0.0, 0.0))
    emitted = _emitted(LineTrigger(TriggerSection()), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(37, 37, 640.0)]


def test_a_part_lost_on_a_bar_and_found_again_is_followed_by_the_track_that_found_it_only() -> None:
    """Right to left at 26 px a frame: the part behind shows as a bar behind its centre (its track takes it), then ahead
    (a new track), then whole, then not at all for 4 frames while the part ahead shows. Both tracks have lost it by then;
    only the new one, which found the part again, is followed. Following the old one as well, it took the part back as
    it reappeared, and the new one, followed to the line unseen, judged it a second time."""
    frames = []
    for t in range(100):
        img = np.full((720, 1280), 60, np.uint8)
        _ring_or_bar(img, 1830 - 26 * t, 306, 155, None)
        if t not in range(53, 57):
            _ring_or_bar(img, 2300 - 26 * t, 300, 155, {50: 150, 51: -140}.get(t))
        frames.append(Frame(t, img, 0.0, 0.0))
    cfg = TriggerSection(direction=Direction.RIGHT_TO_LEFT, line=0.75, min_diameter_px=201, max_diameter_px=413)
    emitted = _emitted(LineTrigger(cfg), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(59, 59, 296.0), (77, 77, 300.0)]


def _rings(w: int, t: int, centres: list[tuple[float, bool]], blank: bool = False) -> Frame:
    """Frame ``t``: a part of 160 px at each x of ``centres`` shown (True), on a belt ``w`` px wide and 720 px high."""
    img = np.full((720, w), 60, np.uint8)
    for x, shown in centres:
        if shown and not blank:
            _ring_or_bar(img, round(x), 360, 80, None)
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
    emitted = _emitted(LineTrigger(TriggerSection(line=0.8)), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(50, 45, 300.0), (132, 132, 1024.0)]


@pytest.mark.parametrize("dark_from", [53, 54, 55, 56])
def test_a_part_lifted_off_as_the_light_goes_out_is_still_judged_as_it_crosses(dark_from: int) -> None:
    """A part at 10 px a frame, lifted off on frame 50 while the one behind stays; the light goes out for 3 frames as its
    track is about to give up. It is followed across them as across frames that show the others, and judged as its speed
    takes it across the line (frame 70), not on the frame its track gave up, stamped with its last whole view."""
    frames = [_rings(1280, t, [(-60 + 10 * t, t < 50), (-380 + 10 * t, True)], t in range(dark_from, dark_from + 3)) for t in range(140)]
    emitted = _emitted(LineTrigger(TriggerSection()), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(70, 70, 430.0), (102, 102, 640.0)]


@pytest.mark.parametrize("again", [60, 74, 80, 86])
def test_a_part_past_the_line_that_shows_as_bars_twice_keeps_one_verdict(again: int) -> None:
    """A part judged at the line (x 384, frame 25) shows, past it, twice for two frames only as bars of its rim: each time
    its track takes the first bar and a new track follows the part from the second. The second new track finds the
    first new one again, which deferred its verdict to the track that judged the part, an older one: it defers too (it
    gave a second verdict once the track that judged the part was too far behind to be found again)."""
    frames = []
    for t in range(120):
        img = np.full((720, 1920), 60, np.uint8)
        _ring_or_bar(img, -100 + 20 * t, 360, 80, {28: 68, 29: -48, again: 68, again + 1: -48}.get(t))
        frames.append(Frame(t, img, 0.0, 0.0))
    emitted = _emitted(LineTrigger(TriggerSection(line=0.2)), frames)
    assert [(at, p.frame.index, p.blob[0] if p.blob else None) for at, p in emitted] == [(25, 25, 400.0)]


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
        for f in _with_blank(_moving(1280, 720, 100, [-100, -500, -900], 40, 70), range(10, 40), 3)
    ]
    emitted = _emitted(LineTrigger(TriggerSection(line=0.7)), frames)
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
        img = _disc_frame(1920, 1080, [(-90 - 210 * k + x(t), 540, 90) for k in range(4)])
        frames.append(Frame(t, img, 0.0, 0.0))
    parts = [p for _, p in _emitted(LineTrigger(TriggerSection(min_diameter_px=108)), _with_blank(frames, range(7, 37)))]

    def which(p: Part) -> int:  # the part it is, from where it was seen
        return min(range(4), key=lambda k: abs(-90 - 210 * k + x(p.frame.index) - (p.blob[0] if p.blob else 0)))

    assert {1, 2, 3} <= {which(p) for p in parts if p.frame.index >= 37}, [(p.frame.index, p.blob) for p in parts]
