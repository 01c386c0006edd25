"""The resend server on a real ROUTER socket, asked by DEALER and REQ peers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import zmq

from station.metrics import Metrics
from station.resend import ResendServer, Ring
from station.wire import ResendRequest

from .conftest import wait_for


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


@pytest.mark.integration
def test_serves_what_it_holds_and_says_what_is_gone(server: ResendServer) -> None:
    for kind in (zmq.DEALER, zmq.REQ):
        frames = _ask(server, {"run_id": "run-1", "from": 12, "to": 18}, kind)
        head = json.loads(frames[1])
        assert frames[0] == b"resend" and head["gone"] == [12, 15] and head["count"] == 3
        assert [json.loads(p)["seq"] for p in frames[3::2]] == [16, 17, 18]
        assert set(frames[2::2]) == {b"heartbeat"}
    m = server.metrics.registry  # counted once sent: the reply can reach the client before the count moves
    assert wait_for(lambda: m.get_sample_value("station_resend_requests_total", {"result": "gone"}) == 2, 5)
    assert m.get_sample_value("station_resent_messages_total") == 6


@pytest.mark.integration
def test_all_held_is_not_gone(server: ResendServer) -> None:
    head = json.loads(_ask(server, {"run_id": "run-1", "from": 20, "to": 25})[1])
    assert head["gone"] is None and head["count"] == 6


@pytest.mark.integration
@pytest.mark.parametrize(
    "body",
    [{"from": 5}, {"from": 0, "to": 3}, {"from": 9, "to": 3}, {"from": 1, "to": ResendRequest.MAX_SPAN + 1}, ["not", "an", "object"]],
)
def test_bad_requests_get_a_reason(server: ResendServer, body: object) -> None:
    head = json.loads(_ask(server, body)[1])
    assert head["error"] and "count" not in head


@pytest.mark.integration
def test_another_runs_request_is_all_gone_and_counted_as_another_runs(server: ResendServer) -> None:
    head = json.loads(_ask(server, {"run_id": "run-0", "from": 20, "to": 21})[1])
    assert head["gone"] == [20, 21] and head["run_id"] == "run-1"
    counted = server.metrics.resend_requests.labels(result="other_run")
    assert wait_for(lambda: counted._value.get() == 1, 2)


def _raw(srv: ResendServer, frames: list[bytes], wait_ms: int = 3000) -> list[bytes] | None:
    s: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(srv.endpoint)
    try:
        s.send_multipart(frames)
        return s.recv_multipart() if s.poll(wait_ms) else None
    finally:
        s.close(0)


@pytest.mark.integration
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 4000,  # under the size bound, and deep enough to raise RecursionError in json
        b'{"from": true, "to": true}',
        b'{"from": 1, "to": 2, "run_id": 7}',
        b"\xff\xfe garbage",
        b'{"from": 1e400, "to": 2}',
    ],
)
def test_hostile_requests_get_a_reason_and_the_thread_lives_on(server: ResendServer, body: bytes) -> None:
    reply = _raw(server, [b"resend", body])
    assert reply is not None and json.loads(reply[1])["error"]
    assert server.is_alive() and server.failed is None
    assert json.loads(_ask(server, {"run_id": "run-1", "from": 20, "to": 21})[1])["count"] == 2


@pytest.mark.integration
def test_a_message_over_the_size_bound_is_dropped_by_libzmq_and_others_are_served(server: ResendServer) -> None:
    from station.resend import MAX_REQUEST_BYTES

    assert _raw(server, [b"resend", b"x" * (MAX_REQUEST_BYTES * 8)], wait_ms=500) is None  # disconnected, never parsed
    assert server.is_alive() and json.loads(_ask(server, {"from": 24, "to": 25})[1])["count"] == 2


@pytest.mark.integration
def test_replies_a_peer_does_not_take_are_counted_dropped_never_served() -> None:
    """A peer that asks many times and reads nothing: libzmq dropped what its full queue could not take, silently."""
    ring = Ring(1000)
    for seq in range(1, 1001):
        ring.add(seq, b"heartbeat", b"x" * 1000)
    srv = ResendServer("tcp://127.0.0.1:*", ring, "run-1", Metrics(), poll_s=0.05)
    srv.start()
    s: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, 1)
    s.connect(srv.endpoint)

    def count(result: str) -> float:
        return srv.metrics.registry.get_sample_value("station_resend_requests_total", {"result": result}) or 0.0

    try:
        for _ in range(400):  # 40 MB of replies: more than the sockets' queues (100 each) and the kernel's buffers hold
            s.send_multipart([b"resend", json.dumps({"from": 1, "to": 100}).encode()])
        assert wait_for(lambda: count("served") + count("dropped") == 400, 20)
        got = 0
        while s.poll(500):
            s.recv_multipart()
            got += 1
        assert count("dropped") > 0 and got == count("served")  # each reply counted served was sent; the rest dropped
    finally:
        s.close(0)
        srv.stop()
        srv.join(2)


@pytest.mark.integration
def test_requests_left_by_peers_that_went_away_do_not_keep_a_live_gateway_waiting() -> None:
    """Each queued request of a peer gone was charged the whole reply it would have had: a live gateway's request waited its
    turn behind them all, seconds for each round of the dead peers' queues (a gateway gives a gap up after 0.3 s)."""
    ring = Ring(ResendRequest.MAX_SPAN)
    for seq in range(1, ResendRequest.MAX_SPAN + 1):
        ring.add(seq, b"heartbeat", b"x" * 200)
    srv = ResendServer("tcp://127.0.0.1:*", ring, "run-1", Metrics(), poll_s=0.05)
    srv.start()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    gone = [ctx.socket(zmq.DEALER) for _ in range(128)]
    try:
        for peer in gone:
            peer.setsockopt(zmq.LINGER, 1000)  # its requests go out before it closes
            peer.connect(srv.endpoint)
            for _ in range(10):
                peer.send_multipart([b"resend", json.dumps({"from": 1, "to": ResendRequest.MAX_SPAN}).encode()])
        for peer in gone:
            peer.close()
        t0 = time.monotonic()
        got = _ask(srv, {"from": ResendRequest.MAX_SPAN - 2, "to": ResendRequest.MAX_SPAN})  # fails after 3 s without an answer
        assert time.monotonic() - t0 < 2.0 and json.loads(got[1])["count"] == 3  # 128 dead peers a round: 6.4 s of budget before
        dropped = {"result": "dropped"}
        assert wait_for(lambda: (srv.metrics.registry.get_sample_value("station_resend_requests_total", dropped) or 0) > 0, 5)  # counted
    finally:
        srv.stop()
        srv.join(2)


