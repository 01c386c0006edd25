"""The resend server on a real ROUTER socket, asked by DEALER and REQ peers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import zmq

from station.metrics import Metrics
from station.resend import MAX_SPAN, ResendServer, Ring


@pytest.fixture
def server() -> Iterator[ResendServer]:
    ring = Ring(10)
    for seq in range(1, 26):  # 1..15 have fallen out of the ring
        ring.add(seq, b"heartbeat", json.dumps({"seq": seq}).encode())
    srv = ResendServer("tcp://127.0.0.1:*", ring, "run-1", Metrics(), poll_s=0.05)
    srv.start()
    yield srv
    srv.stop()
    srv.join(2)


def _ask(srv: ResendServer, body: object, kind: int = zmq.DEALER) -> list[bytes]:
    s: zmq.Socket[bytes] = zmq.Context.instance().socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(srv.endpoint)
    try:
        s.send_multipart([b"resend", json.dumps(body).encode()])
        assert s.poll(3000), "no answer within 3 s"
        return s.recv_multipart()
    finally:
        s.close(0)


def test_serves_what_it_holds_and_says_what_is_gone(server: ResendServer) -> None:
    for kind in (zmq.DEALER, zmq.REQ):
        frames = _ask(server, {"run_id": "run-1", "from": 12, "to": 18}, kind)
        head = json.loads(frames[1])
        assert frames[0] == b"resend" and head["gone"] == [12, 15] and head["count"] == 3
        assert [json.loads(p)["seq"] for p in frames[3::2]] == [16, 17, 18]
        assert set(frames[2::2]) == {b"heartbeat"}
    m = server.metrics.registry
    assert m.get_sample_value("station_resend_requests_total", {"result": "gone"}) == 2
    assert m.get_sample_value("station_resent_messages_total") == 6


def test_all_held_is_not_gone(server: ResendServer) -> None:
    head = json.loads(_ask(server, {"run_id": "run-1", "from": 20, "to": 25})[1])
    assert head["gone"] is None and head["count"] == 6


@pytest.mark.parametrize(
    "body",
    [{"from": 5}, {"from": 0, "to": 3}, {"from": 9, "to": 3}, {"from": 1, "to": MAX_SPAN + 1}, ["not", "an", "object"]],
)
def test_bad_requests_get_a_reason(server: ResendServer, body: object) -> None:
    head = json.loads(_ask(server, body)[1])
    assert head["error"] and "count" not in head


def test_another_runs_request_is_all_gone(server: ResendServer) -> None:
    head = json.loads(_ask(server, {"run_id": "run-0", "from": 20, "to": 21})[1])
    assert head["gone"] == [20, 21] and head["run_id"] == "run-1"
