"""The reference PLC gateway: subscribes to one station, fills gaps by resend, drives the outputs.

One thread owns both sockets (SUB for the stream, DEALER for resend) and polls them with a
timeout no longer than the time to the next actuator event, so that a part is decided on time
and a stop is seen within ``poll_s``. :func:`follow` runs it as ``station gateway`` does: under
systemd it says READY=1 once the sockets and outputs are up, pings the watchdog while the loop
turns, and STOPPING=1 at a stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import structlog
import zmq
from prometheus_client import CollectorRegistry

from station.config import Config
from station.config_gateway import GATEWAY_STOP_S, GatewayOutputKind
from station.endpoints import is_ipv6, local_endpoint
from station.errors import ConfigError, one_line
from station.gateway.core import GatewayCore, Timing
from station.gateway.metrics import GatewayCounts, MetricsOutput
from station.gateway.outputs import JsonLinesOutput, ModbusOutput, Output, Outputs
from station.gateway.reasons import GatewayReason, PartDecision
from station.httpserve import MetricsServer
from station.keys import KeyPair, curve_client, ephemeral, load_public, load_secret
from station.log import say
from station.notify import Notifier, Watchdog
from station.signals import SIGNALS
from station.stages.base import Worker
from station.wire import Disposition, Message, ResendReply, ResendRequest, WireError, read

log = structlog.get_logger()
READ_BATCH = 256  # messages read from one socket before the loop ticks again: a flood cannot hold decisions up
MAX_MESSAGE = 65536  # bytes of one frame; a peer that sends more is disconnected by libzmq (a verdict is under 2 KiB)
REDIAL_MIN_S = 2.0  # the stream silent this long at least (4 x the heartbeats it may miss): its sockets are made anew
CLOCK_STEP_S = 0.1  # the wall clock moved this much against the monotonic one within one turn of the loop: it was stepped
# The most the loop waits between two marks of progress (a turn, the health told, a part delivered): one part's four Modbus
# requests, each up to three timeouts (pymodbus bounds a connect, and each read of an answer that trickles in, by timeout_s).
TIMEOUTS_BETWEEN_MARKS = 4 * 3
STOP_READ_S = 1.0  # at a stop, the verdicts already in the socket are read for this long at most (100k take about 0.4 s)
STOP_WRITES_S = GATEWAY_STOP_S / 2  # at a stop, the PLC is told the pending parts' rejects for this long at most


class Gateway(Worker):
    """``start()``, then ``stop()`` and ``join()``; decisions go to ``outputs`` in actuator order; with ``registry``, the
    core's and the outputs' counts are series on it (``station.gateway.metrics.GatewayCounts``); with ``test_reject`` N, the
    parts whose ids N divides are rejected where they would pass (``station gateway --test-reject``)."""

    def __init__(
        self,
        cfg: Config,
        outputs: list[Output],
        poll_s: float = 0.02,
        drop: Callable[[Message], bool] | None = None,
        registry: CollectorRegistry | None = None,
        test_reject: int = 0,
    ) -> None:
        g = cfg.gateway
        self.core = GatewayCore(
            Timing(
                actuator_delay_s=g.actuator_delay_s(),
                margin_s=g.margin_ms / 1000,
                heartbeat_s=cfg.publisher.heartbeat_ms / 1000,
                missed_heartbeats=g.missed_heartbeats,
                resend_timeout_s=g.resend_timeout_ms / 1000,
                window_s=g.actuator_window_ms / 1000,
            ),
            cfg.station.id,
            test_reject,
        )
        self.outputs = Outputs(outputs)
        if registry is not None:  # the core's and the outputs' own counts, read at each scrape
            registry.register(GatewayCounts(self.core, outputs))
        self._poll_s = poll_s
        self._drop = drop  # tests only: simulate a message lost on the network
        self.decided = 0  # parts decided, for systemd's STATUS=
        plc_s = TIMEOUTS_BETWEEN_MARKS * g.modbus.timeout_s if g.output is GatewayOutputKind.MODBUS else 0.0
        self.stall_s = max(GATEWAY_STOP_S, plc_s + 1.0)  # no progress for longer is a hang, not a slow or silent PLC
        self._offset = time.time() - time.monotonic()  # the wall clock against the monotonic one: a change is a step
        self._told: bool | None = None  # the vision health the outputs were last told (None: not yet)
        self._told_stopped = False  # the stop's healthy coil 0 written (else _finish writes it, whatever ended the loop)
        self._hold_s = cfg.gateway.modbus.hold_ms / 1000 if cfg.gateway.output is GatewayOutputKind.MODBUS else 0.0
        self._keys, self._server_key = curve_keys(cfg)
        self._stream, self._resend_at = station_endpoints(cfg)
        # libzmq never dials again after a peer broke the protocol (a frame over MAX_MESSAGE) or refused its CURVE key
        self._redial_s = max(REDIAL_MIN_S, 4 * g.missed_heartbeats * cfg.publisher.heartbeat_ms / 1000)
        self._heard = time.monotonic()  # anything read from the stream, even junk: the connection is up
        self._redials = 0  # since the stream was last heard
        self._asked: float | None = None  # when a resend request was due with no reply since (monotonic)
        self._sub, self._resend = self._dial()
        super().__init__("gateway")
        log.info("gateway_started", stage="gateway", station=self._stream, resend=self._resend_at, delay_s=g.actuator_delay_s(),
                 curve=self._keys is not None, test_reject=test_reject or None)  # fmt: skip
        if test_reject:
            log.warning("test_reject", stage="gateway", every=test_reject,
                        why=f"part ids that divide by {test_reject} are rejected where they would pass: to time the actuator")  # fmt: skip

    def _dial(self) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes] | None]:
        """The stream's SUB socket and the resend DEALER, connected (libzmq dials in the background)."""
        sub = self._socket(zmq.SUB, self._stream)
        return sub, self._socket(zmq.DEALER, self._resend_at) if self._resend_at else None

    def _socket(self, kind: int, endpoint: str) -> zmq.Socket[bytes]:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = ctx.socket(kind)
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IPV6, int(is_ipv6(endpoint)))
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        sock.setsockopt(zmq.RECONNECT_IVL, 20)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        if self._keys is not None and self._server_key is not None:
            curve_client(sock, self._keys, self._server_key)
        sock.connect(endpoint)
        return sock

    def _redial_resend(self, poller: zmq.Poller) -> None:
        """A new resend DEALER when requests have gone unanswered for ``_redial_s`` while the stream is heard: a reply
        frame over MAX_MESSAGE broke the old one for good (libzmq never dials that peer again), and every gap after it was
        lost, each part rejected ``missing``."""
        assert self._resend is not None and self._resend_at is not None
        unanswered = round(time.monotonic() - (self._asked or 0.0), 1)
        log.warning("resend_redialled", stage="gateway", resend=self._resend_at, unanswered_s=unanswered)
        self._resend = self._remade(poller, self._resend, zmq.DEALER, self._resend_at)
        self._asked = None

    def _redial(self, poller: zmq.Poller) -> None:
        """New sockets when the stream has been silent for ``_redial_s``: a station that broke the protocol once, or was
        restarted with this gateway's key added, is heard again (vision is unhealthy meanwhile: the core saw no heartbeat)."""
        if not self._redials:  # once per silence: a station that is down is redialled every _redial_s, said once
            log.warning("station_redialled", stage="gateway", station=self._stream, silent_s=round(time.monotonic() - self._heard, 1))
        self._redials += 1
        self._sub = self._remade(poller, self._sub, zmq.SUB, self._stream)
        if self._resend is not None and self._resend_at:
            self._resend = self._remade(poller, self._resend, zmq.DEALER, self._resend_at)
        self._heard, self._asked = time.monotonic(), None

    def _remade(self, poller: zmq.Poller, old: zmq.Socket[bytes], kind: int, endpoint: str) -> zmq.Socket[bytes]:
        """A new socket of ``kind`` dialling ``endpoint`` in ``old``'s place, ``old`` closed, the poller told."""
        poller.unregister(old)
        old.close(0)
        sock = self._socket(kind, endpoint)
        poller.register(sock, zmq.POLLIN)
        return sock

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sub, zmq.POLLIN)
        if self._resend is not None:
            poller.register(self._resend, zmq.POLLIN)
        while not self._stop.is_set():
            self.last_progress = time.monotonic()
            now = self._now()
            due = self.core.next_due()
            wait = self._poll_s if due is None else min(self._poll_s, max(due - now, 0.0))
            for sock, _ in poller.poll(int(wait * 1000)):
                self._read(sock)
            if time.monotonic() - self._heard > self._redial_s:
                self._redial(poller)
            elif self._asked is not None and time.monotonic() - self._asked > self._redial_s:
                self._redial_resend(poller)
            now = self._now()
            self._send_resend_requests()
            self.core.tick(now)
            if self.core.healthy != self._told:
                self._told = self.core.healthy
                self.outputs.healthy(self._told, self.core.reason)
                self.last_progress = time.monotonic()
            self._write_decisions()
            if not self._stop.is_set():  # a stop's first word to the PLC is the healthy coil 0, never a 1 again
                self.outputs.tick(time.monotonic())  # the alive count's time: a step of the wall clock never stops it
        self.outputs.healthy(False, GatewayReason.GATEWAY_STOPPED)  # first: from now the PLC rejects every part, whatever comes after
        self._told_stopped, self._told = True, False
        read_by = time.monotonic() + STOP_READ_S  # the verdicts that came while the loop was held up (a slow PLC) when
        while self._read(self._sub) and time.monotonic() < read_by:  # the stop came: each its line (one batch: 256)
            pass
        self.core.stop(self._now())  # the parts still on their way to the actuator: rejected, each with its line
        self._write_decisions(time.monotonic() + STOP_WRITES_S)

    def _finish(self) -> None:
        """On every way out of the loop, a failure too (Worker keeps it in ``failed`` and logs ``stage_failed``): the PLC sees
        the healthy coil drop, then the outputs and sockets close, each tried whatever the one before did; the first of them
        to fail is the gateway's failure when the loop had none (exit 1, never a stop that looks clean)."""
        steps: list[Callable[[], None]] = [] if self._told_stopped else [lambda: self.outputs.healthy(False, GatewayReason.GATEWAY_STOPPED)]
        steps += [self.outputs.close, lambda: self._sub.close(0)]
        if (resend := self._resend) is not None:
            steps.append(lambda: resend.close(0))
        for step in steps:
            try:
                step()
            except Exception as exc:  # the rest are closed all the same
                log.error("stage_failed", stage=self.name, error=f"{type(exc).__name__}: {exc}", at="finish")
                self.failed = self.failed or exc

    def stop(self) -> None:
        """Stop the loop, and tell the outputs the time after which no part is sent: a part under way at a slow PLC stops
        before its next request then, never holding the stop past its bound (it waited for the loop's whole turn)."""
        super().stop()
        self.outputs.stopping(time.monotonic() + STOP_WRITES_S)

    def hung(self) -> str | None:
        """Why systemd's watchdog must not be pinged: the loop ended, or has made no progress (no turn, no part delivered or
        failed) for longer than one part's requests can take (an output blocked past every bound it has); None while it
        goes on."""
        if not self.is_alive():
            return "the gateway's loop ended"
        idle = time.monotonic() - self.last_progress
        return f"the gateway's loop has made no progress for {idle:.1f} s (an output is blocked)" if idle > self.stall_s else None

    def status(self) -> tuple[str, int]:
        """What systemd's STATUS= says: vision health as the PLC is told it, and the parts decided."""
        return ("vision healthy" if self.core.healthy else f"vision unhealthy ({self.core.reason})"), self.decided

    def _now(self) -> float:
        """The wall clock, which the station's timestamps are read against; a step in it (against the monotonic clock) is
        told to the core before any time read after it reaches the core."""
        now = time.time()
        if abs(step := now - time.monotonic() - self._offset) > CLOCK_STEP_S:
            self._offset += step
            self.core.clock_stepped(step, now)
        return now

    def _write_decisions(self, stop_by: float | None = None) -> None:
        """Each decision to the outputs, in order; one the PLC took only after its actuator time trips vision as one it
        never got does. At a stop (``stop_by``, the healthy coil already 0) the PLC is told no more parts after that time:
        a slow PLC held every pending part's line past the stop's bound (and the healthy coil at 1)."""
        while self.core.decisions and (stop_by is not None or not self._stop.is_set()):  # a stop takes the rest as its own
            d, told_late = self._as_it_stands(self.core.decisions.pop(0), self._now(), stop_by is not None)
            self.decided += 1
            if stop_by is not None and time.monotonic() > stop_by:
                self.outputs.stopping()
            delivered, now = self.outputs.part(d), self._now()
            if not delivered:  # the PLC never got this part's decision: vision trips, the healthy coil drops
                self.core.output_failed(d.part_id, now)
            elif not told_late and d.actuate_at is not None and d.decided_at <= d.actuate_at + self.core.t.window_s < now:  # slow PLC
                self.core.output_failed(d.part_id, now, now - d.actuate_at)
            if now < self.core.hold_until and self._told:  # tripped: the PLC is told before the next part's decision
                self._told = False
                self.outputs.healthy(False, self.core.fault.recovering())
            self.last_progress = time.monotonic()  # a slow PLC with many parts due is slow, not hung

    def _as_it_stands(self, d: PartDecision, now: float, stopping: bool) -> tuple[PartDecision, bool]:
        """A pass as it stands when it is written: a reject once the writes before it, and the PLC's hold after the last part
        (``gateway.modbus.hold_ms``), take it past its actuator time (the PLC too slow for the parts), once vision tripped
        since it was decided, or at a stop (the healthy coil is 0); and whether its lateness was told to the core. Passes
        decided together were all written as passes, late and with the healthy coil 1 (before 2026-12-07)."""
        if d.decision != Disposition.PASS:
            return d, False
        if stopping:
            return replace(d, decision=Disposition.REJECT, reason=GatewayReason.GATEWAY_STOPPED), False
        late = d.actuate_at is not None and now + self._hold_s > d.actuate_at + self.core.t.window_s
        if late and d.actuate_at is not None:
            self.core.output_failed(d.part_id, now, now + self._hold_s - d.actuate_at)
        unhealthy = now < self.core.hold_until
        return (replace(d, decision=Disposition.REJECT, reason=GatewayReason.VISION_UNHEALTHY) if unhealthy else d), late

    def _read(self, sock: zmq.Socket[bytes]) -> bool:
        """Up to READ_BATCH messages from ``sock``; True when it stopped at that count (more may be waiting)."""
        for _ in range(READ_BATCH):  # then the loop ticks, decides what is due, and comes back for the rest
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return False
            now = self._now()  # each message when it is read: a batch read late is not stamped early
            if sock is self._sub:
                self._heard, self._redials = time.monotonic(), 0
            if sock is self._resend:
                self._on_resend(frames, now)
                continue
            try:
                msg = read(frames)
            except (WireError, ValueError, TypeError, OverflowError, RecursionError) as exc:  # not the contract: never acted on
                self.core.ignore(str(exc) if isinstance(exc, WireError) else f"{type(exc).__name__}: {exc}")
                continue
            if self._drop is not None and self._drop(msg):
                continue
            self.core.receive(msg, now)
        return True

    def _on_resend(self, frames: list[bytes], now: float) -> None:
        if len(frames) < 2 or frames[0] != b"resend":
            self.core.ignore("a resend reply without its header")
            return
        try:
            head = ResendReply.decode(frames[1])
        except WireError as exc:
            self.core.ignore(f"resend reply: {exc}")
            return
        self._asked = None  # the station's resend socket answers
        if len(frames) != 2 + 2 * (head.count or 0):  # not read: 400k frames read one by one held the loop up for 0.7 s
            self.core.ignore(f"resend reply: {len(frames) - 2} frames after its header, where its count says {2 * (head.count or 0)}")
            return
        messages: list[Message] = []
        for i in range(2, len(frames) - 1, 2):
            try:
                messages.append(read(frames[i : i + 2]))
            except WireError as exc:  # that seq stays a gap: it times out, and vision is unhealthy
                self.core.ignore(f"resent message: {exc}")
        self.core.resent(head, messages, now)

    def _send_resend_requests(self) -> None:
        span = ResendRequest.MAX_SPAN
        for run_id, first, last in self.core.resend_requests:
            if self._resend is None:
                continue
            for a in range(first, last + 1, span):  # a long gap is asked for in requests of at most MAX_SPAN
                body = ResendRequest(run_id=run_id, first=a, last=min(last, a + span - 1)).encode()
                self._asked = self._asked or time.monotonic()  # answered, or the DEALER is remade (_redial_resend)
                try:
                    self._resend.send_multipart([b"resend", body], zmq.NOBLOCK)
                except zmq.Again:  # the station's resend socket is not there: the gap will time out
                    log.warning("resend_request_not_sent", stage="gateway", first=first, last=last)
                    break
        self.core.resend_requests.clear()


