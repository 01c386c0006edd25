"""The line trigger on parts close together: large parts filling a small frame, and parts diagonal to each other across the
belt, each get one verdict."""

from __future__ import annotations

from station.config import TriggerSection
from station.messages import Frame
from station.stages.line_trigger import LineTrigger

from .belt_frames import disc_frame, run


def test_large_parts_close_together_on_a_small_frame_get_one_verdict_each() -> None:
    """Two thirds of the frame part: its median, once the belt's level, fell on their metal, and parts got no verdict."""
    r, pitch = 165, 380  # 330 px parts in a 360 px frame, 15 % of a diameter apart
    frames = [Frame(t, disc_frame(640, 360, [(-r - pitch * k + 10 * t, 180, r) for k in range(5)], belt=50), 0.0, 0.0) for t in range(240)]
    parts = run(LineTrigger(TriggerSection(min_diameter_px=180, max_diameter_px=440)), frames)
    assert [p.part_id for p in parts] == [1, 2, 3, 4, 5] and all(p.failure is None for p in parts)


def test_parts_off_the_centre_line_by_turns_diagonal_to_each_other_get_one_verdict_each() -> None:
    """15 % of a diameter apart diagonally, their boxes overlap along the belt: joined as one, 11 of 20 got no verdict."""
    r, dx = 125, 249  # centres 287.5 px apart (the gap 15 % of 250), 144 px apart across the belt: 249 along it
    frames = [Frame(t, disc_frame(1280, 720, [(-r - dx * k + 15 * t, 360 + (72 if k % 2 else -72), r) for k in range(8)], belt=50),
                    0.0, 0.0) for t in range(220)]  # fmt: skip
    parts = run(LineTrigger(TriggerSection()), frames)
    assert [p.part_id for p in parts] == list(range(1, 9)) and all(p.failure is None for p in parts)
