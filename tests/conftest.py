"""Shared fixtures. Every wait in these tests is bounded (pytest-timeout backs them all up)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "station" / "sample" / "casting"
MODEL = ROOT / "models" / "defect.onnx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float, poll: float = 0.02) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` seconds pass; the last answer decides."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(poll)
    return cond()