def curve_keys(cfg: Config) -> tuple[KeyPair | None, bytes | None]:
    """The gateway's own key pair and the station's public key, with CURVE on (None, None: off); ConfigError naming the key."""
    if not cfg.publisher.curve.enabled:
        return None, None
    server = load_public(cfg.gateway.curve_public_key_file, "gateway.curve_public_key_file")
    own = cfg.gateway.curve_secret_key_file
    return (load_secret(own, "gateway.curve_secret_key_file") if own is not None else ephemeral()), server


def station_endpoints(cfg: Config) -> tuple[str, str | None]:
    """Where the gateway connects: the station's stream and resend endpoints, given or as the station binds them (a
    wildcard host read as 127.0.0.1); ConfigError naming the key when the station binds a port chosen at its start."""
    g, p = cfg.gateway, cfg.publisher
    stream = g.station_endpoint or local_endpoint(p.endpoint)
    resend = g.resend_endpoint or (local_endpoint(p.resend_endpoint) if p.resend_endpoint else None)
    for key, endpoint in (("gateway.station_endpoint", stream), ("gateway.resend_endpoint", resend)):
        if endpoint is not None and endpoint.startswith("tcp://") and endpoint.endswith(":*"):
            raise ConfigError(key, f"the station binds {endpoint.rsplit(':', 1)[0]} on a port it chooses at start: give that port here")
        if endpoint is not None and endpoint.startswith("inproc://"):  # given here, the key's own check refused it already
            raise ConfigError(key, f"the station binds {endpoint}, which reaches only the station's own process: bind it on "
                                   "tcp://HOST:PORT or ipc://PATH, and give that here")  # fmt: skip
    return stream, resend


