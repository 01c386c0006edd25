"""station/httpserve.py: the bounded HTTP server's accept loop when the process has no file descriptor left."""

from __future__ import annotations

import errno
import socket
import socketserver
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from station.httpserve import MetricsServer

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
