"""A real ``station`` process for end-to-end tests: its ports, its heartbeats and verdicts, its metrics.

Every wait is bounded. ``python -m station`` is the same entry as the installed ``station``
command (signal handlers first), so early-signal tests see what systemd would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import zmq

from station.wire import decode

from .conftest import ROOT, free_port, wait_for

STATION = [sys.executable, "-m", "station"]


def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """One command to its end: exit code, stdout and stderr."""
    return subprocess.run([*STATION, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def sets(*assignments: str) -> list[str]:
    return [a for s in assignments for a in ("--set", s)]


def one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, no traceback, one line on stderr that contains every needle; that line."""
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def strict_json(body: bytes | str) -> dict[str, object]:
    """JSON as a strict subscriber reads it: NaN and Infinity are errors, not numbers."""
    return decode(body)


class Station:
    """``station CMD ...`` with its own free ports, followed on its PUB socket (every message) and HTTP port."""

    def __init__(self, cmd: str, *args: str, extra: tuple[str, ...] = (), heartbeat_ms: int = 100) -> None:
        self.port, self.zport, self.rport = free_port(), free_port(), free_port()
        base = [
            f"metrics.port={self.port}",
            f"publisher.endpoint=tcp://127.0.0.1:{self.zport}",
            f"publisher.resend_endpoint=tcp://127.0.0.1:{self.rport}",
            f"publisher.heartbeat_ms={heartbeat_ms}",
            "logging.format=json",
        ]
        self.messages: list[tuple[str, dict[str, object], float]] = []  # topic, body, arrival (monotonic)
        self.invalid: list[bytes] = []
        self._stop = threading.Event()
        self.sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(f"tcp://127.0.0.1:{self.zport}")
        self._reader = threading.Thread(target=self._read, name="test-sub", daemon=True)
        self._reader.start()
        self.err: list[str] = []
        cmd_line = [*STATION, cmd, *args, *sets(*base), *extra]
        self.proc = subprocess.Popen(cmd_line, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._err_reader = threading.Thread(target=self._read_stderr, name="test-stderr", daemon=True)
        self._err_reader.start()

    def _read_stderr(self) -> None:
        if self.proc.stderr is not None:
            self.err.extend(iter(self.proc.stderr.readline, ""))

    def _read(self) -> None:
        while not self._stop.is_set():
            if not self.sub.poll(50):
                continue
            topic, body = self.sub.recv_multipart()
            try:
                self.messages.append((topic.decode(), strict_json(body), time.monotonic()))
            except ValueError:
                self.invalid.append(body)

    def verdicts(self) -> list[dict[str, object]]:
        return [b for t, b, _ in list(self.messages) if t == "verdict"]

    def beats(self) -> list[tuple[dict[str, object], float]]:
        return [(b, at) for t, b, at in list(self.messages) if t == "heartbeat"]

    def http(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()
        except OSError:
            return -1, b""

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples (those with ``labels``); -1 when the page cannot be read."""
        code, body = self.http("/metrics")
        if code != 200:
            return -1.0
        total = 0.0
        for line in body.decode().splitlines():
            if not (line.startswith(name + " ") or line.startswith(name + "{")):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def up(self, timeout: float = 60) -> bool:
        """The HTTP port answers (the pipeline runs)."""
        return wait_for(lambda: self.http("/healthz")[0] in (200, 503), timeout, poll=0.1)

    def logged(self, event: str) -> list[dict[str, object]]:
        out = []
        for line in list(self.err):
            if line.startswith("{"):
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("event") == event:
                    out.append(rec)
        return out

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the process to end by itself; its exit code."""
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait (bounded); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._err_reader.join(5)
        self._stop.set()
        self._reader.join(2)
        self.sub.close(0)

    def stderr(self) -> str:
        return "".join(self.err)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
