"""The publish stage (``station/stages/publish.py``): verdicts, heartbeats and status on the wire, ``--out`` lines, and the
metrics counted as each goes out."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest
import zmq

from station.config import PublisherSection
from station.errors import ConfigError
from station.messages import Reason, StationState, Verdict
from station.metrics import Metrics
from station.stages.publish import Identity, Publisher
from station.wire import PROTOCOL_VERSION, decode

from .conftest import free_port

pytestmark = pytest.mark.integration  # real processes, sockets, servers or browsers


def _verdict(part_id: int, age_s: float = 0.0) -> Verdict:
    return Verdict(part_id, part_id * 3, Reason.OK, 0.01, "ok", time.time() - age_s, time.monotonic() - age_s, None)


def _publisher(port: int, metrics: Metrics, heartbeat_ms: int = 250, out: Path | None = None) -> Publisher:
    cfg = PublisherSection(endpoint=f"tcp://127.0.0.1:{port}", heartbeat_ms=heartbeat_ms)
    return Publisher(cfg, Identity("st-1", "cfg", "model-x"), metrics, out=out)


def _sub(endpoint: str) -> zmq.Socket[bytes]:
    s: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    return s


def _joined(pub: Publisher, sub: zmq.Socket[bytes]) -> None:
    """ZeroMQ's slow joiner, waited for by event: heartbeats until the subscriber hears one (bounded), then drained."""
    end = time.monotonic() + 10
    pub.heartbeat_s = 0.0
    while not sub.poll(20):
        assert time.monotonic() < end, "the subscription never reached the publisher"
        pub.beat()
    while sub.poll(50):
        sub.recv_multipart()


def _recv_all(sub: zmq.Socket[bytes], until: float) -> list[tuple[str, dict[str, object]]]:
    out = []
    while time.monotonic() < until:
        if sub.poll(50):
            topic, body = sub.recv_multipart()
            out.append((topic.decode(), json.loads(body)))
    return out


