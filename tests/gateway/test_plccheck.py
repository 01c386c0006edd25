"""``station gateway --check-plc`` against a real Modbus TCP server (pymodbus): it reads, times, and never writes."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from station.config import load_config
from station.config_gateway import ModbusSection
from station.gateway.outputs import ModbusOutput
from station.gateway.plccheck import LATENCY_READS, check_plc, report

from ..conftest import free_port
from ..proc import run
from .plc import Plc

pytestmark = pytest.mark.integration  # a real Modbus server on loopback
pymodbus = pytest.importorskip("pymodbus", reason="the PLC check needs the modbus extra (pymodbus)")


def _modbus(port: int, *sets: str) -> ModbusSection:
    return load_config(None, ["gateway.output=modbus", f"gateway.modbus.port={port}", *sets]).gateway.modbus


def test_a_plc_with_every_address_mapped_passes_and_nothing_is_written(plc: Plc) -> None:
    cfg = _modbus(plc.port)
    check = check_plc(cfg)
    lines = report(cfg, check)
    assert check.passed and len(check.latency_s) == LATENCY_READS and check.alive_moved is None
    for key in ("reject_coil", "healthy_coil", "part_register", "alive_register", "event_register"):
        assert any(line.startswith(f"  gateway.modbus.{key} (") and line.endswith("reads 0") for line in lines), key
    assert lines[-1] == "PLC check passed: every address read (nothing was written)"
    assert plc.log() == []  # not one coil or register written


def test_an_address_the_plc_does_not_map_fails_the_check_naming_its_key(plc: Plc) -> None:
    cfg = _modbus(plc.port, "gateway.modbus.event_register=100")  # the test PLC maps 64 registers
    check = check_plc(cfg)
    lines = report(cfg, check)
    assert not check.passed
    assert "  gateway.modbus.event_register (register 100): refused: Modbus exception 2 (illegal data address: not mapped)" in lines
    assert lines[-1].startswith("PLC check failed: gateway.modbus.event_register refused (not mapped on the PLC")


def test_a_plc_that_is_not_there_fails_the_check_within_its_timeout() -> None:
    cfg = _modbus(free_port(), "gateway.modbus.timeout_s=0.5")
    start = time.monotonic()
    check = check_plc(cfg)
    assert time.monotonic() - start < 10  # bounded by timeout_s, not by the operating system's connect timeout
    assert not check.passed and check.reached is not None and check.reached.startswith(f"cannot connect to 127.0.0.1:{cfg.port}")
    assert report(cfg, check)[-1] == "PLC check failed: not reached (nothing was written)"


def test_a_gateway_already_driving_the_plc_is_said(plc: Plc) -> None:
    cfg = _modbus(plc.port, "gateway.modbus.alive_ms=100")
    running = ModbusOutput(cfg)
    stop = threading.Event()

    def alive() -> None:  # a gateway's loop: the healthy coil and the alive count every alive_ms
        while not stop.wait(0.02):
            running.tick(time.monotonic())

    t = threading.Thread(target=alive, daemon=True)
    t.start()
    try:
        check = check_plc(cfg)
    finally:
        stop.set()
        t.join(5)
        running.close()
    assert check.alive_moved is not None and check.alive_moved[1] != check.alive_moved[0]
    assert any("a gateway drives this PLC now" in line for line in report(cfg, check))


def test_station_gateway_check_plc_exits_0_when_passed_and_2_without_a_plc_output(plc: Plc) -> None:
    p = run("gateway", "--check-plc", "--set", "gateway.output=modbus", "--set", f"gateway.modbus.port={plc.port}", timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[-1] == "PLC check passed: every address read (nothing was written)"
    p = run("gateway", "--check-plc", timeout=60)
    assert p.returncode == 2 and p.stderr.strip() == "station: config error: gateway.output: log: no PLC to check (set it to modbus)"


def test_a_server_that_is_not_modbus_fails_the_check_as_not_answered() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        stop = threading.Event()

        def hang_up() -> None:  # takes each connection and closes it, as a wrong service on the port might
            server.settimeout(0.1)
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    server.accept()[0].close()

        t = threading.Thread(target=hang_up, daemon=True)
        t.start()
        try:
            cfg = _modbus(server.getsockname()[1])
            check = check_plc(cfg)
        finally:
            stop.set()
            t.join(5)
    assert not check.passed and check.reached is None and all((p.error or "").startswith("not answered") for p in check.probes)
    assert "not answered (no Modbus TCP server there, or it dropped the connection)" in report(cfg, check)[-1]