def build_outputs(cfg: Config, out: Path | None, registry: CollectorRegistry | None = None) -> list[Output]:
    """The PLC first (each part's coil is due at its actuator time), then the JSON-lines log, then (with ``registry``) the
    gateway's metrics."""
    outputs: list[Output] = [ModbusOutput(cfg.gateway.modbus)] if cfg.gateway.output is GatewayOutputKind.MODBUS else []
    return [*outputs, JsonLinesOutput(out), *([MetricsOutput(registry)] if registry is not None else [])]


def serve_metrics(cfg: Config) -> tuple[CollectorRegistry | None, MetricsServer | None]:
    """The gateway's registry and its /metrics server, on metrics.host:gateway.metrics_port; (None, None) when off."""
    if cfg.gateway.metrics_port is None:
        return None, None
    registry = CollectorRegistry()
    served = MetricsServer(cfg.metrics.host, cfg.gateway.metrics_port, registry, "gateway.metrics_port", "gateway")
    log.info("gateway_metrics", stage="gateway", url=f"http://{cfg.metrics.host}:{served.port}/metrics")
    return registry, served


def follow(gw: Gateway) -> int:
    """Run the gateway until SIGTERM (or its loop ends); exit 1 when it did not stop within ``GATEWAY_STOP_S`` or failed.
    Under systemd: READY=1 once it runs, the watchdog pinged while its loop turns, STOPPING=1 at the stop."""
    stop_s = GATEWAY_STOP_S
    notifier = Notifier()
    watchdog = Watchdog(notifier, gw.hung, gw.status)
    gw.start()
    notifier.send("READY=1")
    watchdog.start()
    while not SIGNALS.stop.wait(0.2) and gw.is_alive():
        pass
    notifier.send("STOPPING=1", "STATUS=stopping")
    gw.stop()
    gw.join(stop_s)
    watchdog.stop()
    watchdog.join(2.0)
    notifier.close()
    if gw.is_alive():  # its loop is stuck in a write (a PLC or an --out that takes no more): the healthy coil may still be 1
        say(f"station: error: gateway did not stop within {stop_s:g} s (an output is blocked); stopping anyway")
        return 1
    if gw.failed is not None:
        say(one_line(f"station: error: gateway failed: {type(gw.failed).__name__}: {gw.failed}"))
        return 1
    return 0
