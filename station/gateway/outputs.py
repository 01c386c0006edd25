"""Where the gateway's decisions go: a JSON-lines log, or a PLC over Modbus TCP.

Every output implements :class:`Output`. The Modbus adapter writes one reject coil per part, then
the part id into a holding register, then counts an event register up (on from the value the PLC
holds), so that the PLC sees a new event for every part, even when a part id comes again after a
restart; it holds a healthy coil, and counts an alive register up only while the healthy coil is
written, so that the PLC can tell a stalled gateway from a healthy one. Every request is bounded
by ``timeout_s``; a PLC that does not answer is logged (at most once every 10 s, with a count)
and retried every ``alive_ms``; until it answers again, parts are not sent to it at all (each is
a failed delivery at once, not a timeout per part that would hold up the decisions behind it).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Protocol

import structlog

from station.config_gateway import ModbusSection
from station.errors import ConfigError
from station.files import append_line, open_out
from station.gateway.reasons import PartDecision
from station.ratelog import RateLimitedLog
from station.wire import Disposition

log = structlog.get_logger()


class Output(Protocol):
    def part(self, d: PartDecision) -> bool:
        """Deliver one part's decision; False when it did not arrive (the gateway then trips vision)."""
        ...

    def healthy(self, ok: bool, reason: str) -> None: ...

    def tick(self, now: float) -> None:
        """Called every turn of the gateway's loop; ``now`` is monotonic time (the alive count's: timed on the wall clock, a
        step back of the clock stopped it, and the PLC rejected every part until the clock caught up)."""

    def stopping(self, at: float | None = None) -> None:
        """The gateway is stopping, the healthy coil down: parts after monotonic time ``at`` (None: now) need not reach a
        slow device, nor the rest of a part under way then."""

    def close(self) -> None: ...


class JsonLinesOutput:
    """One JSON line per part to a file (appended) or stdout."""

    def __init__(self, path: Path | None) -> None:
        self._own = path is not None
        self.failed_writes = 0
        self._quiet = RateLimitedLog()
        self._f: IO[str] = open_out(path) if path is not None else sys.stdout

    def part(self, d: PartDecision) -> bool:
        """One line; a write that fails (a full disk, a closed pipe) is logged and counted, and the PLC output goes on (a log
        line lost is not a part lost: True either way)."""
        try:
            append_line(self._f, json.dumps(d.as_dict()) + "\n")
        except (OSError, ValueError) as exc:  # ValueError: the file was closed under us
            self.failed_writes += 1
            self._quiet.emit("out", "out_write_failed", level="error", stage="gateway", part_id=d.part_id, error=str(exc))
        return True

    def healthy(self, ok: bool, reason: str) -> None:
        pass  # health changes are in the log

    def tick(self, now: float) -> None:
        self._quiet.tick()  # the count of failed lines held back

    def stopping(self, at: float | None = None) -> None:
        pass  # every part's line is written, to the end

    def close(self) -> None:
        self._quiet.flush()
        if self._own:
            try:
                self._f.close()
            except OSError as exc:  # the last buffered line could not be written either: said, and the stop goes on
                log.error("out_write_failed", stage="gateway", error=str(exc), at="close")


def modbus_client(cfg: ModbusSection) -> Any:
    """A pymodbus TCP client for the PLC, not yet connected: every request bounded by ``timeout_s``, never retried (a retry
    is the caller's, at its next part or tick)."""
    try:
        from pymodbus.client import ModbusTcpClient
    except ImportError:
        raise ConfigError("gateway.output", "modbus needs pymodbus: pip install 'casting-station[modbus]'") from None
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its failures are ours to log, once per 10 s, as JSON
    return ModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0, reconnect_delay=0)


ANSWERS = {"write_coil": (5, "bits"), "write_register": (6, "registers"), "read_holding_registers": (3, "registers"),
           "write_registers": (16, "count")}  # fmt: skip  # function 16 echoes the address and how many it wrote