def test_verdicts_and_heartbeats_on_a_real_socket(tmp_path: Path) -> None:
    port = free_port()
    m = Metrics()
    pub = _publisher(port, m, heartbeat_ms=50, out=tmp_path / "v.jsonl")
    sub = _sub(f"tcp://127.0.0.1:{port}")
    try:
        _joined(pub, sub)
        pub.heartbeat_s = 0.05
        pub.set_state(StationState.RUNNING)
        for i in range(1, 4):
            pub(_verdict(i))
        pub(_verdict(4, age_s=2.0))  # older than the 0.5 s deadline
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            pub.beat()
            time.sleep(0.01)
        msgs = _recv_all(sub, time.monotonic() + 0.5)
    finally:
        pub.close()
        sub.close()
    seqs = [int(str(b["seq"])) for _, b in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # one counter, no gaps
    verdicts = [b for t, b in msgs if t == "verdict"]
    assert [v["part_id"] for v in verdicts] == [1, 2, 3, 4]
    assert verdicts[3]["verdict"] == "reject" and verdicts[3]["reason"] == "late"
    assert all(b["v"] == PROTOCOL_VERSION and b["station"] == "st-1" and b["run_id"] == pub.run_id for _, b in msgs)
    beats = [b for t, b in msgs if t == "heartbeat"]
    assert len(beats) >= 5 and beats[-1]["state"] == "running"
    lines = [json.loads(x) for x in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert lines == verdicts
    assert m.parts.labels(verdict="reject", reason="late")._value.get() == 1


def test_endpoint_in_use_names_the_key() -> None:
    port = free_port()
    a = _publisher(port, Metrics())
    try:
        with pytest.raises(ConfigError) as err:
            _publisher(port, Metrics())
        assert err.value.key == "publisher.endpoint"
    finally:
        a.close()


def test_a_pass_with_a_non_finite_score_goes_out_as_an_error_reject_in_strict_json() -> None:
    port = free_port()
    pub = _publisher(port, Metrics())
    sub = _sub(f"tcp://127.0.0.1:{port}")
    try:
        _joined(pub, sub)
        for score in (float("nan"), float("inf")):
            pub(Verdict(1, 1, Reason.OK, score, "ok", time.time(), time.monotonic(), None))
        got: list[dict[str, object]] = []
        end = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < end:
            if sub.poll(100):
                topic, body = sub.recv_multipart()
                if topic == b"verdict":
                    got.append(decode(body))
    finally:
        pub.close()
        sub.close()
    assert len(got) == 2
    assert all(v["verdict"] == "reject" and v["reason"] == "error" and v["score"] is None for v in got)


def test_an_out_pipe_nothing_reads_is_refused_naming_out_not_waited_on_for_ever(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "verdicts")
    with pytest.raises(ConfigError, match="verdicts: cannot open for writing: a pipe with nothing reading it") as err:
        _publisher(free_port(), Metrics(), out=tmp_path / "verdicts")  # before: blocked in open(), deaf to SIGTERM
    assert err.value.key == "--out"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_failing_out_file_never_stops_publishing() -> None:
    port = free_port()
    m = Metrics()
    pub = _publisher(port, m, out=Path("/dev/full"))  # every write: no space left
    sub = _sub(f"tcp://127.0.0.1:{port}")
    try:
        _joined(pub, sub)
        for i in range(1, 6):
            pub(_verdict(i))
        assert pub.out_failing is not None and "No space" in pub.out_failing
        ids = [b["part_id"] for t, b in _recv_all(sub, time.monotonic() + 1.0) if t == "verdict"]
    finally:
        pub.close()  # its last flush fails too: logged, not raised
        sub.close()
    assert ids == [1, 2, 3, 4, 5]
    assert m.registry.get_sample_value("station_output_errors_total") == 5


def test_a_point_or_circle_that_is_not_finite_is_left_out_of_the_verdict_never_fails_its_encoding() -> None:
    """A model whose evidence overflowed gives a ``where`` of inf or NaN: the verdict goes out without it, in strict JSON."""
    from station.locate import Circle
    from station.stages.publish import to_message

    envelope = {"station": "s", "run_id": "r", "seq": 1, "sent_at": 0.0}
    for where, circle in (((float("inf"), 1.0), Circle(1.0, 2.0, 3.0)), ((float("nan"), float("nan")), Circle(float("nan"), 2.0, 3.0))):
        v = Verdict(1, 1, Reason.DEFECT, 1.0, "defect", time.time(), time.monotonic(), circle, where=where)
        msg = to_message(v, Identity("s", "c", "m"), envelope, 0.5, time.time())
        assert msg.where is None and decode(msg.encode())["reason"] == "defect"
    assert msg.circle is None


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_a_subscription_larger_than_a_topic_drops_its_subscriber_and_costs_the_station_no_memory() -> None:
    """libzmq keeps every subscription in a tree of about 50-100 bytes a byte: a 4 MB one cost the publisher 250 MB, an 8 MB
    one 1 GB. Sent by a bare ZMTP peer (no libzmq on its side keeping a copy in this process), it is refused by its size."""
    import socket
    import struct

    port = free_port()
    pub = _publisher(port, Metrics())
    good = _sub(f"tcp://127.0.0.1:{port}")
    try:
        _joined(pub, good)
        before = _rss_mb()
        peer = socket.create_connection(("127.0.0.1", port), timeout=5)
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\x00") + b"\x00" * 32
        peer.sendall(greeting)
        ready = b"\x05READY\x0bSocket-Type" + struct.pack(">I", 3) + b"SUB"
        peer.sendall(bytes([0x04, len(ready)]) + ready)
        big = 4 << 20
        with contextlib.suppress(OSError):  # disconnected part way: the refusal itself
            peer.sendall(b"\x02" + struct.pack(">Q", big + 1) + b"\x01" + b"h" * big)  # one long frame: a subscription
        end = time.monotonic() + 3
        while time.monotonic() < end and _rss_mb() - before < 128:  # the publisher reads subscriptions as it sends
            pub.beat()
            time.sleep(0.01)
        grown = _rss_mb() - before
        assert grown < 64, f"the station grew by {grown:.0f} MB for one subscription"
        assert good.poll(2000), "the well-behaved subscriber still hears the station"
        peer.close()
    finally:
        good.close(0)
        pub.close()
