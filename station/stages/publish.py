"""Publish stage: verdicts and heartbeats on a ZeroMQ PUB socket, and optionally to a file.

Wire format (docs/protocol.md): two frames, ``[topic, JSON]`` with topic ``verdict``,
``heartbeat`` or ``status``. Every message carries ``v``, ``station``, ``run_id``, ``seq`` (one
counter per run over all messages, from 1) and ``sent_at``. The socket is used only by this
stage's thread.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import structlog
import zmq

from station.config import PublisherSection
from station.errors import ConfigError
from station.files import append_line, open_out
from station.keys import ClientAllowList, KeyPair, bind_server, server_keys
from station.messages import CameraState, StationState, Verdict
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.resend import ResendServer, Ring
from station.stages.decision import finalise
from station.wire import Disposition, Heartbeat, Message, Status, VerdictMessage, frames, text

log = structlog.get_logger()
# the largest frame a subscriber may send (a subscription is a topic prefix and a flag byte, but CURVE's handshake commands
# come through this limit too: 256 bytes refused them); a peer that sends more is disconnected. libzmq keeps every
# subscription in a tree of about 50-100 bytes a byte: one 8 MB subscription cost the station 1 GB
MAX_SUBSCRIPTION_BYTES = 4096


@dataclass(frozen=True)
class Identity:
    """Who is speaking: the station, its effective config, and the model it started with."""

    station: str
    config: str  # hash of the effective configuration
    model: str  # the model at start; each verdict names the model that scored it


def to_message(v: Verdict, who: Identity, envelope: dict[str, Any], deadline_s: float, now: float) -> VerdictMessage:
    """The wire form of a finalised verdict; ``envelope`` is station, run_id, seq and sent_at."""
    c, w = v.circle, v.where  # a point that is not finite (a model's evidence overflowed) is not sent: strict JSON
    circle = (round(c.cx, 1), round(c.cy, 1), round(c.r, 1)) if c is not None and all(map(math.isfinite, (c.cx, c.cy, c.r))) else None
    where = w if w is not None and all(map(math.isfinite, w)) else None
    return VerdictMessage(
        **envelope,
        part_id=v.part_id,
        frame=v.frame,
        verdict=v.verdict,
        reason=v.reason,
        score=v.score,
        captured_at=v.captured_at,
        published_at=now,
        deadline_at=v.captured_at + deadline_s,
        model=v.model_id or who.model,
        config=who.config,
        detail=text(v.detail),
        circle=circle,
        image=text(v.name) if v.name is not None else None,
        where=where,
        shadow=v.shadow,
    )


class Publisher:
    """Handler for the publish stage, plus heartbeats from its idle hook.

    Each verdict is finalised here (:func:`station.stages.decision.finalise`: late, or a pass without a
    valid score), and that one :class:`Verdict` is what is sent, written to ``--out`` and handed to
    ``on_published`` (live page, archive) with its wire message.
    """

    def __init__(
        self,
        cfg: PublisherSection,
        who: Identity,
        metrics: Metrics,
        *,
        out: Path | None = None,
        camera: Callable[[], CameraState] = lambda: CameraState.CONNECTED,
        ring: Ring | None = None,
        keys: KeyPair | None = None,
        on_published: Callable[[Verdict, VerdictMessage], None] | None = None,
    ) -> None:
        self.run_id = secrets.token_hex(8)
        self.who = who
        self.ring = ring
        self._on_published = on_published
        self.metrics = metrics
        self.heartbeat_s = cfg.heartbeat_ms / 1000
        self.deadline_s = cfg.deadline_ms / 1000
        self.seq = 0
        self.verdicts = 0
        self._camera = camera
        self._next_beat = 0.0
        self._state = StationState.STARTING
        self._announced = False
        opts: dict[int, int] = {zmq.LINGER: cfg.linger_ms, zmq.SNDHWM: cfg.sndhwm, zmq.MAXMSGSIZE: MAX_SUBSCRIPTION_BYTES}
        self._sock, self.endpoint = bind_server(zmq.PUB, cfg.endpoint, "publisher.endpoint", keys, opts)
        self._out: IO[str] | None = None
        self.out_failing: str | None = None  # why the last --out write failed (health shows it); None while it works
        self._quiet = RateLimitedLog()
        if out is not None:
            try:
                self._out = open_out(out)
            except ConfigError:
                self._sock.close(0)
                raise

    def _envelope(self) -> dict[str, Any]:
        self.seq += 1
        return {"station": self.who.station, "run_id": self.run_id, "seq": self.seq, "sent_at": time.time()}

    def _send(self, msg: Message) -> None:
        parts = frames(msg)  # strict JSON: never NaN or Infinity
        if self.ring is not None:
            self.ring.add(msg.seq, *parts)
        # PUB never blocks: a subscriber whose SNDHWM queue is full loses this message (it sees
        # the gap in seq and asks for a resend); NOBLOCK makes that explicit
        self._sock.send_multipart(parts, flags=zmq.NOBLOCK)

    def __call__(self, decided: Verdict) -> list[None]:
        v = finalise(decided, time.monotonic(), self.deadline_s)
        msg = to_message(v, self.who, self._envelope(), self.deadline_s, time.time())
        self._send(msg)
        self.verdicts += 1
        self._write_out(msg)
        self.metrics.parts.labels(verdict=v.verdict, reason=v.reason.value).inc()
        self.metrics.latency_seconds.observe(time.monotonic() - v.captured_mono)
        self.metrics.last_verdict.set(msg.published_at)
        if v.shadow is not None:  # counted as published: a late verdict is compared as the reject it went out as
            self.metrics.shadow_parts.inc()
            if v.shadow.verdict != v.verdict:
                self.metrics.shadow_disagreements.labels(active=v.verdict, shadow=v.shadow.verdict).inc()
        if self._on_published is not None:
            self._on_published(v, msg)
        # one line per reject at info (journal searches by part_id / reason), passes only at debug
        emit = log.info if v.verdict is Disposition.REJECT else log.debug
        emit("part_verdict", stage="publish", part_id=v.part_id, frame=v.frame, verdict=v.verdict, reason=v.reason.value, score=v.score)
        self.beat()
        return []

    def _write_out(self, msg: VerdictMessage) -> None:
        """Append to ``--out``; a failing file (disk full, gone) is counted, logged and shown in health, never fatal."""
        if self._out is None:
            return
        try:
            append_line(self._out, msg.encode().decode() + "\n")
            if self.out_failing is not None:
                log.info("out_write_recovered", stage="publish", part_id=msg.part_id, was=self.out_failing)
            self.out_failing = None
        except (OSError, ValueError) as exc:
            self.out_failing = f"--out: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
            self.metrics.output_errors.inc()
            self._quiet.emit("out", "out_write_failed", level="error", stage="publish", part_id=msg.part_id, error=self.out_failing)

    def set_state(self, state: StationState) -> None:
        """Announce a station state change with a status message."""
        if state is not self._state or not self._announced:
            self._state, self._announced = state, True
            self.metrics.set_state(state)
            self._send(Status(**self._envelope(), state=state, camera=self._camera()))
            self._next_beat = 0.0

    def beat(self) -> None:
        """Send a heartbeat if one is due."""
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._quiet.tick()
        self._next_beat = now + self.heartbeat_s
        env = self._envelope()  # last_seq: the message before this one
        self._send(Heartbeat(**env, state=self._state, last_seq=env["seq"] - 1, verdicts=self.verdicts, camera=self._camera()))

    def close(self) -> None:
        self._quiet.flush()
        if self._out is not None:
            try:
                self._out.close()
            except OSError as exc:  # the last flush on a full disk: already counted per line
                log.error("out_close_failed", stage="publish", error=exc.strerror or str(exc))
            self._out = None
        self._sock.close()  # honours LINGER: bounded flush


class Outlet:
    """Everything the station sends out: the PUB publisher, its resend server and CURVE guard."""

    def __init__(
        self,
        cfg: PublisherSection,
        who: Identity,
        metrics: Metrics,
        *,
        out: Path | None = None,
        camera: Callable[[], CameraState] = lambda: CameraState.CONNECTED,
        on_published: Callable[[Verdict, VerdictMessage], None] | None = None,
    ) -> None:
        keys = server_keys(cfg.curve)
        self.allow = ClientAllowList(cfg.curve.clients_dir) if keys is not None and cfg.curve.clients_dir is not None else None
        ring = Ring(cfg.resend_buffer) if cfg.resend_endpoint else None
        self.resend: ResendServer | None = None
        try:
            self.publisher = Publisher(cfg, who, metrics, out=out, camera=camera, ring=ring, keys=keys, on_published=on_published)
            if cfg.resend_endpoint and ring is not None:
                try:
                    self.resend = ResendServer(cfg.resend_endpoint, ring, self.publisher.run_id, metrics, keys)
                except ConfigError:
                    self.publisher.close()
                    raise
        except ConfigError:
            if self.allow is not None:
                self.allow.stop()
            raise

    def start(self) -> None:
        if self.resend is not None:
            self.resend.start()

    def close(self) -> None:
        """After the publish stage ended: flush (bounded by LINGER), stop resend, stop the guard."""
        self.publisher.close()
        if self.resend is not None:
            self.resend.stop()
            self.resend.join(1.0)
        if self.allow is not None:
            self.allow.stop()
