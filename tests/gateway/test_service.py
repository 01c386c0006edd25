"""The gateway against a real station process, on real ZeroMQ sockets over loopback."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from station.wire import CameraState, Disposition, Heartbeat, Message, Reason, StationState, VerdictMessage, frames

from ..conftest import free_port, wait_for
from .conftest import STATION, Line, Recorder, finish

pytestmark = pytest.mark.integration  # real processes, sockets, servers or browsers


def check_follows(verdicts: list[dict[str, Any]], rec: Recorder) -> None:
    """One decision per part, in order; each the station's verdict unless the gateway says why not."""
    by_part = {v["part_id"]: v for v in verdicts}
    ids = [d.part_id for d in rec.parts]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert set(ids) <= set(by_part)
    for d in rec.parts:
        v = by_part[d.part_id]
        assert d.seq == v["seq"] and d.captured_at == v["captured_at"]
        if d.reason in ("vision_unhealthy", "late", "missing"):
            assert d.decision == "reject"
            if d.reason == "vision_unhealthy":  # only outside the healthy windows (20 ms of slack at the edges)
                assert not (rec.healthy_at(d.decided_at - 0.02) and rec.healthy_at(d.decided_at + 0.02)), d
        else:
            assert (d.decision, d.reason) == (v["verdict"], v["reason"]), (d, v)


def test_gateway_started_before_the_station_decides_every_part(line: Line, gateways: Any) -> None:
    _gw, rec = gateways(line.config())
    proc = line.station(fps=4.0)  # 4.5 s: vision healthy once the station's clock is known (1.5 s of heartbeats)
    finish(proc)
    verdicts = line.verdicts()
    assert wait_for(lambda: len(rec.parts) == len(verdicts), 5)
    check_follows(verdicts, rec)
    assert [d.part_id for d in rec.parts] == list(range(1, len(verdicts) + 1))
    assert sum(d.decision == "pass" for d in rec.parts) >= 5, "some parts passed while healthy"
    assert any(ok for _, ok, _ in rec.health)
    assert rec.health[-1][1] is False  # the station stopped: vision is not healthy any more


def test_gateway_started_after_the_station_joins_mid_run(line: Line, gateways: Any) -> None:
    proc = line.station(fps=6.0)
    try:
        assert wait_for(lambda: len(line.verdicts()) >= 4, 30)
        joined = time.time()
        _gw, rec = gateways(line.config())
        finish(proc)
    finally:
        proc.kill()
    verdicts = line.verdicts()
    assert wait_for(lambda: rec.parts and rec.parts[-1].part_id == verdicts[-1]["part_id"], 5)
    check_follows(verdicts, rec)
    # the run is young, so the gateway took it from seq 1 by resend; the parts already past the
    # actuator when it joined are rejected as late, the rest follow the station
    assert [d.part_id for d in rec.parts] == list(range(1, len(verdicts) + 1))
    before = [d for d in rec.parts if d.actuate_at is not None and d.actuate_at < joined]
    assert before and all(d.reason == "late" for d in before)
    assert any(d.decision == "pass" for d in rec.parts)


def test_station_gateway_test_reject_rejects_the_parts_whose_ids_n_divides_and_says_so(line: Line, tmp_path: Path) -> None:
    """``station gateway --test-reject 2`` (commissioning: timing the actuator) on a real station's stream: each even part
    the station passed, decided while vision was healthy, is rejected ``test_reject``, each odd one passes."""
    out, log = tmp_path / "decisions.jsonl", tmp_path / "gateway.log"
    sets = [a for o in line.overrides for a in ("--set", o)]
    with log.open("w") as err:
        gw = subprocess.Popen([*STATION, "gateway", *sets, "--test-reject", "2", "--out", str(out)], stderr=err)
    try:
        assert wait_for(lambda: "gateway_started" in log.read_text(), 30)  # then the station: its parts while vision is healthy
        finish(line.station(fps=4.0))
        verdicts = line.verdicts()
        assert wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == len(verdicts), 10)
        gw.send_signal(signal.SIGTERM)
        gw.wait(20)
    finally:
        gw.kill()
    assert gw.returncode == 0, log.read_text()[-2000:]
    decided = [json.loads(x) for x in out.read_text().splitlines()]
    # the station's passes the gateway did not reject for its own faults (vision not yet healthy, a verdict come late)
    passed = [d for d in decided if d["station_verdict"] == "pass" and d["reason"] in ("ok", "test_reject")]
    assert {d["part_id"] % 2 for d in passed} == {0, 1}, "parts of both kinds passed by the station while vision was healthy"
    for d in passed:
        assert (d["decision"], d["reason"]) == (("reject", "test_reject") if d["part_id"] % 2 == 0 else ("pass", "ok")), d
    assert all(d["reason"] == d["station_reason"] for d in decided if d["station_verdict"] == "reject"), "the station's rejects as ever"
    said = [json.loads(x) for x in log.read_text().splitlines() if '"test_reject"' in x]
    assert [(x["event"], x["every"]) for x in said if x["event"] == "test_reject"] == [("test_reject", 2)]


