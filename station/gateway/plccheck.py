"""``station gateway --check-plc``: before going live, is the PLC there, are the gateway's coils and registers mapped, and
is it quick enough? It only reads: a check never writes a coil or register (a changed event register is a part's
decision to the PLC)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from station.config_gateway import ModbusSection
from station.gateway.outputs import modbus_client

LATENCY_READS = 20  # reads of the event register timed, one after another
REQUESTS_PER_PART = 3  # the reject coil, the part register and the event register, each a request
ALIVE_WATCH_S = 5.0  # at most this long to see whether another gateway counts the alive register now
EXCEPTIONS = {1: "illegal function", 2: "illegal data address: not mapped", 3: "illegal data value", 4: "server device failure",
              6: "server busy", 10: "gateway path unavailable", 11: "gateway target device failed to respond"}  # fmt: skip


@dataclass(frozen=True)
class Probe:
    """One address read: ``value`` when the PLC answered with it, else ``error`` says why not."""

    key: str
    kind: str
    address: int
    value: int | None
    error: str | None


@dataclass(frozen=True)
class PlcCheck:
    reached: str | None  # None: connected; else why not
    probes: tuple[Probe, ...]
    latency_s: tuple[float, ...]  # each timed read that the PLC answered
    alive_moved: tuple[int, int] | None = None  # the alive register changed while the check watched it: a gateway runs

    @property
    def passed(self) -> bool:
        return self.reached is None and all(p.error is None for p in self.probes) and len(self.latency_s) == LATENCY_READS


def _read(client: Any, cfg: ModbusSection, kind: str, address: int) -> tuple[int | None, str | None]:
    fn = client.read_coils if kind == "coil" else client.read_holding_registers
    try:
        rr = fn(address, count=1, device_id=cfg.device_id)
    except Exception as exc:  # pymodbus raises its own and OS errors; all mean "not answered"
        return None, f"not answered: {type(exc).__name__}: {exc}"
    if rr.isError():
        code = getattr(rr, "exception_code", None)
        return None, f"refused: Modbus exception {code} ({EXCEPTIONS.get(code, 'unknown')})" if code else f"refused: {rr}"
    values = getattr(rr, "bits" if kind == "coil" else "registers", None)
    if not values:
        return None, "an answer without the value asked for"
    return int(values[0]), None


def check_plc(cfg: ModbusSection) -> PlcCheck:
    """Connect (bounded by ``timeout_s``), read each of the gateway's coils and registers once, then time reads of the
    event register."""
    client = modbus_client(cfg)
    try:
        try:
            connected = bool(client.connect())
        except Exception as exc:  # an address that cannot be resolved or reached
            connected, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = f"not reached within {cfg.timeout_s:g} s (a wrong address or port, nothing listening, or a firewall)"
        if not connected:
            return PlcCheck(f"cannot connect to {cfg.host}:{cfg.port}: {why}", (), ())
        addresses = [("reject_coil", "coil"), ("healthy_coil", "coil"), ("part_register", "register"),
                     ("alive_register", "register"), ("event_register", "register")]  # fmt: skip
        probes = tuple(Probe(key, kind, getattr(cfg, key), *_read(client, cfg, kind, getattr(cfg, key))) for key, kind in addresses)
        if any(p.error is not None for p in probes):
            return PlcCheck(None, probes, ())
        return PlcCheck(None, probes, _timed(client, cfg), _alive_moved(client, cfg, probes[3].value))
    finally:
        client.close()


def _timed(client: Any, cfg: ModbusSection) -> tuple[float, ...]:
    """Each of ``LATENCY_READS`` reads of the event register, one after another, until one is not answered."""
    latency: list[float] = []
    for _ in range(LATENCY_READS):
        start = time.monotonic()
        if _read(client, cfg, "register", cfg.event_register)[1] is not None:
            break
        latency.append(time.monotonic() - start)
    return tuple(latency)


def _alive_moved(client: Any, cfg: ModbusSection, first: int | None) -> tuple[int, int] | None:
    """The alive register read again two alive intervals (at most ``ALIVE_WATCH_S``) after ``first``: a changed value means a
    gateway drives this PLC now, and a second one would count the event register from under it."""
    time.sleep(min(2 * cfg.alive_ms / 1000, ALIVE_WATCH_S))
    now = _read(client, cfg, "register", cfg.alive_register)[0]
    return (first, now) if first is not None and now is not None and now != first else None


def report(cfg: ModbusSection, check: PlcCheck) -> list[str]:
    """The lines ``station gateway --check-plc`` prints, the verdict last."""
    where = f"PLC {cfg.host}:{cfg.port} (device {cfg.device_id})"
    if check.reached is not None:
        return [f"{where}: {check.reached}", "PLC check failed: not reached (nothing was written)"]
    lines = [f"{where}: connected"]
    for p in check.probes:
        said = f"reads {p.value}" if p.error is None else p.error
        lines.append(f"  gateway.modbus.{p.key} ({p.kind} {p.address}): {said}")
    if check.latency_s and len(check.latency_s) < LATENCY_READS:
        lines.append(f"  timed reads of the event register: {len(check.latency_s)} of {LATENCY_READS} answered")
    elif check.latency_s:
        median, slowest = statistics.median(check.latency_s), max(check.latency_s)
        per_part = REQUESTS_PER_PART * median
        lines.append(f"  {LATENCY_READS} reads of the event register: median {median * 1000:.1f} ms, slowest {slowest * 1000:.1f} ms "
                     f"(timeout_s {cfg.timeout_s:g} s)")  # fmt: skip
        rate = f", so at most about {1 / per_part:.0f} parts a second" if per_part > 0 else ""
        lines.append(f"  one part's decision is {REQUESTS_PER_PART} requests: about {per_part * 1000:.1f} ms{rate}")
    if check.alive_moved is not None:
        lines.append(f"  gateway.modbus.alive_register went from {check.alive_moved[0]} to {check.alive_moved[1]} during the check: "
                     "a gateway drives this PLC now (never run two on one PLC)")  # fmt: skip
    unanswered = [f"gateway.modbus.{p.key}" for p in check.probes if p.error is not None and not p.error.startswith("refused")]
    refused = [f"gateway.modbus.{p.key}" for p in check.probes if p.error is not None and p.error.startswith("refused")]
    if unanswered:
        lines.append(f"PLC check failed: {', '.join(unanswered)} not answered (no Modbus TCP server there, or it dropped the "
                     "connection); nothing was written")  # fmt: skip
    elif refused:
        lines.append(f"PLC check failed: {', '.join(refused)} refused (not mapped on the PLC, or another device id?); nothing was "
                     "written")  # fmt: skip
    elif len(check.latency_s) < LATENCY_READS:
        lines.append("PLC check failed: the PLC stopped answering (nothing was written)")
    else:
        lines.append("PLC check passed: every address read (nothing was written)")
    return lines
