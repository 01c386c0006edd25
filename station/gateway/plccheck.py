"""``station gateway --check-plc``: before going live, is the PLC there, are the gateway's coils and registers mapped, is
it quick enough, and is no other gateway driving it? It only reads, unless told to write each address back with the value
it holds (``--write-back``: write access and each function the gateway uses tried, no value changed; a changed event
register would be a part's decision to the PLC)."""

from __future__ import annotations

import socket
import statistics
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from station.config_gateway import ModbusSection
from station.endpoints import is_ip_address
from station.gateway.outputs import modbus_client, not_the_answer

LATENCY_READS = 20  # reads of the event register timed, one after another
REQUESTS_PER_PART = 3  # the reject coil, the part register and the event register, each a request (a decision block: one)
ALIVE_WATCH_S = 5.0  # at most this long to see whether another gateway counts the alive register now
EXCEPTIONS = {1: "illegal function", 2: "illegal data address: not mapped", 3: "illegal data value", 4: "server device failure",
              6: "server busy", 10: "gateway path unavailable", 11: "gateway target device failed to respond"}  # fmt: skip
FUNCTION = {"coil": 1, "register": 3}  # Modbus' read coils and read holding registers
WRITES = {"write_coil": 5, "write_register": 6, "write_registers": 16}  # the functions the gateway writes with


class Fault(StrEnum):
    """Why an address could not be read, each with what usually causes it (the report's last line)."""

    REFUSED = "refused"
    WRONG = "answered wrongly"
    SILENT = "not answered"
    DROPPED = "connection dropped"
    CHANGED = "changed during the check"  # --write-back: a value read again is not the one first read

    @property
    def hint(self) -> str:
        return {
            Fault.REFUSED: "each line names Modbus' exception: 2 is an address the PLC does not map; 4, 10 or 11 often another device_id",
            Fault.WRONG: "an answer to another request: not a Modbus PLC, or something in between mixing answers",
            Fault.SILENT: "no answer within timeout_s: another device_id, or a PLC slower than timeout_s",
            Fault.DROPPED: "no Modbus TCP server there, or it closes connections",
            Fault.CHANGED: "another writer: a gateway started, or a PLC program that writes the gateway's addresses (it must "
            "not); nothing more was written",
        }[self]


@dataclass(frozen=True)
class Probe:
    """One address read: ``value`` when the PLC answered with it, else ``fault`` and ``error`` say why not. For a write
    (--write-back), ``kind`` is its function's name and ``value`` None."""

    key: str
    kind: str
    address: int
    value: int | None
    fault: Fault | None = None
    error: str = ""


@dataclass(frozen=True)
class PlcCheck:
    reached: str | None  # None: connected; else why not
    probes: tuple[Probe, ...]
    latency_s: tuple[float, ...]  # each timed read that the PLC answered
    alive_moved: tuple[int, int] | None = None  # the alive register changed while the check watched it: a gateway runs
    written: tuple[Probe, ...] = ()  # --write-back: each write (of the value read), or the read again that stopped it

    @property
    def passed(self) -> bool:
        every = self.reached is None and all(p.fault is None for p in (*self.probes, *self.written))
        return every and len(self.latency_s) == LATENCY_READS and self.alive_moved is None


def _request(client: Any, cfg: ModbusSection, fn: str, address: int, *args: Any, **kw: Any) -> tuple[Any, Fault | None, str]:
    """One request's answer, or why there is none: not answered, the connection dropped, or refused (Modbus' exception)."""
    try:
        rr = getattr(client, fn)(address, *args, device_id=cfg.device_id, **kw)
    except Exception as exc:  # pymodbus raises its own and OS errors
        fault = Fault.SILENT if type(exc).__name__ == "ModbusIOException" else Fault.DROPPED  # a timeout; a closed connection
        return None, fault, f"{type(exc).__name__}: {exc}"
    if rr.isError():
        code = getattr(rr, "exception_code", None)
        return None, Fault.REFUSED, f"Modbus exception {code} ({EXCEPTIONS.get(code, 'unknown')})" if code else str(rr)
    return rr, None, ""


def _read(client: Any, cfg: ModbusSection, kind: str, address: int, count: int = 1) -> tuple[list[int] | None, Fault | None, str]:
    """``count`` coils or registers from ``address`` in one request (a decision block's four, as the gateway writes three),
    or why not."""
    rr, fault, error = _request(client, cfg, "read_coils" if kind == "coil" else "read_holding_registers", address, count=count)
    if rr is None:
        return None, fault, error
    values = getattr(rr, "bits" if kind == "coil" else "registers", None)
    if getattr(rr, "function_code", None) != FUNCTION[kind] or not values or len(values) < count:  # pymodbus does not check
        return None, Fault.WRONG, f"{type(rr).__name__} (function {getattr(rr, 'function_code', None)}) to a read of {kind}s"
    return [int(v) for v in values[:count]], None, ""