def not_the_answer(fn: str, address: int, args: tuple[Any, ...], rr: Any) -> str:
    """Why ``rr`` is not the PLC's answer to this request ("" when it is): pymodbus matches an answer to its request by
    transaction id alone. A write is done only when its echo names the same function, address and value (a PLC that
    answers a reject coil's write with another function's answer, or echoes 0, kept the coil as the last part left it)."""
    code, field = ANSWERS[fn]
    values = getattr(rr, field, None)
    got = f"{type(rr).__name__} (function {getattr(rr, 'function_code', None)})"
    if getattr(rr, "function_code", None) != code or not values:
        return f"{got}: not the answer to a {fn} (function {code})"
    if fn == "write_registers":  # its echo is the address and the count, not the values
        if (getattr(rr, "address", None), values) == (address, len(args[0])):
            return ""
        return f"{got}: echoed {values!r} registers at {getattr(rr, 'address', None)}, not {len(args[0])} at {address}: not taken"
    if fn.startswith("write") and (getattr(rr, "address", None) != address or values[0] != args[0]):
        return f"{got}: echoed {values[0]!r} at {getattr(rr, 'address', None)}, not {args[0]!r} at {address}: the write was not taken"
    return ""


class ModbusOutput:
    """Coils and registers on a PLC that is a Modbus TCP server (pymodbus client)."""

    def __init__(self, cfg: ModbusSection) -> None:
        self.cfg = cfg
        self._client: Any = modbus_client(cfg)
        self._ok = False
        self._alive = 0
        self._next_alive = 0.0
        self._event: int | None = None  # the event register's value as last written; None: read it from the PLC first
        self._quiet = RateLimitedLog()
        self.failed_requests = 0
        self._down = False  # a request failed: parts are not tried (not waited on) until tick() reaches the PLC again
        self.skipped_parts = 0
        self._held_until = 0.0  # monotonic: the last part's decision stays on the PLC until then (hold_ms)
        self._stop_at = math.inf  # monotonic: no part is sent from then on (stopping)

    def _call(self, what: str, fn: str, address: int, *args: Any) -> Any | None:
        """One request's response, or None when the PLC was not reached or refused it (logged, counted)."""
        try:
            if not self._client.connected and not self._client.connect():
                raise ConnectionError(f"cannot connect to {self.cfg.host}:{self.cfg.port}")
            rr = getattr(self._client, fn)(address, *args, device_id=self.cfg.device_id)
            if rr.isError():
                raise ConnectionError(str(rr))
            if wrong := not_the_answer(fn, address, args, rr):
                raise ConnectionError(wrong)
            self._down = False
            return rr
        except Exception as exc:  # pymodbus raises its own and OS errors; all mean "PLC not reached"
            self.failed_requests += 1
            self._down = True
            self._event = None  # a PLC that restarted may hold any value now: read it again before the next part
            error = f"{type(exc).__name__}: {exc}"
            self._quiet.emit(what, "modbus_write_failed", level="error", keep=("what", "address"), stage="gateway", what=what,
                             address=address, error=error)  # fmt: skip
            self._client.close()
            return None

    def part(self, d: PartDecision) -> bool:
        """The reject coil, the part register, then the event register the PLC latches them on (with ``decision_block``: the
        three in one request); False when any failed. The next part's coil waits ``hold_ms`` after this part's event:
        written back to back, a PLC scan between the next coil and its event saw this part's event with the next part's
        coil, and a defect followed by a pass was latched as a pass (before 2026-12-07; a PLC answering in 3 ms, scanning
        every 10 ms: 1 to 7 defects in 10). A block written in one request leaves no such scan; the hold still lets each
        event be scanned before the next."""
        m = self.cfg
        if self._down or self._stopped():  # not waited on part after part: the decisions behind it are due too (vision trips)
            self.skipped_parts += 1
            self._quiet.emit("down", "modbus_part_skipped", level="error", stage="gateway", part_id=d.part_id, why="PLC not reached")
            return False
        if (wait := self._held_until - time.monotonic()) > 0:  # the last part's event must be scanned with its own coil
            time.sleep(wait)
        reject, pid = int(d.decision is not Disposition.PASS), d.part_id % 65536
        event = self._plain(reject, pid) if m.decision_block is None else self._block(m.decision_block, reject, pid)
        if event is None:
            return False  # a failed request made _call forget the event's value: it is read again before the next part
        self._event = event
        self._held_until = time.monotonic() + m.hold_ms / 1000
        return True

    def _plain(self, reject: int, pid: int) -> int | None:
        """The reject coil, the part register, then the event register, each a request; the event written, or None."""
        m = self.cfg
        if self._call("reject_coil", "write_coil", m.reject_coil, bool(reject)) is None or self._stopped():
            return None
        if self._call("part_register", "write_register", m.part_register, pid) is None or self._stopped():
            return None
        if (event := self._next_event()) is None:
            return None
        return event if self._call("event_register", "write_register", m.event_register, event) is not None else None

    def _block(self, block: int, reject: int, pid: int) -> int | None:
        """The decision, the part id and the event in one request at ``block``; the event written, or None."""
        if (event := self._next_event()) is None:
            return None
        sent = self._call("decision_block", "write_registers", block, [reject, pid, event])
        return event if sent is not None else None

    def _next_event(self) -> int | None:
        """The event count's next value, on from what the PLC holds where it is not known (a new gateway, a failed
        request: whatever an earlier gateway left there); None when the PLC was not read."""
        if self._event is None:
            held = self._call(self.cfg.written_as("event_register"), "read_holding_registers", self.cfg.event_address())
            if held is None:
                return None
            self._event = int(held.registers[0])
        return self._event % 65535 + 1  # 1 to 65535, then 1: never 0, the value a PLC's registers start from

    def stopping(self, at: float | None = None) -> None:
        """Parts from monotonic time ``at`` (None: now) are not sent (each a failed delivery at once, its line ``delivered:
        false``), and a part under way then stops before its next request (its event never written: the PLC never takes
        it): the healthy coil is 0. Set from the thread that stops the gateway, so that a slow PLC cannot hold the stop."""
        self._stop_at = min(self._stop_at, time.monotonic() if at is None else at)

    def _stopped(self) -> bool:
        return time.monotonic() >= self._stop_at

    @property
    def reachable(self) -> bool:
        """The PLC answered the gateway's last request (the healthy coil is written every alive_ms)."""
        return not self._down

    def healthy(self, ok: bool, reason: str) -> None:
        self._ok = ok
        self._call("healthy_coil", "write_coil", self.cfg.healthy_coil, ok)

    def tick(self, now: float) -> None:
        """Every alive_ms: the healthy coil again, then, only if it was written, the alive count (a count that goes on
        while the coil cannot be written would tell the PLC that a stale coil is current)."""
        self._quiet.tick()
        if now < self._next_alive:
            return
        self._next_alive = now + self.cfg.alive_ms / 1000
        if self._call("healthy_coil", "write_coil", self.cfg.healthy_coil, self._ok) is not None:
            self._alive = (self._alive + 1) % 65536
            self._call(self.cfg.written_as("alive_register"), "write_register", self.cfg.alive_address(), self._alive)

    def close(self) -> None:
        self._ok = False
        self._call("healthy_coil", "write_coil", self.cfg.healthy_coil, False)
        self._quiet.flush()
        self._client.close()


class Outputs:
    """Fan one decision out to several outputs."""

    def __init__(self, outputs: list[Output]) -> None:
        self.outputs = outputs

    def part(self, d: PartDecision) -> bool:
        """Every output is told, in order; True only when every one delivered it. Once one has not, the rest (the log
        last) are told so: the line of a part the PLC never got says ``delivered: false``."""
        delivered = True
        for o in self.outputs:
            delivered = o.part(d if delivered else replace(d, delivered=False)) and delivered
        return delivered

    def healthy(self, ok: bool, reason: str) -> None:
        for o in self.outputs:
            o.healthy(ok, reason)

    def tick(self, now: float) -> None:
        for o in self.outputs:
            o.tick(now)

    def stopping(self, at: float | None = None) -> None:
        for o in self.outputs:
            o.stopping(at)

    def close(self) -> None:
        for o in self.outputs:
            o.close()
