"""tools/new_line.py: a run never mixes its photos with an earlier run's; each setup says where its part is."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from station.gate import admit
from station.locate import u8
from station.preprocess import preprocess
from station.teach.command import taught_spec
from tools.locate_check import SHIPPED
from tools.new_line import SETUPS, not_empty

SAMPLE = Path(__file__).resolve().parent.parent / "station" / "sample" / "casting" / "ok_front"


def test_a_folder_with_an_earlier_runs_photos_is_named(tmp_path: Path) -> None:
    out = tmp_path / "tilted"
    assert not_empty(out, splits=True) is None  # nothing there yet
    (out / "ok_front").mkdir(parents=True)
    assert not_empty(out, splits=True) == out  # an empty label folder is already something written
    (tmp_path / "fresh").mkdir()
    assert not_empty(tmp_path / "fresh", splits=True) is None  # an empty folder is fine


def test_the_split_folders_are_checked_only_when_splitting(tmp_path: Path) -> None:
    out = tmp_path / "glare"
    judge = tmp_path / "glare-judge" / "ok_front"
    judge.mkdir(parents=True)
    (judge / "cast_ok_0_1.png").write_bytes(b"x")
    assert not_empty(out, splits=True) == tmp_path / "glare-judge"
    assert not_empty(out, splits=False) is None


def test_every_setup_says_where_its_part_is_and_repeats_for_a_seed() -> None:
    """Each simulated line's truth puts its part's centre where the station's own search finds the part, within a
    tenth of its radius (tools.locate_check's "right"), and the same draw gives the same photo."""
    spec = taught_spec(admit(SHIPPED))  # the search of a taught model: ellipses made round
    read = cv2.imread(str(sorted(SAMPLE.iterdir())[0]), cv2.IMREAD_GRAYSCALE)
    assert read is not None
    photo = u8(read)
    for name, shoot in SETUPS.items():
        shot, (cx, cy, r) = shoot(photo, np.random.default_rng([5, 0]))
        again, _ = shoot(photo, np.random.default_rng([5, 0]))
        assert np.array_equal(shot, again), name
        circle = preprocess(shot, spec).circle
        assert circle is not None, name
        assert math.hypot(circle.cx - cx, circle.cy - cy) <= 0.1 * r, (name, circle, (cx, cy, r))
