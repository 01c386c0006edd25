"""The reference PLC gateway's config section (``gateway.*``): tracking to the actuator, the outputs, the PLC over Modbus."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from station.config_base import Contradiction, Section
from station.endpoints import check_connectable, check_host, is_ip_address

GATEWAY_STOP_S = 5.0  # station gateway exits 1 when its loop has not stopped this long after SIGTERM (blocked in an output)
DELAY_MS = (1, 600000)  # gateway.actuator_delay_ms's range, and so the time to the actuator by distance over speed


class Tracking(StrEnum):
    DELAY = "delay"
    DISTANCE = "distance"


class GatewayOutputKind(StrEnum):
    LOG = "log"
    MODBUS = "modbus"


REPLACED_REGISTERS = ("part_register", "event_register", "alive_register")  # the registers a decision block writes instead
REPLACED = ("reject_coil", *REPLACED_REGISTERS)  # and the coil


class ModbusSection(Section):
    host: str = Field("127.0.0.1", min_length=1, description="PLC (Modbus TCP server) address.")
    port: int = Field(502, ge=1, le=65535, description="PLC Modbus TCP port.")
    device_id: int = Field(1, ge=0, le=255, description="Modbus unit / device id.")
    reject_coil: int = Field(0, ge=0, le=65535, description="Coil written per part: 1 reject, 0 pass.")
    healthy_coil: int = Field(1, ge=0, le=65535, description="Coil held at 1 only while the vision system is healthy.")
    part_register: int = Field(0, ge=0, le=65535, description="Holding register set to the part id (mod 65536) after each reject coil.")
    alive_register: int = Field(
        1, ge=0, le=65535, description="Holding register counted up every alive_ms; the PLC treats a stalled count as unhealthy."
    )
    event_register: int = Field(
        2,
        ge=0,
        le=65535,
        description="Holding register counted up after each part's coil and part register, on from the value the PLC holds "
        "(1 to 65535, then 1: never 0): the PLC latches the reject coil when it changes (a part id may repeat; this never does).",
    )
    decision_block: int | None = Field(
        None,
        ge=0,
        le=65532,
        description="N: each part's decision is holding registers N (1 reject, 0 pass), N+1 (the part id mod 65536) and N+2 "
        "(the event count), written together by one request (function 16), so that no scan sees one part's event with "
        "another's decision; the alive count is N+3. reject_coil, part_register, event_register and alive_register are "
        "then not used, so that a PLC programmed for the other layout sees no alive count. null: those, a request each.",
    )
    alive_ms: int = Field(200, ge=20, le=10000, description="Interval of the alive count and of re-asserting the healthy coil.")
    timeout_s: float = Field(0.5, gt=0, le=10, description="Bound on one Modbus request.")
    hold_ms: int = Field(
        20,
        ge=0,
        le=50,  # two parts due together are then still within the default actuator_window_ms (100)
        description="Each part's decision stays on the PLC at least this long before the next part's reject coil is written: "
        "at least the PLC's scan time (a scan between the next coil and its event would latch that coil for this part).",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        """An IP address or a host name as DNS writes it; anything else (a space, a NUL, a URL) is a mistake, and so is an
        address no one PLC can have (0.0.0.0, a broadcast or a multicast group: a connect to it fails, or reaches whoever)."""
        v = check_host(v)
        ip = ipaddress.ip_address(v) if is_ip_address(v) else None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:  # ::ffff:0.0.0.0 is 0.0.0.0
            ip = ip.ipv4_mapped
        if ip is not None and (ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255")):
            raise ValueError(f"{v} is no one device's address (unspecified, broadcast or multicast): give the PLC's own")
        return v

    def event_address(self) -> int:
        """The holding register the event count is in: ``event_register``, or a decision block's third."""
        return self.event_register if self.decision_block is None else self.decision_block + 2

    def written_as(self, key: str) -> str:
        """The key a write for ``key`` is logged and counted under: the decision block where it replaces ``key``."""
        return "decision_block" if self.decision_block is not None and key in REPLACED else key

    def alive_address(self) -> int:
        """The holding register the alive count is in: ``alive_register``, or a decision block's fourth."""
        return self.alive_register if self.decision_block is None else self.decision_block + 3

    def used(self) -> dict[str, dict[str, list[int]]]:
        """The coils and the holding registers the gateway writes, by key: a decision block's four registers, or the
        reject coil and the part, alive and event registers."""
        n = self.decision_block
        if n is None:
            coils = {"reject_coil": [self.reject_coil], "healthy_coil": [self.healthy_coil]}
            return {"coil": coils, "register": {k: [getattr(self, k)] for k in ("part_register", "alive_register", "event_register")}}
        return {"coil": {"healthy_coil": [self.healthy_coil]}, "register": {"decision_block": [n, n + 1, n + 2, n + 3]}}

    @model_validator(mode="after")
    def _one_address_each(self) -> ModbusSection:
        """Two outputs on one coil or one register would overwrite each other (a reject read as health). A decision block
        never lies over the registers it replaces: a PLC still programmed for them would read its part id as the alive
        count and its event count as the event, with the reject coil never written: every part would pass."""
        if (n := self.decision_block) is not None:
            for key in REPLACED_REGISTERS:
                if n <= (address := getattr(self, key)) <= n + 3:
                    raise Contradiction("gateway.modbus.decision_block", f"registers {n} to {n + 3} take in gateway.modbus."
                                        f"{key} ({address}): a PLC programmed for it would read the block as its own; set the "
                                        "block apart")  # fmt: skip
        for kind, keys in self.used().items():
            seen: dict[int, str] = {}
            for key, addresses in keys.items():
                for address in addresses:
                    if address in seen:
                        raise Contradiction(f"gateway.modbus.{key}", f"{kind} {address} is already gateway.modbus.{seen[address]}")
                    seen[address] = key
        return self