def _unresolved(host: str) -> str | None:
    """Why ``host``, a name, does not resolve (the system's resolver; a wrong name was said to be a PLC not reached in
    time); None for an address, or a name that resolves."""
    if is_ip_address(host):
        return None
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        return f"the name does not resolve ({getattr(exc, 'strerror', None) or exc}): give the PLC's address"
    return None


def check_plc(cfg: ModbusSection, write_back: bool = False) -> PlcCheck:
    """Connect (bounded by ``timeout_s``), read each of the gateway's coils and registers once, time reads of the event
    register, and read the alive register again a little later; with ``write_back``, once all that passed, write each
    address back with the value read from it (:func:`_written_back`)."""
    client = modbus_client(cfg)
    try:
        try:
            connected = bool(client.connect())
        except Exception as exc:  # an address that cannot be resolved or reached
            connected, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = _unresolved(cfg.host) or (
                f"not reached within {cfg.timeout_s:g} s (a wrong address or port, nothing listening, or a firewall)")  # fmt: skip
        if not connected:
            return PlcCheck(f"cannot connect to {cfg.host}:{cfg.port}: {why}", (), ())
        probes = _probes(client, cfg)
        if any(p.fault is not None for p in probes):
            return PlcCheck(None, probes, ())
        alive = next(p.value for p in probes if p.kind == "register" and p.address == cfg.alive_address())
        check = PlcCheck(None, probes, _timed(client, cfg), _alive_moved(client, cfg, alive))
        return replace(check, written=_written_back(client, cfg, probes)) if write_back and check.passed else check
    finally:
        client.close()


def _probes(client: Any, cfg: ModbusSection) -> tuple[Probe, ...]:
    """Each coil and register the gateway writes, read once: a key's addresses in one request (a decision block's four
    together, so that a block the PLC maps in two areas, which one request cannot write, fails here too)."""
    out: list[Probe] = []
    for kind, keys in cfg.used().items():
        for key, addresses in keys.items():
            values, fault, error = _read(client, cfg, kind, addresses[0], len(addresses))
            out += [Probe(key, kind, a, values[i] if values else None, fault, error) for i, a in enumerate(addresses)]
    return tuple(out)


def _writes(kind: str, key: str, addresses: list[int], values: list[int]) -> list[tuple[str, int, Any]]:
    """(function, address, value) of each write the gateway makes to ``key``'s addresses, the values ``values``: a decision
    block's first three registers in one request (function 16) and its alive count by itself, every other address by
    itself (function 5 or 6)."""
    if kind == "coil":
        return [("write_coil", a, bool(v)) for a, v in zip(addresses, values, strict=True)]
    if key == "decision_block":
        return [("write_registers", addresses[0], values[:3]), ("write_register", addresses[3], values[3])]
    return [("write_register", a, v) for a, v in zip(addresses, values, strict=True)]


def _written_back(client: Any, cfg: ModbusSection, first: tuple[Probe, ...]) -> tuple[Probe, ...]:
    """Key by key, its addresses read again and, only when they still hold what the check first read, written back at once
    with those values, as the gateway writes them: write access and each function it uses tried (function 16 for a decision
    block), no value changed, so the PLC sees no event (an event register written with the value it holds is none). A
    value that changed meanwhile (another writer) or a write not taken (its echo must name its function, address and
    value) stops the write-back there."""
    held = {(p.kind, p.address): p.value for p in first}
    out: list[Probe] = []
    for kind, keys in cfg.used().items():
        for key, addresses in keys.items():
            values, fault, error = _read(client, cfg, kind, addresses[0], len(addresses))
            if values is None or values != [held[kind, a] for a in addresses]:
                why = error or f"{[held[kind, a] for a in addresses]} when first read, {values} now"
                return (*out, Probe(key, "read", addresses[0], None, fault or Fault.CHANGED, why))
            for fn, address, value in _writes(kind, key, addresses, values):
                rr, fault, error = _request(client, cfg, fn, address, value)
                if rr is not None and (wrong := not_the_answer(fn, address, (value,), rr)):
                    fault, error = Fault.WRONG, wrong
                out.append(Probe(key, fn, address, None, fault, error))  # its value: the one read, written back
                if fault is not None:
                    return tuple(out)
    return tuple(out)


def _timed(client: Any, cfg: ModbusSection) -> tuple[float, ...]:
    """Each of ``LATENCY_READS`` reads of the event register, one after another, until one is not answered."""
    latency: list[float] = []
    for _ in range(LATENCY_READS):
        start = time.monotonic()
        if _read(client, cfg, "register", cfg.event_address())[1] is not None:
            break
        latency.append(time.monotonic() - start)
    return tuple(latency)


