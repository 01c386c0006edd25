"""tools/bench.py: the figures it derives (speed itself is measured by the tool, never asserted here)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from station.footage import read_truth
from tools.bench import _footage, _stolen, steady

from .conftest import ROOT


def test_stolen_is_the_hosts_share_of_all_cpu_time_between_two_readings() -> None:
    assert _stolen((100, 10_000), (150, 20_000)) == 0.5
    assert _stolen((0, 0), (0, 0)) == 0.0  # no /proc/stat: nothing is claimed


def test_steady_times_each_run_and_gives_opencv_its_threads_back() -> None:
    """A smoke test of the probe's figures (their values are the host's); it runs on one OpenCV thread, then restores them."""
    import cv2

    before = cv2.getNumThreads()
    res = steady(runs=20)
    assert cv2.getNumThreads() == before
    assert res["runs"] == 20
    assert 0 < res["p50_ms"] <= res["p99_ms"] <= res["max_ms"] and math.isfinite(res["max_ms"])
    assert 0 <= res["over_twice_p50_pct"] <= 100 and 0 <= res["stolen_pct"] <= 100


@pytest.mark.integration  # the tool in a process of its own
def test_the_footage_a_run_measures_can_be_written_alone_for_a_child_run(tmp_path: Path) -> None:
    """What the benchmark docs replay with --child: the same footage a run of --parts composes, the bundled photos over and over."""
    video = tmp_path / "bench.mp4"
    p = subprocess.run([sys.executable, "-m", "tools.bench", "--parts", "40", "--write-video", str(video)], cwd=ROOT, timeout=300)
    assert p.returncode == 0 and [r["source"] for r in read_truth(video)] == [ph.path.name for ph in _footage(40)]
    assert len(_footage(40)) == 40 and _footage(40)[36:] == _footage(40)[:4]  # 36 photos, then again from the first
