"""HTTP served so that no client can take what inspection needs: a bounded number of connections, each with one
deadline for its whole request, errors as rate-limited log lines. The station's pages (``station.web``) and the
gateway's metrics are served this way.

At most MAX_CLIENTS connections are served at once, MAX_PER_CLIENT of them from one address; more are closed unanswered
and counted. Each connection has
REQUEST_S to send its whole request, however slowly it trickles in, and each read or write a socket timeout. A client
that goes away mid-answer costs at most one log line every 10 s, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import io
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from station.errors import ConfigError
from station.ratelog import RateLimitedLog

MAX_CLIENTS = 16  # connections served at once: scrapes, live pages, a review; more are closed unanswered
MAX_PER_CLIENT = 8  # of them from one address (a browser opens 6): one client, slow or not, never takes every slot
REQUEST_S = 10.0  # the whole request (line, headers, body) must arrive within this
CLOSE_S = 2.0  # at close, the connections being answered are given this long to end (an answer takes milliseconds)
ACCEPT_PAUSE_S = 0.1  # an accept that fails for want of file descriptors waits this before the next (it spun a core)


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CLIENTS of them; errors in a handler are one rate-limited line."""

    daemon_threads = True
    request_queue_size = 64  # connects waiting for accept(): a burst is not left to SYN retries

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], refused: Counter) -> None:
        self._by_client: dict[str, int] = {}  # connections being served, by address (MAX_CLIENTS in all at most)
        self._lock = threading.Lock()
        self._open: set[Any] = set()  # their sockets, shut at close (a keep-alive one waits for its next request)
        self._ended = threading.Condition(self._lock)  # told as each connection's thread ends
        self._refused = refused
        self._quiet = RateLimitedLog()
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        """The next connection; when the process is out of file descriptors (a flood of idle connections to its other
        ports), one rate-limited line and a pause: the connection waiting stays waiting, and a loop retrying at once
        took a whole core."""
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self._quiet.emit("accept", "http_accept_failed", level="error", error=exc.strerror or str(exc))
                time.sleep(ACCEPT_PAUSE_S)
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        host = str(client_address[0])
        with self._lock:
            mine = self._by_client.get(host, 0) < MAX_PER_CLIENT and sum(self._by_client.values()) < MAX_CLIENTS
            if mine:
                self._by_client[host] = self._by_client.get(host, 0) + 1
        if not mine:
            self._refused.inc()
            self._quiet.emit("refused", "http_connection_refused", level="warning", max_clients=MAX_CLIENTS, per_client=MAX_PER_CLIENT,
                             client=host)  # fmt: skip
            self.shutdown_request(request)
            return
        with self._lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self._release(host, request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(str(client_address[0]), request)

    def _release(self, host: str, request: Any) -> None:
        with self._lock:
            left = self._by_client.pop(host) - 1
            if left:
                self._by_client[host] = left
            self._open.discard(request)
            self._ended.notify_all()

    def end_connections(self, bound_s: float) -> bool:
        """End every connection: their reads at once (a keep-alive one waits for its next request), and the answers
        under way given ``bound_s`` to be written; True when all ended in it. A thread still drawing a frame with OpenCV
        as the interpreter exits aborted the process (exit 134 after a clean drain, SIGTERM during fetches of
        /frame.jpg)."""
        with self._lock:
            self._shut(socket.SHUT_RD)
            ended = self._ended.wait_for(lambda: not self._open, bound_s)
            if not ended:
                self._shut(socket.SHUT_RDWR)
                self._quiet.emit("unended", "http_connections_not_ended", level="warning", count=len(self._open), bound_s=bound_s)
            return ended

    def _shut(self, how: int) -> None:
        for request in self._open:
            with contextlib.suppress(OSError):
                request.shutdown(how)

    def note(self, kind: str, event: str, **fields: Any) -> None:
        """A line about a request (a refused token, say), at most one of ``kind`` every 10 s, the rest counted in it."""
        self._quiet.emit(kind, event, level="warning", **fields)

    def service_actions(self) -> None:
        self._quiet.tick()  # the counts of lines held back, every poll of the accept loop

    def flush_log(self) -> None:
        self._quiet.flush()  # as the server stops: no count of lines held back is left unsaid

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (or anything else a handler raised): one line, at most every 10 s per kind."""
        exc = sys.exc_info()[1]
        kind = type(exc).__name__
        self._quiet.emit(kind, "http_request_failed", level="warning", keep=("error",), error=f"{kind}: {exc}")


class _Deadline(io.RawIOBase):
    """A connection's socket read against one deadline for the whole request: every receive gets only what is left of
    it, so a request trickled in a byte at a time is cut as surely as an idle one."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the request took over {REQUEST_S:g} s to arrive")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class BoundedHandler(BaseHTTPRequestHandler):
    """One connection's request, read against REQUEST_S; answers through :meth:`_send` (HEAD: without the body)."""

    timeout = 5.0  # each read and write; the whole request has REQUEST_S
    head_only = False

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader, replaced by one against the request's deadline
        self.rfile = io.BufferedReader(_Deadline(self.connection, time.monotonic() + REQUEST_S))

    def parse_request(self) -> bool:
        """The request; a target in absolute form (``GET http://station:9108/metrics``, as a client asks through a proxy,
        RFC 9112 3.2.2) is taken as its path and query (it was answered 404)."""
        ok = super().parse_request()
        if ok and self.path[:8].lower().startswith(("http://", "https://")):
            target = urlsplit(self.path)
            self.path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        return ok

    def do_GET(self) -> None:
        self._send(404, "text/plain", b"not found\n")  # a server's own handler says what it serves

    def do_HEAD(self) -> None:
        """What GET would answer, without the body (monitors that ask with HEAD)."""
        self.head_only = True
        self.do_GET()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line, a method no handler takes: PUT, DELETE) as one
        plain line, as every other answer is, not its HTML page. A request line whose HTTP version is not served (HTTP/9.9)
        is refused before its version is taken: answered as HTTP/0.9 is, the body alone, a client read no answer at all;
        it gets a status line and headers (a request of HTTP/0.9 itself, no version at all, is still answered as one)."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9" and len(getattr(self, "requestline", "").split()) == 3:
            self.request_version = "HTTP/1.0"
        self._send(code, "text/plain", f"{message or self.responses.get(code, ('error',))[0]}\n".encode("utf-8", "replace"))

    def _send(self, code: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")  # a browser takes each answer as the type it says it is
        self.connection.settimeout(self.timeout)  # the answer has its own bound, whatever was left of the request's
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds are not news

    def log_error(self, format: str, *args: Any) -> None:
        """The standard library's one line of its own: a request cut at its deadline (a body short of its length, a
        request line never ended), which log_message silenced: said, at most once every 10 s with a count of the rest."""
        if isinstance(self.server, BoundedServer):
            self.server.note("timeout", "http_request_failed", client=str(self.client_address[0]), error=format % args)


def bind_key(port_key: str) -> Callable[[OSError], str]:
    """The key a failed bind names: ``port_key`` for a port in use or not allowed, else the host (metrics.host)."""
    return lambda exc: port_key if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "metrics.host"


class Served:
    """A :class:`BoundedServer` on a thread of its own; a bind that fails is a ConfigError naming ``key(error)``."""

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], refused: Counter,
                 key: Callable[[OSError], str]) -> None:  # fmt: skip
        try:
            self._server = BoundedServer((host, port), handler, refused)
        except OSError as exc:
            raise ConfigError(key(exc), f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}") from None
        self.port: int = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.end_connections(CLOSE_S)
        self._server.flush_log()
        self._thread.join(2.0)


def refused_counter(prefix: str, registry: CollectorRegistry) -> Counter:
    """``PREFIX_http_connections_refused_total``: what a server counts when it closes a connection unanswered."""
    return Counter(f"{prefix}_http_connections_refused", "HTTP connections closed unanswered: as many others were being served.",
                   registry=registry)  # fmt: skip


class MetricsServer(Served):
    """``/metrics`` of one registry on ``host:port`` (``key``: the config key a bind failure names)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, key: str, prefix: str) -> None:
        refused = refused_counter(prefix, registry)
        super().__init__(host, port, type("MetricsHandler", (_MetricsHandler,), {"registry": registry}), refused, bind_key(key))


class _MetricsHandler(BoundedHandler):
    registry: CollectorRegistry

    def do_GET(self) -> None:
        if self.path.partition("?")[0] == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.registry))
        else:
            self._send(404, "text/plain", b"not found: only /metrics here\n")
