"""systemd notify and watchdog against a fake NOTIFY_SOCKET (a real AF_UNIX datagram socket)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.config import load_config
from station.metrics import Metrics
from station.model import Model
from station.notify import Notifier, Watchdog
from station.pipeline import Pipeline, RunOptions
from station.sources import source_for
from station.wire import StationState

from .conftest import MODEL, ROOT, SAMPLE, free_port, wait_for


class FakeSystemd:
    """Binds the notify socket and records every datagram with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.got: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            for line in data.decode().split("\n"):
                self.got.append((time.monotonic(), line))

    def lines(self) -> list[str]:
        return [line for _, line in self.got]

    def times(self, line: str) -> list[float]:
        return [t for t, x in self.got if x == line]

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(tmp_path / "notify.sock")
    yield fake
    fake.close()


def test_notifier_reads_the_environment(tmp_path: Path) -> None:
    n = Notifier({"NOTIFY_SOCKET": "@abstract/name", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.address == "\0abstract/name" and n.watchdog_s == 2.0
    n.close()
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}).watchdog_s is None  # not us
    off = Notifier({})
    assert not off.enabled and off.send("READY=1") is False


@pytest.mark.integration
def test_watchdog_pings_while_healthy_and_stops_when_stuck(systemd: FakeSystemd) -> None:
    stuck: list[str | None] = [None]
    n = Notifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "200000"})
    w = Watchdog(n, lambda: stuck[0], lambda: ("running", 3))
    w.start()
    try:
        time.sleep(0.6)
        pings = len(systemd.times("WATCHDOG=1"))
        assert pings >= 4
        stuck[0] = "inference stuck for 20 s"
        time.sleep(0.25)
        frozen = len(systemd.times("WATCHDOG=1"))
        time.sleep(0.5)
        assert len(systemd.times("WATCHDOG=1")) == frozen
        assert w.withheld == "inference stuck for 20 s"
    finally:
        w.stop()
        w.join(2)
        n.close()
    assert any(line.startswith("STATUS=running") for line in systemd.lines())


@pytest.mark.integration
def test_realtime_replay_says_ready_pings_and_says_stopping(systemd: FakeSystemd) -> None:
    usec = 1_000_000
    env = {**os.environ, "NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": str(usec)}
    sets = ["camera.fps=6", f"metrics.port={free_port()}", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]
    cmd = [sys.executable, "-m", "station.cli", "replay", str(SAMPLE / "ok_front"), "--realtime", "--no-progress"]
    p = subprocess.run([*cmd, *[a for s in sets for a in ("--set", s)]], env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stderr[-2000:]
    time.sleep(0.2)
    lines = systemd.lines()
    assert lines.index("READY=1") < lines.index("STOPPING=1")
    assert lines.count("READY=1") == 1
    pings = [t for t in systemd.times("WATCHDOG=1") if t <= systemd.times("STOPPING=1")[0]]
    assert len(pings) >= 5
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) < usec / 1e6, f"longest gap between pings {max(gaps):.3f} s"  # systemd's limit (they come every 0.45 of it)
    assert any("parts/min" in line for line in lines if line.startswith("STATUS="))


@pytest.mark.integration
def test_a_stuck_stage_withholds_the_watchdog(systemd: FakeSystemd, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test hook: the inference handler blocks (as a hung driver call would) until released."""
    import station.stages.inference as pl

    release = threading.Event()
    real = pl.InferenceStage.__call__

    def hang(self: object, crop: object) -> object:
        release.wait(30)
        return real(self, crop)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.InferenceStage, "__call__", hang)
    cfg = load_config(
        None,
        ["pipeline.stall_after_s=3", "metrics.enabled=false", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"],
    )
    pipe = Pipeline(cfg, source_for(str(SAMPLE / "ok_front")), Model(MODEL), Metrics(), RunOptions(metrics_server=False))
    n = Notifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "200000"})
    w = Watchdog(n, pipe.hung, lambda: (pipe.state.value, pipe.verdicts))
    pipe.start()
    w.start()
    try:
        deadline = time.monotonic() + 10
        while w.withheld is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.withheld is not None and w.withheld.startswith("inference stuck")
        deadline = time.monotonic() + 10
        while pipe.state is not StationState.DEGRADED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipe.state is StationState.DEGRADED, "the heartbeats say degraded: parts get no verdict meanwhile"
        frozen = len(systemd.times("WATCHDOG=1"))
        time.sleep(0.4)
        assert len(systemd.times("WATCHDOG=1")) == frozen
        release.set()
        deadline = time.monotonic() + 10
        while w.withheld is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.withheld is None, "pings resume once the stage moves again"
        while pipe.state is StationState.DEGRADED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipe.state in (StationState.RUNNING, StationState.STOPPING), "running again (stopping once the folder ends)"
    finally:
        release.set()
        w.stop()
        w.join(2)
        pipe.drain(10)
        pipe.close()
        n.close()


@pytest.mark.integration
def test_station_gateway_says_ready_pings_while_its_loop_turns_and_says_stopping(systemd: FakeSystemd, tmp_path: Path) -> None:
    usec = 1_000_000
    env = {**os.environ, "NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": str(usec)}
    sets = [f"publisher.endpoint=tcp://127.0.0.1:{free_port()}", "publisher.resend_endpoint=null"]  # no station there
    cmd = [sys.executable, "-m", "station", "gateway", "--out", str(tmp_path / "decisions.jsonl")]
    p = subprocess.Popen([*cmd, *[a for s in sets for a in ("--set", s)]], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: systemd.lines().count("WATCHDOG=1") >= 4, 30), systemd.lines()
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
    assert p.returncode == 0, err[-2000:]
    time.sleep(0.2)
    lines = systemd.lines()
    assert lines.count("READY=1") == 1
    assert lines.index("READY=1") < lines.index("WATCHDOG=1") < lines.index("STOPPING=1")
    pings = [t for t in systemd.times("WATCHDOG=1") if t <= systemd.times("STOPPING=1")[0]]
    assert max(b - a for a, b in itertools.pairwise(pings)) < usec / 1e6  # systemd's limit (they come every 0.45 of it)
    assert "STATUS=vision unhealthy (no_station), 0 parts/min, 0 parts" in lines  # no station heard: the PLC rejects all
