from __future__ import annotations

import numpy as np

from station.blobs import Blob
from station.config import TriggerSection
from station.messages import Frame
from station.tracks import MAX_DRIFT, Track, about, drifted, found_again


def _frame(index: int) -> Frame:
    return Frame(index, np.zeros((4, 4), np.uint8), 0.0, 0.0)


def _box(cx: int, size: int = 200) -> Blob:
    return Blob(cx - size // 2, 100, cx + size // 2, 100 + size)


def test_a_track_remembers_where_it_was_first_seen_as_it_moves_on() -> None:
    t = Track(0, _box(300), seen=7)
    t.blob, t.seen = _box(340), 8
    assert (t.came, t.born) == (_box(300), 7)


def test_its_speed_is_known_only_once_it_was_seen_whole_twice() -> None:
    t = Track(0, _box(300))
    t.whole(_frame(10), _box(300), 60.0)
    assert t.velocity is None and t.where(3) == (300.0, 200.0), "one whole view, the belt's speed not known: where it was"
    t.whole(_frame(12), _box(340), 60.0)
    t.blob = _box(340)
    assert t.velocity == (20.0, 0.0), "40 px in 2 frames"
    assert t.where(1) == (340.0, 200.0) and t.where(3) == (400.0, 200.0), "across frames not seen it moves on at its speed"


def test_a_track_followed_further_than_its_speed_can_be_trusted_is_lost() -> None:
    t = Track(0, _box(300), velocity=(40.0, 0.0))
    steps = int(MAX_DRIFT * 200 / 40)
    assert not drifted((40.0, 0.0), steps, t.blob) and t.where(steps) is not None
    assert drifted((40.0, 0.0), steps + 1, t.blob) and t.where(steps + 1) is None


def test_seen_whole_once_it_moves_on_at_the_belts_speed_as_it_was_when_last_seen() -> None:
    t = Track(0, _box(300), belt=(40.0, 0.0))
    assert t.speed() is None and t.where(3) == (300.0, 200.0), "never whole: perhaps coming into view, at half the speed"
    t.whole(_frame(10), _box(300), 60.0)
    assert t.speed() == (40.0, 0.0) and t.where(3) == (420.0, 200.0)
    t.whole(_frame(11), _box(330), 60.0)
    assert t.speed() == (30.0, 0.0), "seen whole twice: its own speed, not the belt's"


def test_a_lost_part_may_be_found_again_only_as_far_as_its_speed_can_be_trusted() -> None:
    t = Track(0, _box(300), seen=10)
    assert not t.findable(11, (40.0, 0.0)), "never seen whole: nothing to find again"
    t.whole(_frame(10), _box(300), 60.0)
    assert t.findable(11, None) and not t.findable(12, None), "no speed known: only on the next frame"
    steps = int(MAX_DRIFT * 200 / 40)
    assert t.findable(10 + steps, (40.0, 0.0)) and not t.findable(11 + steps, (40.0, 0.0)), "the belt's speed, up to MAX_DRIFT sizes"


def test_a_track_is_steady_while_it_moves_at_about_its_averaged_speed() -> None:
    t = Track(0, _box(300))
    t.whole(_frame(10), _box(300), 60.0)
    assert not t.steady(), "no speed of its own yet"
    for i, x in enumerate((312, 324, 336), start=11):
        t.whole(_frame(i), _box(x), 60.0)
    assert t.steady() and t.velocity is not None and abs(t.velocity[0] - 12.0) < 0.1
    stopped = Track(1, _box(300))
    for i in range(10, 15):
        stopped.whole(_frame(i), _box(300), 60.0)
    stopped.whole(_frame(15), _box(312), 60.0)
    assert stopped.moved == (12.0, 0.0) and not stopped.steady(), "starting again: the average (6 px a frame) lags the move"


def test_a_speed_is_about_another_within_a_share_of_it_and_some_pixels() -> None:
    assert about((11.0, 0.0), (10.0, 0.0)) and about((14.0, 0.0), (10.0, 0.0)) and not about((14.1, 0.0), (10.0, 0.0))
    assert about((12.0, 0.0), (10.0, 0.0), 0.1, 1.0) and not about((12.1, 0.0), (10.0, 0.0), 0.1, 1.0), "a tenth and 1 px"


def test_ahead_moves_the_last_whole_view_on_at_its_speed_while_that_view_is_recent_and_the_part_moving() -> None:
    t = Track(0, _box(300), belt=(20.0, 0.0))

    def moving(v: tuple[float, float]) -> bool:
        return v[0] >= 2.0

    assert t.ahead(12, moving, 4) is None, "never seen whole"
    t.whole(_frame(10), _box(300), 60.0)
    t.seen, t.whole_view = 10, (10, _box(300))
    assert t.ahead(12, moving, 4) == _box(340), "seen whole once: at the belt's speed, 2 frames on"
    t.seen = 15
    assert t.ahead(16, moving, 4) is None, "last seen whole 5 frames before it was last seen"
    still = Track(0, _box(300), belt=(1.0, 0.0))
    still.whole(_frame(10), _box(300), 60.0)
    still.seen, still.whole_view = 10, (10, _box(300))
    assert still.ahead(12, moving, 4) is None, "1 px a frame: perhaps stopped"


def test_a_part_is_found_again_ahead_where_its_speed_took_it_within_its_size_and_never_by_an_older_track() -> None:
    cfg, width = TriggerSection(), 1280
    lost = Track(0, _box(300), seen=10, velocity=(20.0, 0.0))
    lost.whole(_frame(10), _box(300), 60.0)  # seen whole at x 300 on frame 10, moving 20 px a frame
    lost.whole_view = (10, _box(300))
    at = {x: Track(1, _box(x), seen=15) for x in (400, 250, 520, 620)}  # first seen 5 frames on: expected at x 400
    assert found_again(lost, at[400], cfg, width, None) and found_again(lost, at[520], cfg, width, None)  # up to a size ahead
    assert not found_again(lost, at[250], cfg, width, None) and not found_again(lost, at[620], cfg, width, None)
    assert not found_again(at[400], lost, cfg, width, None), "an older track is never a part found again"
