"""Shared fixtures. Every wait in these tests is bounded (pytest-timeout backs them all up)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "station" / "sample" / "casting"
MODEL = ROOT / "models" / "defect.onnx"
SHARED_TRAIN = ROOT.parent / "shared" / "data" / "casting" / "train"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    """A free metrics port and a free ZeroMQ port on loopback."""
    yield free_port(), free_port()


@pytest.fixture
def station_cmd() -> list[str]:
    return [sys.executable, "-m", "station.cli"]


def overrides(metrics_port: int, zmq_port: int) -> list[str]:
    return ["--set", f"metrics.port={metrics_port}", "--set", f"publisher.endpoint=tcp://127.0.0.1:{zmq_port}"]


needs_shared = pytest.mark.skipif(not SHARED_TRAIN.is_dir(), reason=f"needs the training data at {SHARED_TRAIN} (../shared)")
