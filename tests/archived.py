"""Archived parts made by hand for the archive, review and export tests."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from station.locate import Circle
from station.messages import Reason, Verdict
from station.stages.publish import Identity, to_message
from station.wire import VerdictMessage


def archived_verdict(pid: int, verdict: str, seed: int = 0) -> tuple[Verdict, VerdictMessage]:
    """Part ``pid``'s verdict (``pass`` or a defect) with a crop of noise, and its message as the station publishes it."""
    img = np.random.default_rng(seed + pid).integers(0, 255, (400, 400), dtype=np.uint8)  # noise: PNGs of ~100 kB
    reason = Reason.OK if verdict == "pass" else Reason.DEFECT
    v = Verdict(pid, pid, reason, 0.5, "d", time.time(), time.monotonic(), Circle(200, 200, 150), image=img)
    return v, to_message(v, Identity("s", "c", "m"), {"station": "s", "run_id": "r", "seq": pid, "sent_at": 0.0}, 0.5, 0.0)


def archived_files(day: Path, stem: str, sidecar: str | bytes, crop: bool = True) -> None:
    """A part's files in an archive's ``day`` folder, as a test writes them: its sidecar and (``crop``) a stand-in crop."""
    day.mkdir(parents=True, exist_ok=True)
    (day / f"{stem}.json").write_bytes(sidecar if isinstance(sidecar, bytes) else sidecar.encode())
    if crop:
        (day / f"{stem}.png").write_bytes(b"\x89PNG\r\n\x1a\n and the rest")