def test_station_killed_goes_unhealthy_within_one_second(line: Line, gateways: Any) -> None:
    _gw, rec = gateways(line.config())
    proc = line.station(fps=3.0)
    try:
        assert wait_for(lambda: any(ok for _, ok, _ in rec.health), 20)
        time.sleep(0.5)
        killed = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert wait_for(lambda: rec.health[-1][1] is False, 3)
    finally:
        proc.kill()
    went, _, reason = rec.health[-1]
    assert reason == "no_heartbeat"
    assert went - killed <= 1.0, f"unhealthy {went - killed:.3f} s after the kill"


def test_a_lost_verdict_is_filled_by_resend(line: Line, gateways: Any) -> None:
    """ZeroMQ over loopback does not lose messages, so the loss is simulated at the gateway's door."""
    lost: list[int] = []

    def drop(msg: Message) -> bool:
        if isinstance(msg, VerdictMessage) and msg.part_id in (10, 11) and msg.seq not in lost:
            lost.append(msg.seq)
            return True
        return False

    _gw, rec = gateways(line.config("gateway.actuator_delay_ms=800"), drop=drop)
    finish(line.station(fps=4.0))  # parts 10 and 11 come 2.5 s in: vision healthy (the station's clock known) by then
    verdicts = line.verdicts()
    assert wait_for(lambda: len(rec.parts) == len(verdicts), 5)
    assert len(lost) == 2
    assert [d.reason for d in rec.parts].count("missing") == 0
    by_part = {d.part_id: d for d in rec.parts}
    for pid in (10, 11):
        v = next(v for v in verdicts if v["part_id"] == pid)
        assert by_part[pid].seq == v["seq"]
        assert by_part[pid].decision == ("pass" if v["verdict"] == "pass" else "reject")
    assert [ok for _, ok, _ in rec.health[:2]] == [False, True]  # never tripped by the gap


def test_a_lost_verdict_without_resend_rejects_the_part_and_trips_health(line: Line, gateways: Any) -> None:
    def drop(msg: Message) -> bool:
        return isinstance(msg, VerdictMessage) and msg.part_id == 12

    cfg = line.config("publisher.resend_endpoint=null")
    _gw, rec = gateways(cfg)
    _gw2, rec2 = gateways(cfg, drop=drop)
    finish(line.station("publisher.resend_endpoint=null", fps=4.0))  # part 12 comes 3 s in, vision healthy by then
    n = len(line.verdicts())
    assert wait_for(lambda: len(rec2.parts) == n and len(rec.parts) == n, 5)
    lost = next(d for d in rec2.parts if d.part_id == 12)
    assert (lost.decision, lost.reason) == ("reject", "missing")
    assert next(d for d in rec.parts if d.part_id == 12).reason != "missing"
    assert any(not ok and "gap" in reason for _, ok, reason in rec2.health[2:])
    assert not any("gap" in reason for _, _, reason in rec.health[2:])


def test_late_verdicts_are_rejected(line: Line, gateways: Any) -> None:
    # the station's own deadline: every verdict leaves as reject/late
    _gw, rec = gateways(line.config())
    finish(line.station("publisher.deadline_ms=1"))
    n = len(line.verdicts())
    assert wait_for(lambda: len(rec.parts) == n, 5)
    assert {(d.decision, d.station_reason) for d in rec.parts} == {("reject", "late")}
    # the gateway's: verdicts that arrive after the part has passed the actuator
    line.out.unlink()
    _gw2, rec2 = gateways(line.config("gateway.actuator_delay_ms=1", "gateway.margin_ms=0"))
    finish(line.station())
    n = len(line.verdicts())
    assert wait_for(lambda: len(rec2.parts) == n, 5)
    assert {(d.decision, d.reason) for d in rec2.parts} == {("reject", "late")}


