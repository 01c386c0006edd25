"""The tools' worker pool: forked processes that give what one process gives, OpenCV and all."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tools.robustness import pool

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
