"""The operator's live page rendered by a real headless Chromium (Debian's `chromium` package)."""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from station.config import load_config
from station.metrics import Metrics
from station.model import Model
from station.pipeline import Pipeline, RunOptions
from station.sources import source_for

from .browser import CHROMIUM, remove_tmp, short_tmp
from .conftest import MODEL, SAMPLE, free_port

pytestmark = [
    pytest.mark.integration,  # headless Chromium against a running station
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed (.ci/run installs it)"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=6000",
]


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *extra, url]
    tmp = short_tmp()
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp)})
    finally:
        remove_tmp(tmp)


def test_live_page_renders_the_frame_and_the_verdicts(tmp_path: Path) -> None:
    port = free_port()
    cfg = load_config(
        None, [f"metrics.port={port}", "camera.fps=4", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]
    )
    pipe = Pipeline(cfg, source_for(str(SAMPLE / "def_front"), 4.0), Model(MODEL), Metrics(), RunOptions(realtime=True))
    pipe.start()
    try:
        end = time.monotonic() + 20
        while pipe.verdicts < 4 and time.monotonic() < end:
            time.sleep(0.1)
        assert pipe.verdicts >= 4
        url = f"http://127.0.0.1:{port}/"
        dom = chromium(url, tmp_path / "profile", "--dump-dom").stdout
        shot = tmp_path / "live.png"
        chromium(url, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1280,720", "--hide-scrollbars")
        with urllib.request.urlopen(url + "frame.jpg", timeout=5) as r:
            assert r.status == 200
    finally:
        pipe.drain(10)
        pipe.close()
    rows = re.findall(r"<tr><td>(\d+)</td><td class=\"(pass|reject|uncertain)\">(pass|reject)</td>", dom)
    assert len(rows) >= 4, dom[-3000:]
    img = re.search(r'<img id="frame"[^>]*>', dom)
    assert img is not None
    part = re.search(r'data-part="(\d+)"', img.group(0))
    loaded = re.search(r'data-loaded="(\d+)"', img.group(0))
    assert part and loaded, f"the frame never loaded: {img.group(0)}"
    assert "parts: " in dom
    assert shot.exists() and shot.stat().st_size > 10_000
