"""Bounded random input against the real HTTP server and the real resend socket: each still answers correctly after."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.metrics import Metrics
from station.resend import ResendServer, Ring
from station.web import Health, LiveView, WebServer

METHODS = st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"G\x00T", b""])
PATHS = st.one_of(
    st.sampled_from([b"/", b"/metrics", b"/healthz", b"/state.json", b"/frame.jpg", b"/../../etc/passwd", b"*"]),
    st.binary(max_size=300),
)
HEADERS = st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.binary(max_size=200)), max_size=8)


@pytest.fixture(scope="module")
def web() -> Iterator[WebServer]:
    m = Metrics()
    server = WebServer("127.0.0.1", 0, m, LiveView(m), lambda: Health(True, {"status": "ok"}))
    yield server
    server.close()


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _healthy(port: int) -> bool:
    return _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, path=PATHS, version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b""]), headers=HEADERS,
       body=st.binary(max_size=2000))  # fmt: skip
def test_http_answers_garbage_with_a_status_or_a_close_and_stays_up(
    web: WebServer, method: bytes, path: bytes, version: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    head = b" ".join(x for x in (method, path, version) if x) + b"\r\n"
    head += b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"
    reply = _exchange(web.port, head + body)
    # a status line or a close; a request without a version (or one it cannot speak) is HTTP/0.9: a bare body
    status = reply.split(b"\r\n", 1)[0] if reply.startswith(b"HTTP/") else b""
    assert b" 500 " not in status, status  # 400, 404, 501, 505 are answers; 500 would be a handler that raised
    assert _healthy(web.port)


@pytest.fixture(scope="module")
def resend() -> Iterator[ResendServer]:
    ring = Ring(64)
    for seq in range(1, 65):
        ring.add(seq, b"heartbeat", json.dumps({"seq": seq}).encode())
    srv = ResendServer("tcp://127.0.0.1:*", ring, "run-f", Metrics(), poll_s=0.05)
    srv.start()
    yield srv
    srv.stop()
    srv.join(2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.binary(max_size=600), min_size=1, max_size=5))
def test_resend_answers_any_frames_and_stays_up(resend: ResendServer, frames: list[bytes]) -> None:
    s: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(resend.endpoint)
    try:
        s.send_multipart(frames)
        assert s.poll(3000), "every request gets an answer"
        reply = s.recv_multipart()
        if reply[0] == b"":  # an empty first frame reads as a REQ peer's delimiter, and comes back with the reply
            reply = reply[1:]
        head = json.loads(reply[1])
        assert reply[0] == b"resend" and ("error" in head or head["count"] >= 0)
        s.send_multipart([b"resend", b'{"from": 60, "to": 61}'])
        assert s.poll(3000) and json.loads(s.recv_multipart()[1])["count"] == 2
    finally:
        s.close(0)
    assert resend.is_alive() and resend.failed is None