def test_curve_stream_is_followed_and_a_forged_pass_is_ignored(line: Line, gateways: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    for name in ("station", "gateway"):
        subprocess.run([*STATION, "keys", str(keys), "--name", name], check=True, capture_output=True, timeout=30)
    curve = [
        "publisher.curve.enabled=true",
        f"publisher.curve.secret_key_file={keys / 'station.key_secret'}",
        f"gateway.curve_public_key_file={keys / 'station.key'}",
        f"gateway.curve_secret_key_file={keys / 'gateway.key_secret'}",
    ]
    _gw, rec = gateways(line.config(*curve))
    finish(line.station(*curve))
    n = len(line.verdicts())
    assert wait_for(lambda: len(rec.parts) == n, 5)
    check_follows(line.verdicts(), rec)
    assert any(d.decision == "pass" for d in rec.parts)

    # the station is gone; a forger takes its endpoint and publishes perfect passes
    _plain, prec = gateways(line.config())
    _guarded, grec = gateways(line.config(*curve))
    endpoint = line.config().publisher.endpoint
    forger: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
    forger.setsockopt(zmq.LINGER, 0)
    forger.bind(endpoint)
    try:
        run, t0 = "f0f0f0f0f0f0f0f0", time.time()
        for seq in range(1, 80):
            now = time.time()
            env: dict[str, Any] = {"station": "station-1", "run_id": run, "seq": seq, "sent_at": now}
            msg: Message
            if seq % 2:
                msg = Heartbeat(**env, state=StationState.RUNNING, last_seq=seq - 1, verdicts=seq // 2, camera=CameraState.CONNECTED)
            else:
                msg = VerdictMessage(
                    **env, part_id=seq // 2, frame=seq, verdict=Disposition.PASS, reason=Reason.OK, score=0.01, captured_at=now,
                    published_at=now, deadline_at=now + 0.5, model="forged", config="forged", detail="forged",
                )  # fmt: skip
            forger.send_multipart(frames(msg))
            time.sleep(0.03)
        assert wait_for(lambda: len(prec.parts) > 10, 5), "the unguarded gateway hears the forger"
        time.sleep(0.4)
    finally:
        forger.close(0)
    assert grec.parts == [], "the CURVE gateway must hear nothing from a forger"
    assert not any(ok for _, ok, _ in grec.health)
    assert time.time() - t0 < 30


def test_a_subscriber_that_stops_reading_leaves_the_station_bounded(tmp_path: Path) -> None:
    """A stuck subscriber: the station's queue for it stops at SNDHWM, its own loss shows as seq gaps."""
    import resource

    from station.config import PublisherSection
    from station.metrics import Metrics
    from station.resend import Ring
    from station.stages.publish import Identity, Publisher

    port = free_port()
    ring = Ring(1000)
    pad = "x" * 2000
    cfg = PublisherSection.model_construct(endpoint=f"tcp://127.0.0.1:{port}", heartbeat_ms=0, sndhwm=500)  # a beat every call
    pub = Publisher(cfg, Identity(pad, "c", "m"), Metrics(), ring=ring)  # a long station id: 2 kB a heartbeat
    stuck: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    stuck.setsockopt(zmq.LINGER, 0)
    stuck.setsockopt(zmq.RCVHWM, 500)
    stuck.setsockopt(zmq.SUBSCRIBE, b"")
    stuck.connect(f"tcp://127.0.0.1:{port}")
    try:
        time.sleep(0.3)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(100_000):  # ~200 MB if it were all queued
            pub.beat()
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        seqs = []
        while stuck.poll(200):
            seqs.append(json.loads(stuck.recv_multipart()[1])["seq"])
    finally:
        stuck.close(0)
        pub.close()
    assert grown_mb < 60, f"the station grew {grown_mb:.0f} MB"
    assert len(seqs) < 100_000
    gaps = sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1) + (seqs[-1] != 100_000)
    assert gaps >= 1, "the stuck subscriber must see that it lost messages"
    _held, gone = ring.span(1, 100_000 - 1)
    assert gone == (1, 100_000 - 1000)  # older than the ring: answered as gone


def test_the_wire_carries_every_verdict_of_out_in_order_with_contiguous_seq(line: Line) -> None:
    """A plain subscriber of a real-time replay; what it missed while connecting it asks for by resend."""
    cfg = line.config()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sub: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    ask: zmq.Socket[bytes] = ctx.socket(zmq.DEALER)
    for s in (sub, ask):
        s.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(cfg.publisher.endpoint)
    assert cfg.publisher.resend_endpoint is not None
    ask.connect(cfg.publisher.resend_endpoint)
    got: dict[int, tuple[str, dict[str, Any], float]] = {}
    proc = line.station()
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if sub.poll(100):
                topic, body = sub.recv_multipart()
                msg = json.loads(body)
                got[msg["seq"]] = (topic.decode(), msg, time.time())
                if msg.get("state") == "stopping":
                    break
        first = min(got)
        if first > 1:  # ZeroMQ's slow joiner: the station spoke before our subscription arrived
            ask.send_multipart([b"resend", json.dumps({"from": 1, "to": first - 1}).encode()])
            assert ask.poll(3000)
            frames = ask.recv_multipart()
            assert json.loads(frames[1])["gone"] is None
            for i in range(2, len(frames), 2):
                m = json.loads(frames[i + 1])
                got[m["seq"]] = (frames[i].decode(), m, 0.0)
        finish(proc)
    finally:
        proc.kill()
        sub.close(0)
        ask.close(0)
    seqs = sorted(got)
    assert seqs == list(range(1, len(seqs) + 1)), "contiguous seq from 1"
    assert len({m["run_id"] for _, m, _ in got.values()}) == 1
    wire = [m for s in seqs for t, m, _ in [got[s]] if t == "verdict"]
    assert wire == line.verdicts(), "the same verdict objects, in the same order, as --out"
    beats = [at for s in seqs for t, _, at in [got[s]] if t == "heartbeat" and at > 0]
    assert len(beats) >= 6
    assert max(b - a for a, b in itertools.pairwise(beats)) < 0.6, "heartbeats flow while parts pass"
