"""Resend: a ring of the last published messages, served on a ZeroMQ ROUTER socket.

A gateway that sees a jump in ``seq`` asks for the missing range and gets back every message
still in the ring, byte for byte as first sent, and an explicit ``gone`` range for anything older.
Request and reply are documented in docs/protocol.md. The ROUTER socket is used only by this
stage's own thread; the ring is shared with the publisher under a lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import structlog
import zmq

from station.keys import KeyPair, bind_server
from station.messages import ResendResult
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.stages.base import Worker
from station.wire import ResendReply, ResendRequest, WireError

MAX_REQUEST_BYTES = 4096  # a request is about 80 bytes; a peer sending a larger message is disconnected by libzmq
BAD_REQUEST_COST = 10.0  # budget units a request that gets an error costs: junk is paced to 2,000 a second
ANSWERED_WITH_AN_ERROR = frozenset({ResendResult.BAD, ResendResult.OTHER_RUN})  # the requests charged BAD_REQUEST_COST
RESENT_PER_S = 20000.0  # messages resent a second at most (a gateway's gap is a few; a flood is paced, never served faster)
log = structlog.get_logger()


class Ring:
    """The last ``size`` messages as (seq, topic, payload), appended by the publisher."""

    def __init__(self, size: int) -> None:
        self._items: deque[tuple[int, bytes, bytes]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seq: int, topic: bytes, payload: bytes) -> None:
        with self._lock:
            self._items.append((seq, topic, payload))

    def span(self, first: int, last: int) -> tuple[list[tuple[int, bytes, bytes]], tuple[int, int] | None]:
        """Messages first..last still held, and the (first, last) range that is gone, if any."""
        with self._lock:
            if not self._items:
                return [], (first, last)
            oldest = self._items[0][0]
            newest = self._items[-1][0]
            lo = max(first, oldest)
            hi = min(last, newest)
            if newest - oldest + 1 == len(self._items):  # every seq in between held: each at its offset
                held = [self._items[s - oldest] for s in range(lo, hi + 1)] if lo <= hi else []
            else:  # a seq counted but never added (its message could not be encoded): each found by its own seq
                held = [item for item in self._items if lo <= item[0] <= hi]
        gone = (first, min(last, oldest - 1)) if first < oldest else None
        return held, gone


def parse_request(frames: list[bytes]) -> ResendRequest | str:
    """The request, or a one-line reason why it is not one; never raises, whatever the bytes."""
    if len(frames) != 2 or frames[0] != b"resend":
        return "expected two frames: resend, JSON"
    if len(frames[1]) > MAX_REQUEST_BYTES:
        return f"the body is over {MAX_REQUEST_BYTES} bytes"
    try:
        return ResendRequest.decode(frames[1])  # strict, and never a RecursionError for brackets nested thousands deep
    except WireError as exc:
        return str(exc)


class Budget:
    """A token bucket: ``rate`` units a second, up to ``burst`` saved; time is passed in."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens: float = burst
        self._at: float | None = None

    def wait_s(self, cost: float, now: float) -> float:
        """Take ``cost`` units; how long to wait before serving again (0 while within budget)."""
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class ResendServer(Worker):
    """The resend stage: one thread, one ROUTER socket, polled with a timeout.

    What a client can do to this socket is bounded, so that heartbeats and verdicts never depend on it:
    libzmq drops a peer that sends a frame over MAX_REQUEST_BYTES (before Python sees it) and queues
    at most RCVHWM requests; replies are paced by a budget of resent messages a second (junk costs
    more); a request that cannot be parsed is answered with a reason and counted; log lines are
    summarised. Not bounded: one multipart message of very many small frames (libzmq holds a
    message until its last frame; its size limit is per frame).
    """

    def __init__(self, endpoint: str, ring: Ring, run_id: str, metrics: Metrics, keys: KeyPair | None = None, poll_s: float = 0.1) -> None:
        self.ring = ring
        self.run_id = run_id
        self.metrics = metrics
        self._poll_ms = int(poll_s * 1000)
        self._budget = Budget(RESENT_PER_S, RESENT_PER_S)
        self._quiet = RateLimitedLog()
        opts: dict[int, int] = {
            zmq.LINGER: 0,
            zmq.ROUTER_MANDATORY: 1,  # a reply the peer cannot take raises (counted dropped), never vanishes
            zmq.SNDHWM: 100,
            zmq.RCVHWM: 100,
            zmq.MAXMSGSIZE: MAX_REQUEST_BYTES,
        }
        self._sock, self.endpoint = bind_server(zmq.ROUTER, endpoint, "publisher.resend_endpoint", keys, opts)
        super().__init__("stage-resend")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._sock.poll(self._poll_ms, zmq.POLLIN):
                    self._quiet.tick()  # idle: the counts of lines held back during a flood
                else:
                    cost = self._serve_one()
                    pause = self._budget.wait_s(cost, time.monotonic())
                    if pause > 0 and self._stop.wait(min(pause, 1.0)):
                        return
        finally:
            self._quiet.flush()
            self._sock.close(0)

    def _serve_one(self) -> float:
        """Answer one request; its cost in budget units (1 + messages resent). Never raises for a peer's bytes.

        The reply is routed before it is built: a peer that is gone, or not reading (its queue full), refuses the routing
        frames at once, and its request costs 1, not the messages a reply would have held. Charged the whole reply, the
        queued requests of 32 clients that had left kept live gateways waiting for minutes."""
        frames = self._sock.recv_multipart(zmq.NOBLOCK)
        # ROUTER prefixes the peer's identity; a REQ peer adds an empty delimiter frame
        split = frames.index(b"", 1) + 1 if b"" in frames[1:2] else 1
        envelope, body = frames[:split], frames[split:]
        try:
            self._sock.send_multipart(envelope, zmq.NOBLOCK | zmq.SNDMORE)
        except zmq.ZMQError as exc:  # the peer went away or is not reading: its loss, counted
            self._quiet.emit("dropped", "resend_reply_dropped", level="warning", stage="resend", error=str(exc))
            self.metrics.resend_requests.labels(result=ResendResult.DROPPED).inc()
            return 1.0
        try:
            reply, result = self._answer(body)
        except Exception as exc:  # whatever a request does, the thread goes on
            self._quiet.emit("error", "resend_request_failed", level="error", stage="resend", error=f"{type(exc).__name__}: {exc}")
            reply, result = (
                [b"resend", ResendReply(run_id=self.run_id, error="the request could not be handled").encode()],
                ResendResult.BAD,
            )
        # The rest of a message already routed: libzmq checks the queue at a message's first frame only, so it takes these
        # (a peer that left meanwhile has them dropped by libzmq, counted here as served). Were this ever to raise, the socket
        # would be mid-message: the stage fails (its thread's exception) rather than send the next reply inside this one.
        self._sock.send_multipart(reply, zmq.NOBLOCK)
        self.metrics.resent_messages.inc((len(reply) - 2) // 2)
        self.metrics.resend_requests.labels(result=result).inc()
        return (BAD_REQUEST_COST if result in ANSWERED_WITH_AN_ERROR else 1.0) + (len(reply) - 2) / 2

    def _answer(self, body: list[bytes]) -> tuple[list[bytes], ResendResult]:
        """The reply's frames (after the peer's envelope), and the result it is counted under once sent."""
        req = parse_request(body)
        if isinstance(req, str):
            self._quiet.emit("bad", "resend_bad_request", level="warning", stage="resend", error=req)
            return [b"resend", ResendReply(run_id=self.run_id, error=req).encode()], ResendResult.BAD
        a, b = req.first, req.last
        if req.run_id not in (None, self.run_id):
            reply = ResendReply(run_id=self.run_id, first=a, last=b, gone=(a, b), count=0, error="another run")
            return [b"resend", reply.encode()], ResendResult.OTHER_RUN
        held, gone = self.ring.span(a, b)
        out = [b"resend", ResendReply(run_id=self.run_id, first=a, last=b, gone=gone, count=len(held)).encode()]
        for _seq, topic, payload in held:
            out += [topic, payload]
        self._quiet.emit("served", "resend_served", stage="resend", first=a, last=b, count=len(held), gone=gone)
        return out, ResendResult.GONE if gone else ResendResult.SERVED
