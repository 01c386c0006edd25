"""tools/soak.py: a station replaying footage round and round is sampled from /proc, then stopped with SIGTERM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import soak

pytestmark = pytest.mark.integration  # starts a station process


def test_a_short_soak_samples_the_running_station_and_it_exits_0_on_sigterm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "soak.csv"
    assert soak.main(["--minutes", "0.15", "--every", "2", "--warmup", "0", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["exit_code"] == 0  # SIGTERM drained it
    rows = out.read_text().splitlines()
    assert rows[0] == "seconds,rss_mb,fds,threads" and len(rows) - 1 >= 3
    assert summary["rss_mb_end"] > 20 and summary["fds"][0] > 2 and summary["threads"][0] >= 2  # a live process's own figures
