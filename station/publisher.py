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
from pathlib import Path
from typing import IO, Any

import structlog
import zmq

from station.config import PublisherSection
from station.decision import valid_score
from station.errors import ConfigError
from station.keys import ClientAllowList, KeyPair, bind_server, server_keys
from station.messages import Reason, Verdict
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.resend import ResendServer, Ring
from station.wire import PROTOCOL_VERSION, encode

log = structlog.get_logger()


class Publisher:
    """Handler for the publish stage, plus heartbeats from its idle hook."""

    def __init__(
        self,
        endpoint: str,
        station_id: str,
        model_id: str,
        config_hash: str,
        metrics: Metrics,
        heartbeat_s: float = 0.25,
        deadline_s: float = 0.5,
        linger_ms: int = 1000,
        sndhwm: int = 10000,
        out: Path | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        ring: Ring | None = None,
        keys: KeyPair | None = None,
        on_published: Callable[[Verdict, dict[str, Any]], None] | None = None,
    ) -> None:
        self.run_id = secrets.token_hex(8)
        self.ring = ring
        self._on_published = on_published
        self.station_id = station_id
        self.model_id = model_id
        self.config_hash = config_hash
        self.metrics = metrics
        self.heartbeat_s = heartbeat_s
        self.deadline_s = deadline_s
        self.seq = 0
        self.verdicts = 0
        self._health = health or (lambda: {})
        self._next_beat = 0.0
        self._state = ""
        self._sock, self.endpoint = bind_server(zmq.PUB, endpoint, "publisher.endpoint", keys, {zmq.LINGER: linger_ms, zmq.SNDHWM: sndhwm})
        self._out: IO[str] | None = None
        self.out_failing: str | None = None  # why the last --out write failed (health shows it); None while it works
        self._quiet = RateLimitedLog()
        if out is not None:
            try:
                self._out = out.open("a", encoding="utf-8")
            except OSError as exc:
                self._sock.close(0)
                raise ConfigError("--out", f"{out}: cannot open for writing: {exc.strerror or exc}") from None

    def _send(self, topic: str, body: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        msg = {"v": PROTOCOL_VERSION, "station": self.station_id, "run_id": self.run_id, "seq": self.seq, "sent_at": time.time(), **body}
        frames = [topic.encode(), encode(msg)]  # strict JSON: never NaN or Infinity
        if self.ring is not None:
            self.ring.add(self.seq, *frames)
        # PUB never blocks: a subscriber whose SNDHWM queue is full loses this message (it sees
        # the gap in seq and asks for a resend); NOBLOCK makes that explicit
        self._sock.send_multipart(frames, flags=zmq.NOBLOCK)
        return msg

    def __call__(self, v: Verdict) -> list[None]:
        now_mono, now = time.monotonic(), time.time()
        verdict, reason, detail = v.verdict, v.reason, v.detail
        if verdict == "pass" and (v.reason is not Reason.OK or v.score is None or not valid_score(v.score)):
            verdict, reason, detail = "reject", Reason.ERROR, f"a pass without a valid score ({v.score!r}) is never published"
        if now_mono - v.captured_mono > self.deadline_s:
            verdict, reason, detail = "reject", Reason.LATE, f"{v.reason.value} after deadline: {detail}"
        body = {
            "part_id": v.part_id,
            "frame": v.frame,
            "verdict": verdict,
            "reason": reason.value,
            "score": v.score if v.score is not None and math.isfinite(v.score) else None,
            "captured_at": v.captured_at,
            "published_at": now,
            "deadline_at": v.captured_at + self.deadline_s,
            "model": v.model_id or self.model_id,
            "config": self.config_hash,
            "detail": detail,
        }
        if v.circle is not None and all(math.isfinite(x) for x in (v.circle.cx, v.circle.cy, v.circle.r)):
            body["circle"] = [round(v.circle.cx, 1), round(v.circle.cy, 1), round(v.circle.r, 1)]
        if v.name is not None:
            body["image"] = v.name
        msg = self._send("verdict", body)
        self.verdicts += 1
        self._write_out(msg)
        self.metrics.parts.labels(verdict=verdict, reason=reason.value).inc()
        self.metrics.latency_seconds.observe(time.monotonic() - v.captured_mono)
        self.metrics.last_verdict.set(now)
        if self._on_published is not None:
            self._on_published(v, msg)
        # one line per reject at info (journal searches by part_id / reason), passes only at debug
        emit = log.info if verdict == "reject" else log.debug
        emit("part_verdict", stage="publish", part_id=v.part_id, frame=v.frame, verdict=verdict, reason=reason.value, score=v.score)
        self.beat()
        return []

    def _write_out(self, msg: dict[str, Any]) -> None:
        """Append to ``--out``; a failing file (disk full, gone) is counted, logged and shown in health, never fatal."""
        if self._out is None:
            return
        try:
            self._out.write(encode(msg).decode() + "\n")
            self._out.flush()
            if self.out_failing is not None:
                log.info("out_write_recovered", stage="publish", part_id=msg.get("part_id"), was=self.out_failing)
            self.out_failing = None
        except (OSError, ValueError) as exc:
            self.out_failing = f"--out: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
            self.metrics.output_errors.inc()
            self._quiet.emit("out", "out_write_failed", level="error", stage="publish", part_id=msg.get("part_id"), error=self.out_failing)

    def set_state(self, state: str) -> None:
        """Announce a station state change with a status message."""
        if state != self._state:
            self._state = state
            self.metrics.set_state(state)
            self._send("status", {"state": state, **self._health()})
            self._next_beat = 0.0

    def beat(self) -> None:
        """Send a heartbeat if one is due."""
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._quiet.tick()
        self._next_beat = now + self.heartbeat_s
        self._send("heartbeat", {"state": self._state, "last_seq": self.seq, "verdicts": self.verdicts, **self._health()})

    def close(self) -> None:
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
        station_id: str,
        model_id: str,
        config_hash: str,
        metrics: Metrics,
        out: Path | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        on_published: Callable[[Verdict, dict[str, Any]], None] | None = None,
    ) -> None:
        keys = server_keys(cfg.curve)
        self.allow = ClientAllowList(cfg.curve.clients_dir) if keys is not None and cfg.curve.clients_dir is not None else None
        ring = Ring(cfg.resend_buffer) if cfg.resend_endpoint else None
        self.resend: ResendServer | None = None
        try:
            self.publisher = Publisher(
                cfg.endpoint,
                station_id,
                model_id,
                config_hash,
                metrics,
                heartbeat_s=cfg.heartbeat_ms / 1000,
                deadline_s=cfg.deadline_ms / 1000,
                linger_ms=cfg.linger_ms,
                sndhwm=cfg.sndhwm,
                out=out,
                health=health,
                ring=ring,
                keys=keys,
                on_published=on_published,
            )
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
