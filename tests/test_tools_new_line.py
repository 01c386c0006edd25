"""tools/new_line.py: a run never mixes its photos with an earlier run's."""

from __future__ import annotations

from pathlib import Path

from tools.new_line import not_empty


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
