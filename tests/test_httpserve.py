"""station/httpserve.py: the bounded HTTP server's accept loop when the process has no file descriptor left."""

from __future__ import annotations

import errno
import socket
import socketserver
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from station.httpserve import CLOSE_S, BoundedHandler, MetricsServer, Served

pytestmark = pytest.mark.integration  # a real server on loopback


def test_an_accept_that_fails_for_want_of_file_descriptors_pauses_instead_of_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of descriptors (a flood of idle connections to the station's ZeroMQ ports), accept fails while a connection
    waits, so the listening socket stays readable: retried at once, the loop took a whole core. The descriptor limit is
    the process's own, so the failure is stood in for here."""
    calls = []

    def out_of_descriptors(self: Any) -> tuple[Any, Any]:
        calls.append(time.monotonic())
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(socketserver.TCPServer, "get_request", out_of_descriptors)
    server = MetricsServer("127.0.0.1", 0, CollectorRegistry(), "metrics.port", "test")
    waiting = socket.create_connection(("127.0.0.1", server.port), timeout=5)  # never accepted: readable throughout
    try:
        end = time.monotonic() + 10
        while not calls and time.monotonic() < end:
            time.sleep(0.01)
        first = len(calls)
        time.sleep(1.0)
        tried = len(calls) - first
    finally:
        waiting.close()
        monkeypatch.undo()
        server.close()
    assert first, "the waiting connection was never tried"
    assert tried <= 15, f"{tried} accepts in a second: the loop spins"


def _answer(port: int, request: bytes) -> bytes:
    """All the server answers ``request`` with, read until it closes the connection (bounded by the socket's timeout)."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        while chunk := sock.recv(4096):
            got += chunk
    return got


def _metrics_answer(request: bytes) -> bytes:
    """What a metrics server on a free port answers ``request`` with (:func:`_answer`); the server closed after."""
    server = MetricsServer("127.0.0.1", 0, CollectorRegistry(), "metrics.port", "test")
    try:
        return _answer(server.port, request)
    finally:
        server.close()


@pytest.mark.parametrize("version", [b"HTTP/9.9", b"HTTP/2.0", b"HTTP/x.y"])
def test_a_request_in_an_http_version_not_served_is_refused_with_a_status_line(version: bytes) -> None:
    """Refused before its version was taken, it was answered as HTTP/0.9 is: the body alone, no status line or headers,
    which a client reads as no answer."""
    got = _metrics_answer(b"GET /metrics " + version + b"\r\n\r\n")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] in (b"400", b"505") and b"Content-Type: text/plain" in head, got[:200]
    assert body.endswith(b"\n") and b"<" not in body


def test_a_request_of_http_0_9_is_still_answered_with_the_body_alone() -> None:
    got = _metrics_answer(b"GET /metrics\r\n\r\n")
    assert got.startswith(b"# HELP"), got[:200]


def test_a_request_target_in_absolute_form_is_answered_as_its_path() -> None:
    """``GET http://host/metrics`` (a scraper through a proxy) was answered 404: a healthy station read as none."""
    got = _metrics_answer(b"GET http://127.0.0.1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.0 200") and b"# HELP" in got, got[:200]


def test_a_request_cut_at_its_deadline_is_said_in_a_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request line never ended (or a body short of its length): closed at the deadline without a word before."""
    from structlog.testing import capture_logs

    import station.httpserve as httpserve

    monkeypatch.setattr(httpserve, "REQUEST_S", 0.5)
    server = MetricsServer("127.0.0.1", 0, CollectorRegistry(), "metrics.port", "test")
    try:
        with capture_logs() as logs:
            got = _answer(server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # the blank line never comes
    finally:
        server.close()
    assert got == b""
    said = [e for e in logs if e["event"] == "http_request_failed"]
    assert len(said) == 1 and said[0]["error"].startswith("Request timed out") and said[0]["client"] == "127.0.0.1"


def test_a_close_waits_for_the_answers_under_way_and_ends_idle_connections_at_once() -> None:
    """A connection's thread still drawing /frame.jpg with OpenCV as the interpreter exited aborted the process after a
    clean drain (exit 134, SIGTERM during fetches); a keep-alive connection waiting for its next request must not hold
    the close for its request bound (10 s)."""
    entered, finished = threading.Event(), threading.Event()

    class Slow(BoundedHandler):
        def do_GET(self) -> None:
            entered.set()
            time.sleep(0.5)  # a frame being drawn
            finished.set()
            self.send_response(200)
            self.end_headers()

    server = Served("127.0.0.1", 0, Slow, Counter("refused", "test", registry=CollectorRegistry()), lambda _: "metrics.port")
    with (socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle,
          socket.create_connection(("127.0.0.1", server.port), timeout=5) as asking):  # fmt: skip
        asking.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5)
        began = time.monotonic()
        server.close()
        took = time.monotonic() - began
        assert finished.is_set(), "closed while an answer was under way"
        assert took < CLOSE_S and idle.recv(1) == b""  # the idle connection shut, not waited out
        assert asking.recv(4096).startswith(b"HTTP/1.0 200"), "the answer waited for was not sent"
