"""tools/validation_split.py: the validation split keeps near-duplicates together, and a frozen split is taken exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tools.validation_split import frozen_split, group_near_duplicates, grouped_split, whiten


def _paths(root: Path) -> list[Path]:
    return [root / "def_front" / f"d{i}.jpeg" for i in range(3)] + [root / "ok_front" / f"o{i}.jpeg" for i in range(3)]


def test_frozen_split_marks_exactly_the_listed_photos(tmp_path: Path) -> None:
    listed = tmp_path / "split.json"
    listed.write_text(json.dumps({"files": ["def_front/d1.jpeg", "ok_front/o2.jpeg"]}))
    is_val = frozen_split(listed, tmp_path, _paths(tmp_path))
    assert is_val.tolist() == [False, True, False, False, False, True]


def test_frozen_split_refuses_a_photo_that_is_not_there(tmp_path: Path) -> None:
    listed = tmp_path / "split.json"
    listed.write_text(json.dumps({"files": ["def_front/d1.jpeg", "ok_front/gone.jpeg"]}))
    with pytest.raises(SystemExit, match="1 of its validation photos are not in"):
        frozen_split(listed, tmp_path, _paths(tmp_path))


def test_near_duplicates_of_one_class_share_a_group_and_the_split_never_divides_a_group() -> None:
    rng = np.random.default_rng(0)
    parts = rng.normal(size=(40, 16)).astype(np.float32)
    desc = whiten(np.concatenate([parts, parts[:10] + 1e-4]))  # photos 40-49 are photos 0-9 again
    labels = np.array([i % 2 for i in range(40)] + [i % 2 for i in range(10)], np.int64)
    groups = group_near_duplicates(desc, labels, 0.0012)
    assert all(groups[i] == groups[40 + i] for i in range(10)) and len(np.unique(groups)) == 40
    is_val = grouped_split(groups, labels, 0.25, seed=3)
    assert all(is_val[i] == is_val[40 + i] for i in range(10))
    for cls in (0, 1):  # a quarter of each class's 25 photos, overshot by less than one group (of at most 2)
        assert 0.25 * 25 <= int(is_val[labels == cls].sum()) < 0.25 * 25 + 2


def test_photos_of_different_classes_are_never_grouped_however_alike() -> None:
    desc = whiten(np.array([[1.0, 0.0, 2.0], [1.0, 0.0, 2.0], [0.0, 3.0, 1.0]], np.float32))
    assert len(set(group_near_duplicates(desc, np.array([0, 1, 0], np.int64), 0.0012).tolist())) == 3