def _alive_moved(client: Any, cfg: ModbusSection, first: int | None) -> tuple[int, int] | None:
    """The alive register read again two alive intervals (at most ``ALIVE_WATCH_S``) after ``first``: a changed value means a
    gateway drives this PLC now, and a second one would count the event register from under it."""
    time.sleep(min(2 * cfg.alive_ms / 1000, ALIVE_WATCH_S))
    values = _read(client, cfg, "register", cfg.alive_address())[0]
    now = values[0] if values else None
    return (first, now) if first is not None and now is not None and now != first else None


def report(cfg: ModbusSection, check: PlcCheck) -> list[str]:
    """The lines ``station gateway --check-plc`` prints, the verdict last."""
    where = f"PLC {cfg.host}:{cfg.port} (device {cfg.device_id})"
    lines = [] if is_ip_address(cfg.host) else [f"note: {cfg.host} is a name: its lookup is not bounded by timeout_s; give an address"]
    if check.reached is not None:
        return [*lines, f"{where}: {check.reached}", "PLC check failed: not reached (nothing was written)"]
    lines.append(f"{where}: connected")
    for p in check.probes:
        said = f"reads {p.value}" if p.fault is None else f"{p.fault.value}: {p.error}"
        lines.append(f"  gateway.modbus.{p.key} ({p.kind} {p.address}): {said}")
    if cfg.decision_block is not None and check.probes and not check.written:
        lines.append(
            "  gateway.modbus.decision_block is written by function 16 (write multiple registers), which a check that "
            "writes nothing cannot try: --write-back tries it (a PLC that refuses it fails the first part)"
        )
    for p in check.written:
        said = "taken" if p.fault is None else f"{p.fault.value}: {p.error}"
        if p.kind in WRITES:
            lines.append(
                f"  gateway.modbus.{p.key} (function {WRITES[p.kind]} at {p.address}) written back with the value it holds: {said}"
            )
        else:  # read again just before its write, and not as first read: not written
            lines.append(f"  gateway.modbus.{p.key} ({p.address}) read again before its write: {said}; not written")
    lines += _timing(cfg, check.latency_s)
    if check.alive_moved is not None:
        lines.append(
            f"  the alive count (register {cfg.alive_address()}) went from {check.alive_moved[0]} to {check.alive_moved[1]} "
            "during the check"
        )
    return [*lines, _verdict(check)]


def _timing(cfg: ModbusSection, latency: tuple[float, ...]) -> list[str]:
    if not latency:
        return []
    if len(latency) < LATENCY_READS:
        return [f"  timed reads of the event register: {len(latency)} of {LATENCY_READS} answered"]
    median, slowest = statistics.median(latency), max(latency)
    hold = cfg.hold_ms / 1000  # each part's writes stay this long before the next part's (outputs.ModbusOutput)
    requests = REQUESTS_PER_PART if cfg.decision_block is None else 1
    typical, worst = requests * median + hold, requests * slowest + hold
    said = f"{requests} requests" if requests > 1 else "1 request (gateway.modbus.decision_block)"
    return [
        f"  {LATENCY_READS} reads of the event register: median {median * 1000:.1f} ms, slowest {slowest * 1000:.1f} ms "
        f"(timeout_s {cfg.timeout_s:g} s)",
        f"  one part's decision is {said} and hold_ms {cfg.hold_ms:g}: about {typical * 1000:.1f} ms, "
        f"{worst * 1000:.1f} ms at the slowest{f', so at most about {1 / worst:.0f} parts a second' if worst > 0 else ''}",
    ]


def _verdict(check: PlcCheck) -> str:
    written = "no value was changed" if check.written else "nothing was written"
    for fault in Fault:  # the first kind of fault found, with its usual cause
        keys = list(dict.fromkeys(f"gateway.modbus.{p.key}" for p in check.probes if p.fault is fault))  # a block's key once
        if keys:
            return f"PLC check failed: {', '.join(keys)} {fault.value} ({fault.hint}); nothing was written"
        if keys := list(dict.fromkeys(f"gateway.modbus.{p.key}" for p in check.written if p.fault is fault)):
            return f"PLC check failed: writing {', '.join(keys)} back {fault.value} ({fault.hint}); {written}"
    if len(check.latency_s) < LATENCY_READS:
        return "PLC check failed: the PLC stopped answering (nothing was written)"
    if check.alive_moved is not None:
        return "PLC check failed: a gateway drives this PLC now (its alive count moves): stop it first, never run two on one PLC"
    if check.written:
        return "PLC check passed: every address read, and written back as the gateway writes it (no value was changed)"
    return "PLC check passed: every address read (nothing was written)"
