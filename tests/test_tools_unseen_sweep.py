"""tools/unseen_sweep.py: the line trigger over composed footage with stretches of frames it does not see."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from station.config import TriggerSection
from station.messages import Frame, Part
from tools import unseen_sweep


def _part(index: int) -> Part:
    return Part(index, Frame(index, np.zeros((2, 2), np.uint8), 0.0, 0.0))


def test_a_case_is_wrong_out_of_order_or_with_a_part_missing_or_doubled() -> None:
    windows = [(10, 20), (30, 40)]  # two parts, each entirely in view over its window; 5 frames to come into view
    assert not unseen_sweep.wrong([_part(15), _part(35)], windows, range(50, 60), 5)
    assert unseen_sweep.wrong([_part(35), _part(15)], windows, range(50, 60), 5), "out of order"
    assert unseen_sweep.wrong([_part(15)], windows, range(50, 60), 5), "a part seen whole got none"
    assert unseen_sweep.wrong([_part(15), _part(35), _part(36)], windows, range(50, 60), 5), "a part got two"
    assert not unseen_sweep.wrong([_part(15)], windows, range(26, 46), 5), "the second never seen: none due"
    assert not unseen_sweep.wrong([_part(15), _part(46)], windows, range(28, 41), 5), "the second seen leaving: one allowed"


def test_a_part_seen_coming_into_view_that_crossed_the_line_in_the_stretch_is_due_a_verdict() -> None:
    windows = [(10, 20), (30, 40)]  # the second's centre in view from frame 27 (3.5 frames before it is whole)
    assert not unseen_sweep.wrong([_part(15)], windows, range(28, 41), 5), "without --entering, none due"
    assert unseen_sweep.wrong([_part(15)], windows, range(28, 41), 5, entering=3.5), "seen on 27, crossed on 35: due one"
    assert not unseen_sweep.wrong([_part(15), _part(41)], windows, range(28, 41), 5, entering=3.5)
    assert not unseen_sweep.wrong([_part(15)], windows, range(27, 41), 5, entering=3.5), "its centre never seen: none due"


def test_blank_frames_show_the_belts_grey_and_keep_their_numbers(tmp_path: Path) -> None:
    """--blank: the stretch's frames are handed in, each one grey level (the light out); the line trigger does not believe
    them, and a part coming into view before them that crossed the line in them is rejected on the first after them."""
    frames, windows = unseen_sweep._video(tmp_path, 16.0)
    lost = range(40, 89)  # part 2 (whole 41-83) comes into view before them and crosses the line in them
    parts = unseen_sweep.run(frames, lost, TriggerSection(), "blank")
    assert not unseen_sweep.wrong(parts, windows, lost, 15, entering=7.5)
    refused = [(p.frame.index, p.seen, p.failure.detail) for p in parts if p.failure is not None]
    assert [(i, s) for i, s, _ in refused] == [(89, 39)] and "49 frames not seen" in refused[0][2]


def test_a_stretch_a_part_crosses_the_line_in_gives_one_verdict_a_part_in_order(tmp_path: Path) -> None:
    frames, windows = unseen_sweep._video(tmp_path, 40.0)
    assert len(windows) == 8
    lost = range(40, 47)
    parts = unseen_sweep.run(frames, lost, TriggerSection())
    assert not unseen_sweep.wrong(parts, windows, lost, 6) and len(parts) == 8


def test_frames_gone_without_a_trace_are_numbered_on_and_the_verdicts_stamped_back(tmp_path: Path) -> None:
    """--silent: the trigger sees the frames after the stretch numbered on from the last before it (a renumbered AVI), and
    each verdict is stamped back with the number its frame had in the whole video, as a ground truth would count it."""
    frames, _ = unseen_sweep._video(tmp_path, 40.0)
    lost = range(40, 47)
    stamps = [p.frame.index for p in unseen_sweep.run(frames, lost, TriggerSection(), "silent")]
    assert stamps and not any(s in lost for s in stamps) and any(s >= 47 for s in stamps)


def test_the_part_coming_into_view_where_a_part_rejected_as_crossed_unseen_was_gets_its_own_verdict(tmp_path: Path) -> None:
    """Frames 15-39 undecodable at 40 px a frame: the part seen only coming into view before them is rejected as crossed
    unseen. Its track stayed where it was, with no speed, and took the part coming into view there four frames later,
    which, that track judged, got no verdict (a review's case: part 4, whole in frames 50-66, all after the stretch)."""
    frames, windows = unseen_sweep._video(tmp_path, 40.0)
    parts = unseen_sweep.run(frames, range(15, 40), TriggerSection())
    first, last = windows[4]
    assert any(first <= p.frame.index <= last and p.failure is None for p in parts)
    assert not unseen_sweep.wrong(parts, windows, range(15, 40), 6)


def test_a_short_frozen_stretch_reads_as_the_belt_pausing_and_keeps_one_verdict_a_part(tmp_path: Path) -> None:
    """--frozen: three copies of the frame before the stretch, the parts still in them, then the belt three frames on:
    the trigger sees the belt pause and jump, and each part keeps its one verdict (a longer freeze is F1's hole)."""
    frames, windows = unseen_sweep._video(tmp_path, 16.0)
    lost = range(60, 63)
    parts = unseen_sweep.run(frames, lost, TriggerSection(), "frozen")
    assert len(parts) == 8 and not unseen_sweep.wrong(parts, windows, lost, 15, entering=7.5)
