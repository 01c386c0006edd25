"""tools/where_check.py: where a verdict points, against pits painted at known places, and a photo it cannot read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tools import where_check

from .conftest import ROOT, SAMPLE


def _validation_folder(tmp_path: Path, n: int) -> Path:
    """The first ``n`` good validation names, each holding a bundled good photo (the training photos stay in ../shared)."""
    names = [f for f in json.loads((ROOT / "models" / "validation_split.json").read_text())["files"] if f.startswith("ok_front/")]
    (tmp_path / "ok_front").mkdir()
    for name, photo in zip(names[:n], sorted((SAMPLE / "ok_front").glob("*.jp*g")), strict=False):
        shutil.copy(photo, tmp_path / name)
    return tmp_path


def test_each_painted_pit_is_rejected_and_pointed_at_within_a_quarter_of_the_radius(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _validation_folder(tmp_path, 4)
    assert where_check.main(["--data", str(data), "--limit", "4"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["painted"] == 4 and found["rejected_with_where"] == 4
    assert found["within_r_4"] == 1.0 and found["p90_r"] < 0.25


def test_a_validation_photo_it_cannot_read_stops_it_with_the_photos_name(tmp_path: Path) -> None:
    data = _validation_folder(tmp_path, 2)
    with pytest.raises(SystemExit) as stop:
        where_check.main(["--data", str(data), "--limit", "3"])  # the third is not there
    assert str(stop.value).startswith(f"error: {data}/ok_front/") and "No such file" in str(stop.value)
