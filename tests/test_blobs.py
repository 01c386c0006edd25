"""Blob finding: parts apart from the belt and its noise, on a work copy small enough to be quick."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from station.blobs import Blob, ahead, along, find_blobs, inside, no_room, part_sized, progress, whole_part, work_image
from station.config import Direction, TriggerSection
from station.locate import level_percentiles

from .belt_frames import disc_frame


def test_belt_median_from_the_histogram_equals_numpys_median() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(1, 60))
        lo = int(rng.integers(0, 250))
        pixels = rng.integers(lo, 256, size=(n, int(rng.integers(1, 4)))).astype(np.uint8)
        assert level_percentiles(pixels, (50.0,))[0] == pytest.approx(float(np.median(pixels)))


def test_find_blobs_separates_parts_and_ignores_noise() -> None:
    img = disc_frame(960, 540, [(200, 270, 100), (520, 280, 110)])
    img = np.clip(img + np.random.default_rng(0).normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    blobs, belt = find_blobs(img, TriggerSection())
    assert len(blobs) == 2 and abs(belt - 60) < 3
    # found on a quarter-size copy (120 px parts -> 30 px): box edges good to about 4 px each, plus the blur's spread
    assert abs(blobs[0].size - 200) <= 16 or abs(blobs[1].size - 200) <= 16
    assert all(abs(b.cy - 270) <= 8 or abs(b.cy - 280) <= 8 for b in blobs)


def _crowded(dx: int = 0) -> np.ndarray:
    """Large parts close together on a small frame: two thirds of it part, its median on their metal, not the belt."""
    img = disc_frame(640, 360, [(110 + dx, 185, 165), (490 + dx, 175, 165)], belt=50)
    return np.clip(img + np.random.default_rng(1).normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def test_the_belts_level_is_read_away_from_the_parts_a_frame_before_where_parts_cover_most_of_the_frame() -> None:
    cfg = TriggerSection(max_diameter_px=440)
    img = _crowded()
    assert np.median(img) > 100  # the whole frame's median is the parts'
    alone, belt_alone = find_blobs(img, cfg)
    assert belt_alone > 100 and [b.size for b in alone] == [640]  # every pixel of the belt differed: one blob, no part
    before, _ = find_blobs(_crowded(-10), cfg, [Blob(0, 20, 270, 350), Blob(315, 10, 645, 340)])  # as a frame before saw them
    blobs, belt = find_blobs(img, cfg, ahead(before, (10.0, 0.0)))
    assert abs(belt - 50) < 3 and len(blobs) == 2 and all(abs(b.size - 330) <= 20 for b in blobs)


def test_a_blob_larger_than_a_part_is_not_kept_off_the_belts_sample_and_the_frames_median_is_read_again() -> None:
    """A whole-frame blob (the belt misread) is no part: kept off the sample, the belt could never be read right again."""
    img = disc_frame(640, 360, [(320, 180, 100)], belt=50)
    blobs, belt = find_blobs(img, TriggerSection(), [Blob(0, 0, 640, 360)])
    assert abs(belt - 50) < 1 and len(blobs) == 1


def test_parts_diagonal_to_each_other_15_percent_of_a_diameter_apart_are_two_blobs_though_their_boxes_overlap() -> None:
    r = 125
    gap = 0.15 * 2 * r
    dx = dy = (2 * r + gap) / 2**0.5  # their outlines 15 % of a diameter apart, their boxes overlapping by 2r - dx each way
    img = disc_frame(1280, 720, [(400, 250, r), (400 + round(dx), 250 + round(dy), r)], belt=50)
    blobs, _ = find_blobs(img, TriggerSection())
    assert len(blobs) == 2 and all(abs(b.size - 2 * r) <= 16 for b in blobs)  # joined as one by their boxes before


def test_pieces_of_one_part_whose_boxes_overlap_are_one_blob() -> None:
    """A rim split by two shaded sectors: its pieces' boxes nearly touch, their outlines are far apart, together one part's box
    (what kept parts diagonal to each other apart must not split a part)."""
    img = np.full((540, 960), 50, np.uint8)
    cv2.ellipse(img, (480, 270), (120, 120), 0, 160, 380, 200, 30)  # the top, down to 20 degrees below the middle each side
    cv2.ellipse(img, (480, 270), (120, 120), 0, 40, 140, 200, 30)  # the bottom
    blobs, _ = find_blobs(img, TriggerSection())
    assert len(blobs) == 1 and abs(blobs[0].size - 270) <= 24


def test_the_work_copy_keeps_the_smallest_part_30_px_wide() -> None:
    for w, h in [(640, 360), (1280, 720), (1920, 1080), (4096, 2160)]:
        small, f = work_image(np.zeros((h, w), np.uint8), 120)
        assert 30 <= 120 * f < 60 and small.shape == (round(h * f), round(w * f))
    small, f = work_image(np.zeros((360, 640), np.uint8), 40)  # small parts: nothing to halve
    assert f == 1.0 and small.shape == (360, 640)


def test_a_whole_part_is_in_view_by_the_edge_margin_part_sized_and_round() -> None:
    cfg = TriggerSection(edge_margin_px=3, min_diameter_px=100, max_diameter_px=300)
    part = Blob(100, 100, 300, 300)
    assert inside(part, cfg, 400, 400) and part_sized(part, cfg) and whole_part(part, cfg, 400, 400)
    assert not inside(Blob(2, 100, 202, 300), cfg, 400, 400) and not inside(part, cfg, 302, 400), "within the margin of an edge"
    assert not part_sized(Blob(0, 0, 99, 99), cfg) and not part_sized(Blob(0, 0, 301, 301), cfg)
    assert whole_part(Blob(100, 100, 220, 300), cfg, 400, 400), "a rim a low side light shades: 0.6 as wide as tall"
    assert not whole_part(Blob(100, 100, 210, 300), cfg, 400, 400), "half a rim: a piece, not a whole part"


def test_frames_too_small_for_the_smallest_part_with_its_margins_have_no_room_and_say_why() -> None:
    cfg = TriggerSection(min_diameter_px=120, edge_margin_px=3)
    why = no_room(cfg, 640, 100)
    assert why is not None and "frames of 640 x 100 px" in why and "trigger.min_diameter_px (120 px)" in why and "126 px" in why
    assert no_room(cfg, 126, 126) is None and no_room(cfg, 125, 640) is not None


def test_along_and_progress_count_from_the_side_parts_come_in_from() -> None:
    ltr, rtl = TriggerSection(), TriggerSection(direction=Direction.RIGHT_TO_LEFT)
    b = Blob(100, 0, 300, 200)  # centre x 200 in a frame 800 px wide
    assert (progress(b, ltr, 800), progress(b, rtl, 800)) == (0.25, 0.75)
    assert (along(ltr, 30.0), along(rtl, 30.0)) == (30.0, -30.0), "a move to the right is against right_to_left"


def test_a_box_holds_another_inside_it_widened_by_the_margin_on_every_side() -> None:
    outer = Blob(100, 100, 200, 200)
    assert outer.holds(Blob(120, 120, 180, 180), 0.0) and outer.holds(Blob(95, 100, 200, 205), 5.0)
    for beyond in (Blob(94, 120, 180, 180), Blob(120, 94, 180, 180), Blob(120, 120, 206, 180), Blob(120, 120, 180, 206)):
        assert not outer.holds(beyond, 5.0), beyond
