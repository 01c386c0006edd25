"""The resend socket under attack, on a running station: what a client does there never touches verdicts or heartbeats."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import threading
import time
from pathlib import Path

import zmq

from ..conftest import SAMPLE, wait_for
from ..proc import Station, rss_mb, sets


def _parts(tmp_path: Path, rounds: int) -> Path:
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(rounds):
        for p in sorted((SAMPLE / "ok_front").iterdir()):
            shutil.copy(p, folder / f"{i:02d}-{p.name}")
    return folder


def _dealer(endpoint: str) -> zmq.Socket[bytes]:
    s: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDHWM, 2)  # the attacker's own memory stays bounded too
    s.connect(endpoint)
    return s


def _ask(endpoint: str, body: bytes, wait_ms: int = 3000) -> list[bytes] | None:
    s = _dealer(endpoint)
    try:
        s.send_multipart([b"resend", body])
        return s.recv_multipart() if s.poll(wait_ms) else None
    finally:
        s.close(0)


def _max_gap(st: Station, since: float) -> float:
    times = [at for _, at in st.beats() if at >= since]
    return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))


def test_a_deeply_nested_request_gets_an_error_and_resend_lives_on(tmp_path: Path) -> None:
    st = Station("replay", str(_parts(tmp_path, 2)), "--realtime", "--no-progress", extra=tuple(sets("camera.fps=6")))
    endpoint = f"tcp://127.0.0.1:{st.rport}"
    try:
        assert st.up() and wait_for(lambda: len(st.verdicts()) >= 2, 30)
        reply = _ask(endpoint, b"[" * 4000)
        assert reply is not None and "error" in json.loads(reply[1])
        seq = int(str(st.verdicts()[0]["seq"]))
        reply = _ask(endpoint, json.dumps({"from": seq, "to": seq}).encode())
        assert reply is not None and json.loads(reply[1])["count"] == 1, "the thread still serves"
        assert st.http("/healthz")[0] == 200
        assert st.wait(60) == 0
    finally:
        st.close()


def test_a_large_frame_flood_bounds_memory_and_never_delays_heartbeats_or_verdicts(tmp_path: Path) -> None:
    st = Station("replay", str(_parts(tmp_path, 4)), "--realtime", "--no-progress", extra=tuple(sets("camera.fps=8")), heartbeat_ms=100)
    endpoint = f"tcp://127.0.0.1:{st.rport}"
    stop = threading.Event()
    big = b"x" * (32 * 1024 * 1024)
    peak = [0.0]

    def flood() -> None:
        socks = [_dealer(endpoint) for _ in range(4)]
        try:
            while not stop.is_set():
                for s in socks:
                    with contextlib.suppress(zmq.Again):  # its queue is full: the next round tries again
                        s.send_multipart([b"resend", big], zmq.NOBLOCK)
                time.sleep(0.01)
        finally:
            for s in socks:
                s.close(0)

    try:
        assert st.up() and wait_for(lambda: len(st.verdicts()) >= 2, 30)
        t0 = time.monotonic()
        attackers = [threading.Thread(target=flood, daemon=True) for _ in range(2)]
        for a in attackers:
            a.start()
        end = t0 + 6.0
        while time.monotonic() < end:
            peak[0] = max(peak[0], rss_mb(st.proc.pid))
            time.sleep(0.1)
        stop.set()
        for a in attackers:
            a.join(5)
        assert _max_gap(st, t0) < 0.75, "heartbeats kept coming (gateways go unhealthy after 0.75 s)"
        assert st.wait(60) == 0
    finally:
        stop.set()
        st.close()
    assert peak[0] < 700, f"resident memory reached {peak[0]:.0f} MB"
    verdicts = st.verdicts()
    assert verdicts and not [v for v in verdicts if v["reason"] == "late"]


def test_a_flood_of_ordinary_requests_is_summarised_in_the_log(tmp_path: Path) -> None:
    st = Station("replay", str(_parts(tmp_path, 2)), "--realtime", "--no-progress", extra=tuple(sets("camera.fps=6")))
    endpoint = f"tcp://127.0.0.1:{st.rport}"
    try:
        assert st.up() and wait_for(lambda: len(st.verdicts()) >= 1, 30)
        s = _dealer(endpoint)
        s.setsockopt(zmq.SNDHWM, 1000)
        replies = 0
        try:  # batches of 50 read back before the next: a peer that does not read loses replies past the socket's queues
            for _ in range(40):
                for _ in range(50):
                    s.send_multipart([b"resend", b'{"from": 1, "to": 3}'])
                for _ in range(50):
                    if not s.poll(3000):
                        break
                    s.recv_multipart()
                    replies += 1
        finally:
            s.close(0)
        assert replies == 2000
        assert st.wait(60) == 0
    finally:
        st.close()
    assert len(st.logged("resend_served")) <= 3, "one summary line per 10 s, not one per request"
