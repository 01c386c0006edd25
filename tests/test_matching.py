from __future__ import annotations

from station.blobs import Blob
from station.config import TriggerSection
from station.following import MAX_MISSED
from station.matching import match
from station.tracks import Track

CFG = TriggerSection(mode="line")  # travel left to right: a speed's x is along the belt


def _box(cx: int, size: int = 200) -> Blob:
    return Blob(cx - size // 2, 140, cx + size // 2, 140 + size)


def _track(order: int, cx: int, seen: int, missed: int = 0) -> Track:
    """A track never seen whole (no speed of its own: across one frame it is looked for where it was)."""
    t = Track(order, _box(cx), seen=seen)
    t.missed = missed
    return t


def test_each_track_takes_the_nearest_blob_within_its_reach() -> None:
    t = _track(0, 300, seen=10)
    near, far = _box(340), _box(380)  # 40 and 80 px off; the reach is 0.6 of 200 px
    left = match([t], [far, near], 11, False, None, CFG, None)
    assert (t.blob, t.seen, t.missed, t.was) == (near, 11, 0, (10, _box(300)))
    assert left == [far]


def test_a_blob_beyond_a_tracks_reach_is_left_and_the_track_misses_its_part() -> None:
    t = _track(0, 300, seen=10)
    left = match([t], [_box(430)], 11, False, None, CFG, None)  # 130 px off: beyond 120
    assert left == [_box(430)]
    assert (t.blob, t.seen, t.missed) == (_box(300), 10, 1)


def test_a_track_seen_on_the_frame_before_chooses_before_an_older_one_missed_since() -> None:
    """A piece of a rim that went dark is where it was: choosing first, it would take the blob of the part that has just
    moved up to it, and that part's own track would take nothing."""
    piece = _track(0, 300, seen=9, missed=1)
    part = _track(1, 250, seen=10)
    left = match([piece, part], [_box(300)], 11, False, None, CFG, None)  # 0 px from the piece, 50 from the part
    assert left == []
    assert part.blob == _box(300) and part.missed == 0
    assert piece.missed == 2


def test_across_frames_not_seen_a_track_the_belt_carried_off_takes_nothing() -> None:
    """Never seen whole, it has no speed of its own: where it was is now the place of the part behind it."""
    belt = (40.0, 0.0)
    carried, kept = _track(0, 100, seen=5), _track(0, 100, seen=5)
    assert match([carried], [_box(100)], 9, True, None, CFG, belt) == [_box(100)], "4 frames at 40 px: 160 px, out of reach"
    assert carried.missed == 1
    assert match([kept], [_box(100)], 9, False, None, CFG, belt) == [], "no frames not seen between: where it was"
    assert kept.seen == 9 and kept.missed == 0


def test_whether_the_belt_carried_a_track_off_is_told_by_its_speed_as_of_the_last_frame_believed() -> None:
    """``belt_then``, not the speed a matched track is to keep (``belt``): unknown then, the track is looked for where it was."""
    t = _track(0, 100, seen=5)
    assert match([t], [_box(100)], 9, True, (40.0, 0.0), CFG, None) == []
    assert t.seen == 9 and t.belt == (40.0, 0.0)


def test_a_track_matched_across_frames_not_seen_is_marked_and_keeps_the_belts_speed() -> None:
    t = _track(0, 300, seen=10)
    assert match([t], [_box(310)], 12, True, (20.0, 0.0), CFG, None) == []
    assert t.gapped and t.belt == (20.0, 0.0) and t.seen == 12
    u = _track(0, 300, seen=10)
    match([u], [_box(310)], 11, False, None, CFG, None)
    assert not u.gapped and u.belt is None, "no speed known: none is made up"


def test_tracks_followed_after_losing_their_part_choose_last() -> None:
    """Followed at a speed perhaps a little off, such a track would take a part behind it from that part's own track."""
    followed = _track(0, 300, seen=5, missed=MAX_MISSED + 1)
    missed = _track(1, 300, seen=9, missed=1)
    assert match([followed, missed], [_box(300)], 11, False, None, CFG, None) == []
    assert missed.seen == 11 and followed.missed == MAX_MISSED + 2


def test_of_two_blobs_equally_near_a_track_takes_the_first() -> None:
    t = _track(0, 300, seen=10)
    assert match([t], [_box(260), _box(340)], 11, False, None, CFG, None) == [_box(340)]
    assert t.blob == _box(260)
