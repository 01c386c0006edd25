"""Archived parts made by hand for the archive, review and export tests, and the review token they write."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from station.archive import Archive
from station.config import load_config
from station.locate import Circle
from station.messages import Reason, Verdict
from station.metrics import Metrics
from station.stages.publish import Identity, to_message
from station.wire import Disposition, ShadowVerdict, VerdictMessage

REVIEW_TOKEN = "0123456789abcdef-review"


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
        (day / f"{stem}.png").write_bytes(small_png())


def small_png() -> bytes:
    """A whole PNG file of a few grey pixels: an archived crop as export reads it."""
    ok, data = cv2.imencode(".png", np.full((4, 4), 128, np.uint8))
    assert ok
    return bytes(data)


def archive_of_rejects(root: Path, shadow_pass: bool = True) -> list[str]:
    """Three rejects and (optionally) one pass the shadow would reject, written by the real archive; their ids."""
    a = Archive(load_config(None, [f"archive.dir={root}", "archive.pass_sample=0"]).archive, Metrics(), "0a1b", "cfg")
    a.start()
    kinds = ["reject", "reject", "reject", *(["pass"] if shadow_pass else [])]
    for pid, kind in enumerate(kinds, 1):
        v, _ = archived_verdict(pid, kind)
        if kind == "pass":
            v = replace(v, shadow=ShadowVerdict(verdict=Disposition.REJECT, reason=Reason.DEFECT, score=0.8, model="cand"))
        a.submit(v, to_message(v, Identity("s", "c", "m"), {"station": "s", "run_id": "r", "seq": pid, "sent_at": 0.0}, 0.5, 0.0))
        time.sleep(0.02)  # distinct mtimes: the listing is newest first
    a.drain(20)
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.glob("*/*/*.json"))


def archive_of_passes(root: Path, n: int) -> list[str]:
    """``n`` passes, as a trial run with archive.pass_sample 1 archives them; their ids."""
    a = Archive(load_config(None, [f"archive.dir={root}", "archive.pass_sample=1"]).archive, Metrics(), "0c1d", "cfg")
    a.start()
    for pid in range(101, 101 + n):
        v, _ = archived_verdict(pid, "pass")
        a.submit(v, to_message(v, Identity("s", "c", "m"), {"station": "s", "run_id": "r", "seq": pid, "sent_at": 0.0}, 0.5, 0.0))
        time.sleep(0.02)
    a.drain(20)
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.glob("*/pass/0c1d-*.json"))
