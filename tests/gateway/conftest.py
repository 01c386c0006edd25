"""What the gateway's tests share: an Output that records, one station's endpoints, and gateways stopped after each test."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zmq

from station.config import Config, load_config
from station.endpoints import is_ipv6
from station.gateway.reasons import PartDecision
from station.gateway.service import Gateway
from station.wire import CameraState, Disposition, Heartbeat, Message, Reason, StationState, VerdictMessage, frames

from ..conftest import ROOT, SAMPLE, free_port
from .plc import Plc

STATION = [sys.executable, "-m", "station.cli"]
FOLDER = SAMPLE / "ok_front"  # 18 photos: one part each, in frame mode


@dataclass
class Recorder:
    """An Output (station.gateway.outputs.Output) that keeps what it was told, with the time."""

    parts: list[PartDecision] = field(default_factory=list)
    health: list[tuple[float, bool, str]] = field(default_factory=list)
    closed: bool = False

    def part(self, d: PartDecision) -> bool:
        self.parts.append(d)
        return True

    def healthy(self, ok: bool, reason: str) -> None:
        self.health.append((time.time(), ok, reason))

    def tick(self, now: float) -> None:
        pass

    def stopping(self, at: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def healthy_at(self, t: float) -> bool:
        state = False
        for at, ok, _ in self.health:
            if at > t:
                break
            state = ok
        return state


@dataclass
class Line:
    """Endpoints and config shared by one station process and its gateway."""

    overrides: list[str]
    out: Path

    def config(self, *extra: str) -> Config:
        return load_config(None, [*self.overrides, *extra])

    def station(self, *extra: str, fps: float = 8.0) -> subprocess.Popen[str]:
        sets = [a for o in [*self.overrides, f"camera.fps={fps}", *extra] for a in ("--set", o)]
        cmd = [*STATION, "replay", str(FOLDER), "--realtime", "--no-progress", "--out", str(self.out), *sets]
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def verdicts(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()] if self.out.exists() else []


class StationPub:
    """A station's PUB socket as the gateway's tests play one: heartbeats and verdicts of one run, one seq over all, each
    followed by ``pause`` (so that a test polling the gateway does not flood it)."""

    def __init__(self, endpoint: str, run: str, pause: float = 0.05, clock: Callable[[], float] = time.time) -> None:
        self.sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IPV6, int(is_ipv6(endpoint)))
        self.sock.bind(endpoint)
        self.endpoint: str = str(self.sock.getsockopt_string(zmq.LAST_ENDPOINT))  # the port a tcp://HOST:* bind took
        self.run, self.pause, self.clock = run, pause, clock
        self.seq = itertools.count(1)

    def _envelope(self) -> dict[str, Any]:
        return {"station": "station-1", "run_id": self.run, "seq": next(self.seq), "sent_at": self.clock()}

    def _send(self, msg: Message) -> None:
        self.sock.send_multipart(frames(msg))
        time.sleep(self.pause)

    def beat(self) -> bool:
        """One heartbeat (True: for ``wait_for(lambda: pub.beat() and ...)``)."""
        env = self._envelope()
        self._send(Heartbeat(**env, state=StationState.RUNNING, last_seq=env["seq"] - 1, verdicts=0, camera=CameraState.CONNECTED))
        return True

    def verdict(self, part: int, deadline_s: float = 0.5) -> None:
        """A pass for ``part``, captured now."""
        now = self.clock()
        self._send(VerdictMessage(
            **self._envelope(), part_id=part, frame=part, verdict=Disposition.PASS, reason=Reason.OK, score=0.01, captured_at=now,
            published_at=now, deadline_at=now + deadline_s, model="m", config="c", detail="d"))  # fmt: skip

    def close(self) -> None:
        self.sock.close(0)


@pytest.fixture
def line(tmp_path: Path) -> Line:
    return Line(
        [
            f"publisher.endpoint=tcp://127.0.0.1:{free_port()}",
            f"publisher.resend_endpoint=tcp://127.0.0.1:{free_port()}",
            "metrics.enabled=false",
            "gateway.actuator_delay_ms=300",
            "logging.format=json",
        ],
        tmp_path / "verdicts.jsonl",
    )


@pytest.fixture
def gateways() -> Iterator[Callable[..., tuple[Gateway, Recorder]]]:
    made: list[Gateway] = []

    def make(cfg: Config, rec: Recorder | None = None, **kw: Any) -> tuple[Gateway, Recorder]:
        rec = rec or Recorder()
        gw = Gateway(cfg, [rec], **kw)
        gw.start()
        made.append(gw)
        return gw, rec

    yield make
    for gw in made:
        gw.stop()
        gw.join(5)


@pytest.fixture
def plc() -> Iterator[Plc]:
    """A real Modbus TCP server standing in for the PLC (needs pymodbus: the tests that take it skip without)."""
    p = Plc()
    yield p
    p.close()


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait for a station or gateway process to end by itself, and check that it exited 0."""
    _out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