class GatewaySection(Section):
    station_endpoint: str | None = Field(
        None, description="The station's PUB endpoint to connect to (null: publisher.endpoint, with a wildcard host read as 127.0.0.1)."
    )
    resend_endpoint: str | None = Field(
        None, description="The station's resend endpoint (null: publisher.resend_endpoint, wildcard host read as 127.0.0.1)."
    )
    tracking: Tracking = Field(Tracking.DELAY, description="delay: a fixed time from capture to actuator; distance: distance / belt speed.")
    actuator_delay_ms: int = Field(1500, ge=DELAY_MS[0], le=DELAY_MS[1], description="Capture to actuator time (tracking: delay).")
    actuator_distance_mm: float | None = Field(None, gt=0, description="Camera to actuator distance along the belt (tracking: distance).")
    belt_speed_mm_s: float | None = Field(None, gt=0, description="Belt speed (tracking: distance).")
    margin_ms: int = Field(20, ge=0, le=60000, description="A verdict must arrive at least this long before the actuator time.")
    actuator_window_ms: int = Field(
        100,
        ge=5,
        le=1000,
        description="A part's decision made, or taken by the PLC, more than this after its actuator time is late: a pass then "
        "goes as a reject and vision trips. At most the time the actuator can still reach its part: half the gap between two "
        "parts, in time, on a fast belt.",
    )
    resend_timeout_ms: int = Field(300, ge=1, le=60000, description="A gap not filled by resend within this is unrecovered.")
    missed_heartbeats: int = Field(3, ge=1, le=100, description="Heartbeat intervals of silence after which vision is unhealthy.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="The gateway's own Prometheus /metrics, on metrics.host (null: none; 0: a free port)."
    )
    curve_public_key_file: Path | None = Field(None, description="The station's public key file (required when publisher.curve.enabled).")
    curve_secret_key_file: Path | None = Field(
        None, description="This gateway's own secret key file (null: a fresh key pair per start; set it when the station lists clients)."
    )
    output: GatewayOutputKind = Field(
        GatewayOutputKind.LOG, description="log: decisions only in the log and --out; modbus: also drive PLC coils."
    )
    modbus: ModbusSection = Field(ModbusSection(), description="The PLC, when output is modbus.")

    @field_validator("station_endpoint", "resend_endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        return None if v is None else check_connectable(v)

    @model_validator(mode="after")
    def _distance(self) -> GatewaySection:
        if self.tracking is Tracking.DISTANCE and (self.actuator_distance_mm is None or self.belt_speed_mm_s is None):
            missing = "actuator_distance_mm" if self.actuator_distance_mm is None else "belt_speed_mm_s"
            raise Contradiction(f"gateway.{missing}", "tracking: distance needs actuator_distance_mm and belt_speed_mm_s")
        delay = self.actuator_delay_s()
        if not DELAY_MS[0] / 1000 <= delay <= DELAY_MS[1] / 1000:  # actuator_delay_ms's own range
            raise Contradiction(
                "gateway.actuator_distance_mm",
                f"{self.actuator_distance_mm} mm at belt_speed_mm_s {self.belt_speed_mm_s} is {delay:.3g} s to the actuator, "
                f"outside {DELAY_MS[0] / 1000:g}-{DELAY_MS[1] / 1000:g} s",
            )
        if self.output is GatewayOutputKind.MODBUS and 2 * self.modbus.hold_ms > self.actuator_window_ms:
            raise Contradiction("gateway.actuator_window_ms", f"{self.actuator_window_ms} ms is under twice gateway.modbus.hold_ms "
                                f"({self.modbus.hold_ms} ms): the second of two parts due together would be late")  # fmt: skip
        if self.margin_ms >= delay * 1000:  # a verdict is late after capture + delay - margin: before any could come
            raise Contradiction(
                "gateway.margin_ms",
                f"{self.margin_ms} ms is not under the {delay * 1000:.0f} ms from capture to the actuator: every verdict would come "
                "too late, and every part would be rejected",
            )
        return self

    def actuator_delay_s(self) -> float:
        if self.tracking is Tracking.DISTANCE:
            assert self.actuator_distance_mm is not None and self.belt_speed_mm_s is not None
            return self.actuator_distance_mm / self.belt_speed_mm_s
        return self.actuator_delay_ms / 1000
