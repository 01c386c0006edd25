"""tools/locate_check.py: the asymmetry spread over a labelled folder, and a photo it cannot read."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tools import locate_check

from .conftest import SAMPLE


def _folder(tmp_path: Path) -> Path:
    for photo in sorted((SAMPLE / "ok_front").glob("*.jp*g"))[:3]:
        shutil.copy(photo, tmp_path / photo.name)
    return tmp_path


def test_the_asymmetry_spread_counts_every_photo_of_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["locate_check", str(_folder(tmp_path)), "--asymmetry"])
    locate_check.main()
    assert capsys.readouterr().out.startswith("3 parts located; asymmetry: median ")


def test_a_photo_the_spread_cannot_read_stops_it_with_the_photos_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = _folder(tmp_path) / "broken.png"
    broken.write_bytes(b"\x89PNG not a whole PNG")
    monkeypatch.setattr(sys, "argv", ["locate_check", str(tmp_path), "--asymmetry"])
    with pytest.raises(SystemExit) as stop:
        locate_check.main()
    assert str(stop.value).startswith(f"error: {broken}: ")  # it skipped the photo without a word before
