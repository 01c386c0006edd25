"""``station gateway --check-plc`` against a real Modbus TCP server (pymodbus): it reads, times, and never writes."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from station.config import load_config
from station.config_gateway import ModbusSection
from station.gateway.outputs import ModbusOutput
from station.gateway.plccheck import LATENCY_READS, Fault, PlcCheck, check_plc, report
from station.keys import create_keys

from ..conftest import ROOT, free_port
from ..proc import STATION, run
from .plc import Plc, RawServer

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


def test_a_decision_block_is_checked_as_its_four_registers_and_one_request_a_part(plc: Plc) -> None:
    cfg = _modbus(plc.port, "gateway.modbus.decision_block=10")
    check = check_plc(cfg)
    lines = report(cfg, check)
    assert check.passed and [(p.key, p.kind, p.address) for p in check.probes] == [
        ("healthy_coil", "coil", 1),
        ("decision_block", "register", 10), ("decision_block", "register", 11), ("decision_block", "register", 12),
        ("decision_block", "register", 13),
    ]  # fmt: skip
    assert any(line.startswith("  one part's decision is 1 request (gateway.modbus.decision_block) and hold_ms 20") for line in lines)
    assert any("written by function 16 (write multiple registers), which a check that writes nothing cannot try" in x for x in lines)
    assert plc.log() == []


def _preset(plc: Plc, coils: dict[int, bool], registers: dict[int, int]) -> list[tuple[str, int, int]]:
    """Values a PLC holds before the check (an earlier gateway's last part), written by a client of its own; the PLC's log
    from then on."""
    from pymodbus.client import ModbusTcpClient

    client: Any = ModbusTcpClient("127.0.0.1", port=plc.port, timeout=2)
    assert client.connect()
    for a, on in coils.items():
        assert not client.write_coil(a, on, device_id=1).isError()
    for a, v in registers.items():
        assert not client.write_register(a, v, device_id=1).isError()
    client.close()
    return plc.log()


def test_write_back_writes_each_address_with_the_value_it_holds_as_the_gateway_writes_it(plc: Plc) -> None:
    """Write access and each function the gateway uses are tried before the first part; the event register keeps its value,
    so a PLC programmed as docs/protocol.md says sees no event."""
    before = _preset(plc, {0: True}, {2: 41, 3: 7, 4: 1234})  # reject coil 1, event 41, alive 7, part 1234
    cfg = _modbus(plc.port, "gateway.modbus.alive_register=3", "gateway.modbus.part_register=4")
    check = check_plc(cfg, write_back=True)
    lines = report(cfg, check)
    assert check.passed, lines
    assert plc.log()[len(before) :] == [("coil", 0, 1), ("coil", 1, 0), ("register", 4, 1234), ("register", 3, 7), ("register", 2, 41)]
    assert lines[-1] == "PLC check passed: every address read, and written back as the gateway writes it (no value was changed)"
    block = _modbus(plc.port, "gateway.modbus.decision_block=10")
    _preset(plc, {}, {10: 1, 11: 99, 12: 65535, 13: 3})
    n = len(plc.log())
    assert check_plc(block, write_back=True).passed
    assert plc.log()[n:] == [("coil", 1, 0), ("block", 10, 1), ("block", 11, 99), ("block", 12, 65535), ("register", 13, 3)]


def test_write_back_writes_nothing_more_once_a_value_changed_since_the_check_read_it(plc: Plc) -> None:
    """Another writer between the check's reads and its write-back (a gateway started): the value it wrote is never
    written over with the one read before it."""
    from station.gateway.outputs import modbus_client
    from station.gateway.plccheck import Probe, _written_back

    cfg = _modbus(plc.port)
    before = _preset(plc, {0: True}, {2: 41})  # what the other writer left: the reject coil 1, the event 41
    first = (Probe("reject_coil", "coil", 0, 1), Probe("healthy_coil", "coil", 1, 0), Probe("part_register", "register", 0, 0),
             Probe("alive_register", "register", 1, 0), Probe("event_register", "register", 2, 40))  # fmt: skip
    client: Any = modbus_client(cfg)
    try:
        assert client.connect()
        written = _written_back(client, cfg, first)
    finally:
        client.close()
    assert [(p.key, p.kind, p.fault) for p in written] == [
        ("reject_coil", "write_coil", None), ("healthy_coil", "write_coil", None), ("part_register", "write_register", None),
        ("alive_register", "write_register", None), ("event_register", "read", Fault.CHANGED)]  # fmt: skip
    assert written[-1].error == "[40] when first read, [41] now"
    assert ("register", 2, 40) not in plc.log()[len(before) :]  # the event register never written back with the old value
    check = PlcCheck(None, first, (0.001,) * LATENCY_READS, None, written)
    assert report(cfg, check)[-1].startswith("PLC check failed: writing gateway.modbus.event_register back changed during the check")


def _refuses_function_16(request: bytes) -> bytes:
    """A PLC whose every coil and register reads 0 and takes single writes, but not function 16 (illegal function)."""
    tid, unit, fc, body = request[:2], request[6:7], request[7], request[8:12]
    if fc in (1, 3):
        count = int.from_bytes(body[2:4], "big")
        data = bytes([(count + 7) // 8]) + bytes((count + 7) // 8) if fc == 1 else bytes([2 * count]) + bytes(2 * count)
        pdu = bytes([fc]) + data
    elif fc in (5, 6):
        pdu = bytes([fc]) + body  # the echo of a single write
    else:
        pdu = bytes([fc | 0x80, 1])
    return tid + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + unit + pdu


def test_write_back_fails_the_check_on_a_plc_that_refuses_the_decision_blocks_function_16() -> None:
    server = RawServer(_refuses_function_16)
    try:
        cfg = _modbus(server.port, "gateway.modbus.decision_block=10", "gateway.modbus.alive_ms=50")
        plain, written = check_plc(cfg), check_plc(cfg, write_back=True)
    finally:
        server.close()
    assert plain.passed, "every address reads: a check that writes nothing passes"
    assert not written.passed and [(p.key, p.kind, p.fault) for p in written.written if p.fault] == [
        ("decision_block", "write_registers", Fault.REFUSED)]  # fmt: skip
    assert report(cfg, written)[-1].startswith(
        "PLC check failed: writing gateway.modbus.decision_block back refused (each line names Modbus' exception"
    )
    assert "Modbus exception 1 (illegal function)" in "\n".join(report(cfg, written))


def test_a_decision_block_the_plc_maps_only_in_part_fails_the_check_naming_the_key_once(plc: Plc) -> None:
    """The test PLC maps registers 0 to 63: a block at 62 reaches 65. Read one register at a time, 62 and 63 passed, and
    the gateway's one request a part would have failed at the first part."""
    cfg = _modbus(plc.port, "gateway.modbus.decision_block=62")
    check = check_plc(cfg)
    lines = report(cfg, check)
    assert not check.passed and {p.fault for p in check.probes if p.key == "decision_block"} == {Fault.REFUSED}
    assert lines[-1].startswith("PLC check failed: gateway.modbus.decision_block refused (")


def test_the_parts_a_second_count_each_part_s_hold_and_its_slowest_requests() -> None:
    """The rate said counted three median requests and no hold: 2 ms reads claimed 167 parts a second, where a part takes
    three requests and ``hold_ms`` (20) before the next part's coil is written."""
    cfg = _modbus(free_port())
    check = PlcCheck(None, (), (0.002,) * (LATENCY_READS - 1) + (0.005,))
    said = report(cfg, check)
    want = "  one part's decision is 3 requests and hold_ms 20: about 26.0 ms, 35.0 ms at the slowest, so at most about 29 parts a second"
    assert want in said
    instant = report(_modbus(free_port(), "gateway.modbus.hold_ms=0"), PlcCheck(None, (), (0.0,) * LATENCY_READS))
    assert "  one part's decision is 3 requests and hold_ms 0: about 0.0 ms, 0.0 ms at the slowest" in instant  # no rate, no traceback


def test_an_address_the_plc_does_not_map_fails_the_check_naming_its_key(plc: Plc) -> None:
    cfg = _modbus(plc.port, "gateway.modbus.event_register=100")  # the test PLC maps 64 registers
    check = check_plc(cfg)
    lines = report(cfg, check)
    assert not check.passed
    assert "  gateway.modbus.event_register (register 100): refused: Modbus exception 2 (illegal data address: not mapped)" in lines
    assert lines[-1].startswith("PLC check failed: gateway.modbus.event_register refused (each line names Modbus' exception: 2 is")


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
    assert not check.passed  # a second gateway would count the event register from under the first
    assert report(cfg, check)[-1].startswith("PLC check failed: a gateway drives this PLC now (its alive count moves)")


def test_station_gateway_check_plc_exits_0_when_passed_and_2_without_a_plc_output(plc: Plc) -> None:
    p = run("gateway", "--check-plc", "--set", "gateway.output=modbus", "--set", f"gateway.modbus.port={plc.port}", timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[-1] == "PLC check passed: every address read (nothing was written)"
    p = run("gateway", "--check-plc", "--write-back", "--set", "gateway.output=modbus", "--set", f"gateway.modbus.port={plc.port}",
            timeout=60)  # fmt: skip
    assert p.returncode == 0 and p.stdout.splitlines()[-1].endswith("written back as the gateway writes it (no value was changed)")
    p = run("gateway", "--check-plc", timeout=60)
    assert p.returncode == 2 and p.stderr.strip() == "station: config error: gateway.output: log: no PLC to check (set it to modbus)"
    p = run("gateway", "--write-back", timeout=60)
    assert p.returncode == 2 and p.stderr.strip().endswith(
        "--write-back: only with --check-plc (the gateway itself writes every part's decision)"
    )


def test_the_check_refuses_the_keys_the_gateway_could_not_start_with_naming_the_key(plc: Plc, tmp_path: Path) -> None:
    """CURVE on and no station key for the gateway: the service would exit 2 at its start, in a restart loop, the PLC's
    alive count standing; the check says so first, and reads nothing from the PLC."""
    _, secret = create_keys(tmp_path, "station")
    sets = ["gateway.output=modbus", f"gateway.modbus.port={plc.port}", "publisher.curve.enabled=true",
            f"publisher.curve.secret_key_file={secret}"]  # fmt: skip
    p = run("gateway", "--check-plc", *(a for s in sets for a in ("--set", s)), timeout=60)
    assert p.returncode == 2 and p.stderr.strip() == "station: config error: gateway.curve_public_key_file: required when CURVE is enabled"
    assert "PLC check" not in p.stdout


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
    assert not check.passed and check.reached is None and all(p.fault is Fault.DROPPED for p in check.probes)
    assert "connection dropped (no Modbus TCP server there, or it closes connections)" in report(cfg, check)[-1]


def _input_registers(request: bytes) -> bytes:
    """An answer to another request: read input registers (function 4), one register, whatever was asked."""
    return request[:2] + b"\x00\x00\x00\x05" + request[6:7] + b"\x04\x02\x00\x07"


@pytest.mark.parametrize(("answer", "fault"), [(_input_registers, Fault.WRONG), (lambda request: None, Fault.SILENT)],
                         ids=["another function's answer", "no answer"])  # fmt: skip
def test_answers_to_another_request_and_no_answers_fail_the_check_each_with_its_cause(
        answer: Callable[[bytes], bytes | None], fault: Fault) -> None:  # fmt: skip
    server = RawServer(answer)
    try:
        cfg = _modbus(server.port, "gateway.modbus.timeout_s=0.3")
        check = check_plc(cfg)
    finally:
        server.close()
    assert not check.passed and all(p.fault is fault and p.value is None for p in check.probes)
    assert report(cfg, check)[-1].startswith(f"PLC check failed: gateway.modbus.reject_coil, gateway.modbus.healthy_coil, "
                                             f"gateway.modbus.part_register, gateway.modbus.alive_register, "
                                             f"gateway.modbus.event_register {fault.value} ({fault.hint})")  # fmt: skip


def test_a_host_given_as_a_name_is_said_to_be_unbounded() -> None:
    cfg = _modbus(1, "gateway.modbus.host=plc-1.line2")
    lines = report(cfg, PlcCheck("cannot connect", (), ()))
    assert lines[0] == "note: plc-1.line2 is a name: its lookup is not bounded by timeout_s; give an address"
    assert not report(_modbus(1), PlcCheck("cannot connect", (), ()))[0].startswith("note:")  # 127.0.0.1: an address


def test_ctrl_c_stops_the_check_at_once() -> None:
    server = RawServer(lambda request: None)  # never answers: the check would take 5 reads of 2 s
    try:
        cmd = [*STATION, "gateway", "--check-plc", "--set", "gateway.output=modbus", "--set", f"gateway.modbus.port={server.port}",
               "--set", "gateway.modbus.timeout_s=2"]  # fmt: skip
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.connected.wait(30)  # the check has begun: its first read waits on an answer that never comes
        p.send_signal(signal.SIGINT)
        start = time.monotonic()
        _, err = p.communicate(timeout=8)
        stopped_in = time.monotonic() - start
    finally:
        server.close()
    assert p.returncode == 130, err[-2000:]
    assert stopped_in < 3.0  # not the 6 s of reads still to come


def test_a_plc_host_name_that_does_not_resolve_is_said_to_be_one_not_a_plc_not_reached_in_time() -> None:
    """``.invalid`` is reserved never to resolve (RFC 2606): it was said to be "not reached within 0.5 s (a wrong address
    or port, nothing listening, or a firewall)"."""
    cfg = load_config(None, ["gateway.output=modbus", "gateway.modbus.host=no.such.host.invalid"]).gateway.modbus
    check = check_plc(cfg)
    assert not check.passed and check.reached is not None
    assert check.reached.startswith("cannot connect to no.such.host.invalid:502: the name does not resolve (")
    assert check.reached.endswith("give the PLC's address")