@pytest.mark.integration
def test_served_requests_are_summarised_in_the_log_not_one_line_each(server: ResendServer, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(30):
        _ask(server, {"from": 20, "to": 21})
    out = capsys.readouterr()
    lines = [x for x in (out.out + out.err).splitlines() if "resend_served" in x]
    assert 1 <= len(lines) <= 2
    assert wait_for(lambda: server.metrics.registry.get_sample_value("station_resend_requests_total", {"result": "served"}) == 30, 5)


def test_budget_paces_a_flood_and_refills_with_time() -> None:
    from station.resend import Budget

    b = Budget(rate=100.0, burst=100.0)
    assert b.wait_s(60, now=0.0) == 0.0
    assert b.wait_s(60, now=0.0) == pytest.approx(0.2)  # 20 units short at 100 a second
    assert b.wait_s(10, now=10.0) == 0.0  # refilled (to the burst) after a quiet spell


def test_parse_request_never_raises_on_any_bytes() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from station.resend import parse_request

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=300), max_size=4))
    def check(frames: list[bytes]) -> None:
        out = parse_request(frames)
        assert isinstance(out, str | dict)

    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    keys = st.sampled_from(["from", "to", "run_id", "x"])

    @settings(max_examples=300, deadline=None)
    @given(st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=4)))
    def check_json(doc: object) -> None:
        out = parse_request([b"resend", json.dumps(doc).encode()])
        if isinstance(out, dict):
            assert type(out["from"]) is int and type(out["to"]) is int and 1 <= out["from"] <= out["to"]

    check()
    check_json()


def test_a_ring_missing_a_seq_serves_each_message_under_its_own_seq() -> None:
    ring = Ring(10)
    for seq in (1, 2, 4, 5, 6):  # seq 3 was counted but never added (its message could not be encoded)
        ring.add(seq, b"verdict", f'{{"seq": {seq}}}'.encode())
    held, gone = ring.span(2, 6)
    assert [item[0] for item in held] == [2, 4, 5, 6] and gone is None  # by offset, 4 would have been served as 3
