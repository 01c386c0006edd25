"""tools/stress.py: re-shoots past the training envelope, judged as the station judges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from station.locate import Circle
from station.model import Model
from tools import augment, stress

from .conftest import MODEL, ROOT, SAMPLE


def test_a_part_that_cannot_be_inspected_is_rejected_never_passed() -> None:
    model = Model(MODEL)
    crop = np.zeros((model.info.spec.size,) * 2, dtype=np.float32)  # a blank crop scores low: it would pass
    shot = stress.Shot([crop, None, None], ["ok", "overexposed", "no_part"], np.array([0, 1, 0]), ["a.jpg", "b.jpg", "c.jpg"])
    m = stress.judge(model, shot)
    assert (m["escapes"], m["false_rejects"], m["unreadable"]) == (0, 1, 2)
    assert m["unreadable_why"] == {"no_part": 1, "overexposed": 1} and m["escaped"] == []
    passed = stress.judge(model, stress.Shot([crop], ["ok"], np.array([1]), ["d.jpg"]))  # a defective part scored low
    assert passed["escapes"] == 1 and passed["escaped"] == ["d.jpg"]


def test_a_score_that_is_no_number_is_a_reject_as_the_station_decides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Model(MODEL)
    crop = np.zeros((model.info.spec.size,) * 2, dtype=np.float32)
    monkeypatch.setattr(model, "score", lambda crops: np.full(len(crops), np.nan, np.float32))
    m = stress.judge(model, stress.Shot([crop, crop], ["ok", "ok"], np.array([1, 0]), ["a.jpg", "b.jpg"]))
    assert (m["escapes"], m["false_rejects"], m["escaped"]) == (0, 1, [])  # the defect is rejected, the good part too


@pytest.mark.integration
def test_every_view_is_reported_on_the_bundled_sample(tmp_path: Path) -> None:
    out = tmp_path / "stress.json"
    cmd = [sys.executable, "-m", "tools.stress", "--data", str(SAMPLE), "--split", "", "--draws", "1", "--workers", "1", "--json", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    n = len(list(SAMPLE.glob("*/*.jp*g")))
    assert report["photos"] == n and list(report["views"]) == list(stress.views(1))
    assert list(stress.views(1)) == [*stress.STRESS_VIEWS, "inside the envelope (random_view), draw 1"]
    for name, m in report["views"].items():
        assert m["parts"] == n and m["unreadable"] == sum(m["unreadable_why"].values()), name
        assert m["escapes"] + m["false_rejects"] <= n and 0.0 <= m["accuracy"] <= 1.0, name
        assert len(m["escaped"]) == m["escapes"] and 0 <= m["inspected_cut"] <= n, name
        assert name in run.stdout


@pytest.mark.integration
def test_a_missing_data_folder_is_one_clear_line(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "tools.stress", "--data", str(tmp_path / "nope")]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "nope: no such folder" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.integration
def test_a_bad_split_file_is_one_clear_line(tmp_path: Path) -> None:
    split = tmp_path / "split.json"
    split.write_text('{"files": ["elsewhere/x.jpeg"]}')
    cmd = [sys.executable, "-m", "tools.stress", "--data", str(SAMPLE), "--split", str(split)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and f"{split}: not a split file" in run.stderr and "Traceback" not in run.stderr


def test_a_crop_cuts_the_part_when_the_part_reaches_a_quarter_of_its_radius_past_the_circle() -> None:
    part = Circle(100.0, 100.0, 50.0)
    assert not stress.cuts_part(Circle(101.0, 99.0, 47.0), part)  # the locator's usual error
    assert not stress.cuts_part(Circle(102.0, 100.0, 44.0), part)  # the rim inside a photo's shadow ring taken as truth
    assert not stress.cuts_part(Circle(101.0, 100.0, 59.0), part)  # larger than the part: all of it is in the crop
    assert stress.cuts_part(Circle(100.0, 100.0, 31.0), part)  # an inner ring at 0.62 r
    assert stress.cuts_part(Circle(114.0, 104.0, 50.0), part)  # the right size in the wrong place


def test_the_ranges_in_the_view_labels_are_training_s_own() -> None:
    """Each label quotes random_view's range in brackets; drawing random_view shows whether it still holds."""
    rng = np.random.default_rng(0)
    drawn = [augment.random_view(rng) for _ in range(4000)]  # the function stress.py imports from augment

    def span(values: list[float]) -> tuple[float, float]:
        return min(values), max(values)

    quoted = {
        "(58-100 %)": span([v.fill for v in drawn]),
        "(0.45-1.1)": span([v.contrast for v in drawn]),
        "(up to 1.45, +35)": (max(v.gain for v in drawn), max(v.offset for v in drawn)),
        "(down to 0.7, -25)": (min(v.gain for v in drawn), min(v.offset for v in drawn)),
        "(up to 1.3)": (0.0, max(v.blur for v in drawn)),
        "(up to 4)": (0.0, max(v.noise for v in drawn)),
        "(25-90)": span([float(v.jpeg) for v in drawn if v.jpeg]),
    }
    expected = {
        "(58-100 %)": (0.58, 1.0),
        "(0.45-1.1)": (0.45, 1.1),
        "(up to 1.45, +35)": (1.45, 35.0),
        "(down to 0.7, -25)": (0.7, -25.0),
        "(up to 1.3)": (0.0, 1.3),
        "(up to 4)": (0.0, 4.0),
        "(25-90)": (25.0, 89.0),  # integers drawn below 90
    }
    for bracket, (lo, hi) in quoted.items():
        assert any(bracket in name for name in stress.STRESS_VIEWS), bracket
        assert lo == pytest.approx(expected[bracket][0], abs=0.02 * abs(expected[bracket][0]) + 0.5e-2), bracket
        assert hi == pytest.approx(expected[bracket][1], abs=0.02 * abs(expected[bracket][1]) + 0.5e-2), bracket
