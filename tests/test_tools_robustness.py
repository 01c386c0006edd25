"""The tools' worker pool: forked processes that give what one process gives, OpenCV and all."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import cv2
import numpy as np
import pytest

from tools.augment import ROBUSTNESS_VIEWS
from tools.robustness import ViewCrops, pool, summarise

from .conftest import ROOT


def _where(_: int) -> tuple[int, int]:
    return os.getpid(), cv2.getNumThreads()


def _blurred_mean(k: int) -> float:
    image = np.random.default_rng(k).integers(0, 255, (256, 256), dtype=np.uint8)
    return float(cv2.GaussianBlur(image, (0, 0), 2.0).mean())  # a parallel OpenCV call, in the worker


def forked_workers_check() -> None:
    """What the test checks, in a process of its own (run as ``python -c``)."""
    cv2.GaussianBlur(np.zeros((1024, 1024), np.uint8), (0, 0), 3.0)  # OpenCV's thread pool is running before the fork
    threads = cv2.getNumThreads()
    with pool(1) as here:
        alone = list(here.imap(_blurred_mean, range(8)))
    with pool(2) as workers:
        forked = list(workers.imap(_blurred_mean, range(8)))
        inside = list(workers.imap(_where, range(4)))
    assert forked == alone and len(set(alone)) == 8
    assert all(pid != os.getpid() and n == 1 for pid, n in inside)  # forked, and OpenCV single-threaded in each worker
    with pool(1) as here:
        assert list(here.imap(_where, range(2))) == [(os.getpid(), threads)] * 2  # one worker: this process, as it was
    assert cv2.getNumThreads() == threads


@pytest.mark.integration
def test_forked_workers_give_what_this_process_gives_and_opencv_gets_its_threads_back() -> None:
    """In a fresh process, as the tools run: forked from the test process, whose earlier tests leave threads behind (ZeroMQ's,
    ONNX Runtime's), a worker could start holding a lock one of them held, and wait for ever (a CI run hung 300 s so)."""
    code = "from tests.test_tools_robustness import forked_workers_check; forked_workers_check()"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_shipped_operating_point_passes_no_clean_validation_defect_and_each_view_is_judged_at_it() -> None:
    """summarise sets the threshold and band the shipped model carries, from the clean view alone."""
    labels = np.array([0] * 6 + [1] * 4)
    clean = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.35, 0.6, 0.9, 0.99], np.float32)  # the lowest defect at 0.35
    crops = [np.zeros((2, 2), np.float32)] * 10
    blurred = np.where(labels == 1, 0.2, 0.01).astype(np.float32)  # a view where every defect scores under the threshold
    view = next(v for v in ROBUSTNESS_VIEWS if v != "as_photographed")
    views = {"as_photographed": (clean, ViewCrops(crops, labels, 1.0)), view: (blurred, ViewCrops(crops, labels, 0.9))}
    figures: dict[str, Any] = summarise(views)
    lo, hi = figures["uncertain_band"]
    assert figures["threshold"] == 0.3499 and lo < figures["threshold"] < hi, "just under the lowest clean defect"
    assert lo == round(0.9 * 0.3499, 4) and not np.any(clean[labels == 1] < lo), "no clean validation defect passes the band's lower edge"
    judged = figures["robustness"][view]
    assert judged["escapes"] == 4 and judged["part_located"] == 0.9, "the other views at the same threshold"
