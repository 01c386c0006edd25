from __future__ import annotations

import numpy as np

from station.blobs import Blob
from station.config import TriggerSection
from station.following import MAX_MISSED, carried_off, expected, followable, followed, predicted
from station.messages import Frame
from station.tracks import MAX_DRIFT, Track

CFG = TriggerSection(mode="line")
W, H = 1280, 480


def _box(cx: int, size: int = 200) -> Blob:
    return Blob(cx - size // 2, 140, cx + size // 2, 140 + size)


def _seen(cx: int, index: int, speed: float, order: int = 0) -> Track:
    """A track seen whole twice, ``speed`` px a frame apart, the second time at ``cx`` on frame ``index``."""
    t = Track(order, _box(int(cx - speed)), seen=index - 1)
    for k, x in ((index - 1, int(cx - speed)), (index, cx)):
        t.whole(Frame(k, np.zeros((4, 4), np.uint8), 0.0, 0.0), _box(x), 60.0)
        t.blob, t.seen, t.whole_view = _box(x), k, (k, _box(x))
    return t


def test_a_part_seen_whole_is_predicted_where_its_speed_takes_it() -> None:
    t = _seen(300, 10, 20.0)
    assert predicted(t, 13, CFG) == _box(360), "3 frames at 20 px a frame"


def test_a_part_too_slow_to_be_moving_is_not_predicted_anywhere() -> None:
    assert predicted(_seen(300, 10, 1.0), 13, CFG) is None, "1 px a frame: it may have stopped and been lifted off"


def test_a_part_is_expected_in_view_only_while_its_predicted_box_is_inside_the_frame() -> None:
    t = _seen(300, 10, 40.0)
    assert expected(t, 12, CFG, W, H), "380 px: in view"
    assert not expected(t, 40, CFG, W, H), "1500 px: gone past the frame's side"
    t.missed = 1
    assert not expected(t, 12, CFG, W, H), "missed on the last frame believed: not looked for"


def test_a_part_never_seen_whole_is_carried_off_once_the_belt_moved_it_out_of_reach() -> None:
    t = Track(0, _box(100), seen=5)
    assert not carried_off(t, 2, (40.0, 0.0), CFG), "80 px: within 0.6 of its 200 px"
    assert carried_off(t, 4, (40.0, 0.0), CFG), "160 px: out of a match's reach"
    assert not carried_off(t, 4, None, CFG), "the belt's speed not known"
    assert not carried_off(_seen(300, 5, 40.0), 4, (40.0, 0.0), CFG), "seen whole: it has a speed of its own"


def test_a_followed_part_is_due_once_its_speed_takes_it_past_the_line() -> None:
    short, past = _seen(200, 10, 40.0, order=0), _seen(620, 10, 40.0, order=1)
    waited, due = followed([short, past], [short, past], 11, (40.0, 0.0), CFG, W, H)
    assert waited == {0, 1} and due == {1}, "660 px of 1280 is past the middle line; 240 px is short of it"


def test_a_part_followed_further_than_its_speed_is_trusted_is_due_where_it_is_lost() -> None:
    t = _seen(150, 10, 10.0)
    steps = int(MAX_DRIFT * 200 / 10) + 1
    waited, due = followed([t], [t], 10 + steps, (10.0, 0.0), CFG, 4000, H)
    assert due == {0} and waited == set(), "drifted: inspected now, as near the line as it will be seen"


def test_a_part_a_newer_track_found_again_and_saw_whole_is_not_followed_by_its_old_track() -> None:
    old = _seen(300, 10, 40.0, order=0)
    old.missed = MAX_MISSED + 1
    assert followable(old, [old], (40.0, 0.0), CFG, W)
    new = _seen(380, 12, 40.0, order=1)
    new.came, new.born = _box(380), 12
    assert not followable(old, [old, new], (40.0, 0.0), CFG, W), "the newer track follows it"
    assert followed([old], [old, new], 13, (40.0, 0.0), CFG, W, H) == (set(), set())


def test_a_part_whose_speed_is_not_the_belts_is_not_followed() -> None:
    t = _seen(300, 10, 40.0)
    assert not followable(t, [t], (20.0, 0.0), CFG, W), "the belt slowed to half: its averaged speed lags"
