"""Gateway outputs: JSON lines, and Modbus TCP against a real pymodbus server on loopback."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from station.config import load_config
from station.errors import ConfigError
from station.gateway.outputs import JsonLinesOutput, ModbusOutput, modbus_client, not_the_answer
from station.gateway.reasons import PartDecision
from station.gateway.service import Gateway, build_outputs
from station.wire import Disposition

from ..conftest import free_port, wait_for
from .conftest import Line, finish
from .plc import Plc, RawServer

pymodbus = pytest.importorskip("pymodbus", reason="the Modbus adapter needs the modbus extra (pymodbus)")


def _decision(pid: int, decision: str) -> PartDecision:
    return PartDecision("r", pid, Disposition(decision), "ok" if decision == "pass" else "defect", decision, "ok", pid, 0.0, 1.0, 1.0)


@pytest.mark.integration
def test_modbus_output_writes_reject_coil_then_part_register(plc: Plc) -> None:
    cfg = load_config(
        None,
        [
            f"gateway.modbus.port={plc.port}",
            "gateway.modbus.reject_coil=5",
            "gateway.modbus.healthy_coil=6",
            "gateway.modbus.part_register=7",
            "gateway.modbus.alive_register=8",
        ],
    ).gateway.modbus
    out = ModbusOutput(cfg)
    out.healthy(True, "ok")
    assert out.part(_decision(1, "pass")) and out.part(_decision(2, "reject"))  # delivered
    out.tick(time.monotonic())
    out.close()
    assert plc.log() == [
        ("coil", 6, 1),
        ("coil", 5, 0),
        ("register", 7, 1),
        ("register", 2, 1),  # the event register, on from the PLC's 0
        ("coil", 5, 1),
        ("register", 7, 2),
        ("register", 2, 2),
        ("coil", 6, 1),  # the healthy coil first, then the alive count
        ("register", 8, 1),
        ("coil", 6, 0),
    ]


@pytest.mark.integration
def test_a_decision_block_is_one_request_a_part_with_the_decision_the_part_id_and_the_event_on_from_the_plcs(plc: Plc) -> None:
    """``decision_block: 10``: registers 10, 11 and 12 written by one request a part (so no scan sees one part's event with
    another's decision); the event goes on from what register 12 held; the alive count is register 13; the reject coil
    and the part, event and alive registers are not used (a PLC programmed for them sees no alive count: it rejects)."""
    cfg = load_config(None, [f"gateway.modbus.port={plc.port}", "gateway.modbus.decision_block=10"]).gateway.modbus
    first = ModbusOutput(cfg)
    assert first.part(_decision(7, "reject")) and first.part(_decision(65537, "pass"))
    first.tick(time.monotonic())
    first.close()
    again = ModbusOutput(cfg)  # a new gateway reads the event count where the last one left it
    assert again.part(_decision(1, "reject"))
    again.close()
    timed = [w for w in plc.timed() if w[1] == "block"]
    assert [w[1:] for w in timed] == [
        ("block", 10, 1), ("block", 11, 7), ("block", 12, 1),
        ("block", 10, 0), ("block", 11, 1), ("block", 12, 2),  # part 65537 is 1 mod 65536
        ("block", 10, 1), ("block", 11, 1), ("block", 12, 3),
    ]  # fmt: skip
    assert len({w[0] for w in timed}) == 3, "each part's three registers in one request"
    assert [w for w in plc.log() if w[0] != "block"] == [
        ("coil", cfg.healthy_coil, 0), ("register", 13, 1), ("coil", cfg.healthy_coil, 0), ("coil", cfg.healthy_coil, 0)
    ]  # fmt: skip  # the tick: the healthy coil, then the alive count at 13; each close: the healthy coil 0


@pytest.mark.integration
@pytest.mark.parametrize("block", [None, 10])
def test_the_event_count_after_65535_is_1_never_0_the_value_a_plc_restarts_its_registers_at(plc: Plc, block: int | None) -> None:
    """A PLC that restarts with its registers at 0 (the connection kept, so the gateway does not read them again) saw
    no change when the next event was 0 (65535 + 1 mod 65536): that part's reject was never latched."""
    sets = [f"gateway.modbus.port={plc.port}", *([f"gateway.modbus.decision_block={block}"] if block is not None else [])]
    cfg = load_config(None, sets).gateway.modbus
    at = cfg.event_address()
    seed = modbus_client(cfg)
    assert seed.connect() and not seed.write_register(at, 65534, device_id=cfg.device_id).isError()  # an earlier gateway's
    seed.close()
    out = ModbusOutput(cfg)
    assert out.part(_decision(1, "reject")) and out.part(_decision(2, "reject"))
    out.close()
    events = [v for kind, addr, v in plc.log() if addr == at and kind in ("register", "block")]
    assert events == [65534, 65535, 1]


@pytest.mark.integration
def test_every_part_changes_the_event_register_even_when_a_part_id_comes_again(plc: Plc) -> None:
    cfg = load_config(None, [f"gateway.modbus.port={plc.port}"]).gateway.modbus
    first = ModbusOutput(cfg)
    assert first.part(_decision(1, "pass"))
    first.close()
    again = ModbusOutput(cfg)  # a restart: the station counts parts from 1 again, and so may a new gateway
    assert again.part(_decision(1, "reject")) and again.part(_decision(1, "reject"))
    again.close()
    parts = [v for kind, addr, v in plc.log() if kind == "register" and addr == cfg.part_register]
    events = [v for kind, addr, v in plc.log() if kind == "register" and addr == cfg.event_register]
    assert parts == [1, 1, 1]  # what the PLC would latch on until now: no change, so no reject
    assert events == [1, 2, 3]  # a change for every part: the new gateway went on from the PLC's value


@pytest.mark.integration
def test_each_parts_decision_stays_on_the_plc_for_hold_ms_before_the_next_parts_coil(plc: Plc) -> None:
    """Parts due together were written back to back: a PLC scan between the next part's reject coil and its event saw this
    part's event with the next part's coil, and a defect followed by a pass was latched as a pass (before 2026-12-07). A
    PLC that scans at least every hold_ms now sees each event with its own coil and part id."""
    cfg = load_config(None, [f"gateway.modbus.port={plc.port}", "gateway.modbus.hold_ms=30"]).gateway.modbus
    out = ModbusOutput(cfg)
    for pid in range(1, 9):
        assert out.part(_decision(pid, "reject" if pid % 2 else "pass"))
    out.close()
    writes = [w for w in plc.timed() if w[2] != cfg.healthy_coil or w[1] == "register"]
    events = [i for i, (_, kind, addr, _v) in enumerate(writes) if kind == "register" and addr == cfg.event_register]
    assert len(events) == 8
    for i in events[:-1]:
        at, (nxt, kind, addr, _) = writes[i][0], writes[i + 1]
        assert (kind, addr) == ("coil", cfg.reject_coil) and nxt - at >= 0.03, (i, nxt - at)
        coil = next(v for _, k, a, v in reversed(writes[:i]) if (k, a) == ("coil", cfg.reject_coil))
        assert coil == (1 if writes[i][3] % 2 else 0), "each event follows its own part's coil"


@pytest.mark.integration
def test_the_alive_count_stops_while_the_healthy_coil_cannot_be_written(plc: Plc) -> None:
    cfg = load_config(None, [f"gateway.modbus.port={plc.port}", "gateway.modbus.healthy_coil=5001"]).gateway.modbus  # none
    out = ModbusOutput(cfg)
    for k in range(3):
        out.tick(k * 1.0)
    out.close()
    assert out.failed_requests == 4  # three ticks and the close, each refused by the PLC
    assert not [v for kind, addr, v in plc.log() if kind == "register" and addr == cfg.alive_register]


@pytest.mark.integration
def test_modbus_output_without_a_plc_logs_and_does_not_hang_and_says_the_part_was_not_delivered() -> None:
    cfg = load_config(None, [f"gateway.modbus.port={free_port()}", "gateway.modbus.timeout_s=0.2"]).gateway.modbus
    out = ModbusOutput(cfg)
    t0 = time.monotonic()
    assert out.part(_decision(1, "pass")) is False  # the gateway trips vision on it
    out.healthy(False, "x")
    out.close()
    assert time.monotonic() - t0 < 5


def test_json_lines_output(tmp_path: Path) -> None:
    out = JsonLinesOutput(tmp_path / "g.jsonl")
    out.part(_decision(3, "reject"))
    out.close()
    row = json.loads((tmp_path / "g.jsonl").read_text())
    assert (row["part_id"], row["decision"], row["reason"]) == (3, "reject", "defect")


def test_an_out_pipe_nothing_reads_is_refused_naming_out(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "decisions")
    with pytest.raises(ConfigError, match="a pipe with nothing reading it") as err:
        JsonLinesOutput(tmp_path / "decisions")  # before: blocked in open(), deaf to SIGTERM
    assert err.value.key == "--out"


def test_a_json_line_that_cannot_be_written_is_counted_and_the_outputs_go_on(tmp_path: Path) -> None:
    out = JsonLinesOutput(Path("/dev/full"))  # every write: No space left on device
    assert out.part(_decision(1, "reject")) and out.part(_decision(2, "pass"))  # a lost log line is not a lost part
    assert out.failed_writes == 2
    out.close()


def test_the_plc_is_told_before_the_log_is_written() -> None:
    cfg = load_config(None, ["gateway.output=modbus", f"gateway.modbus.port={free_port()}"])
    outputs = build_outputs(cfg, None)
    assert [type(o) for o in outputs] == [ModbusOutput, JsonLinesOutput]
    for o in outputs[:1]:
        o.close()


@pytest.mark.integration
@pytest.mark.parametrize("block", [None, 10])
def test_coils_follow_the_verdicts_of_a_real_station(plc: Plc, tmp_path: Path, block: int | None) -> None:
    """Each part's decision and id reach the PLC in order: as the reject coil and the part register, or (``block``) as a
    decision block's first two registers."""
    line = Line(
        [
            f"publisher.endpoint=tcp://127.0.0.1:{free_port()}",
            f"publisher.resend_endpoint=tcp://127.0.0.1:{free_port()}",
            "metrics.enabled=false",
            "gateway.actuator_delay_ms=300",
            "gateway.output=modbus",
            f"gateway.modbus.port={plc.port}",
            "logging.format=json",
            *([f"gateway.modbus.decision_block={block}"] if block is not None else []),
        ],
        tmp_path / "verdicts.jsonl",
    )
    cfg = line.config()
    gw = Gateway(cfg, build_outputs(cfg, tmp_path / "gateway.jsonl"))
    gw.start()
    try:
        finish(line.station())
        n = len(line.verdicts())
        gl = tmp_path / "gateway.jsonl"
        assert wait_for(lambda: gl.exists() and len(gl.read_text().splitlines()) == n, 5)
    finally:
        gw.stop()
        gw.join(5)
    decided = [json.loads(x) for x in (tmp_path / "gateway.jsonl").read_text().splitlines()]
    writes = plc.log()
    m = cfg.gateway.modbus
    at = ("coil", m.reject_coil, "register", m.part_register) if block is None else ("block", block, "block", block + 1)
    coils = [v for kind, addr, v in writes if (kind, addr) == at[:2]]
    parts = [v for kind, addr, v in writes if (kind, addr) == at[2:]]
    assert parts == [d["part_id"] for d in decided]
    assert coils == [int(d["decision"] == "reject") for d in decided]
    assert any(d["decision"] == "pass" for d in decided)
    healthy = [v for kind, addr, v in writes if kind == "coil" and addr == m.healthy_coil]
    assert 1 in healthy and healthy[-1] == 0
    alive = [v for kind, addr, v in writes if kind == "register" and addr == m.alive_address()]
    assert len(alive) >= 5 and alive == sorted(alive)


@pytest.mark.integration
def test_after_a_failed_request_parts_are_not_sent_until_the_plc_answers_again(plc: Plc) -> None:
    cfg = load_config(None, [f"gateway.modbus.port={plc.port}", "gateway.modbus.reject_coil=5001"]).gateway.modbus  # refused
    out = ModbusOutput(cfg)
    assert not out.part(_decision(1, "pass")) and out.failed_requests == 1
    assert not out.part(_decision(2, "pass"))  # not tried: a silent PLC would cost a timeout per part
    assert (out.failed_requests, out.skipped_parts) == (1, 1)
    out.tick(0.0)  # the healthy coil is taken: the PLC is there again
    assert not out.part(_decision(3, "pass")) and out.failed_requests == 2  # tried again
    out.close()


def test_the_log_line_of_a_part_the_plc_did_not_take_says_so(tmp_path: Path) -> None:
    from station.gateway.outputs import Outputs

    from .conftest import Recorder

    class Refusing(Recorder):
        def part(self, d: PartDecision) -> bool:
            super().part(d)
            return False

    log = JsonLinesOutput(tmp_path / "g.jsonl")
    assert not Outputs([Refusing(), log]).part(_decision(1, "pass"))
    assert Outputs([Recorder(), log]).part(_decision(2, "pass"))
    log.close()
    rows = [json.loads(x) for x in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert [(r["part_id"], r["decision"], r["delivered"]) for r in rows] == [(1, "pass", False), (2, "pass", True)]


class _Answer:
    """pymodbus's answer as far as the output reads it: its function, and the address and values it echoes."""

    def __init__(self, ok: bool, registers: list[int] | None = None, function_code: int = 3, address: int = 0,
                 bits: list[bool] | None = None) -> None:  # fmt: skip
        self.ok, self.registers, self.function_code, self.address, self.bits = ok, registers or [], function_code, address, bits

    def isError(self) -> bool:  # pymodbus's name
        return not self.ok


class _ScriptedPlc:
    """A stand-in for pymodbus's client: a PLC whose registers a test sets, and which refuses the requests it is told to,
    once each. The pymodbus server in these tests cannot refuse one request once, or answer a read with no registers."""

    connected = True

    def __init__(self) -> None:
        self.regs: dict[int, int] = {}
        self.refuse: set[str] = set()
        self.empty_reads = False

    def connect(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def _answer(self, fn: str) -> _Answer | None:
        if fn in self.refuse:
            self.refuse.discard(fn)
            return _Answer(False)
        return None

    def write_coil(self, address: int, value: bool, device_id: int) -> _Answer:
        return self._answer("write_coil") or _Answer(True, function_code=5, address=address, bits=[value])

    def write_register(self, address: int, value: int, device_id: int) -> _Answer:
        refused = self._answer("write_register")
        if refused is None:
            self.regs[address] = value
        return refused or _Answer(True, [value], function_code=6, address=address)

    def read_holding_registers(self, address: int, device_id: int) -> _Answer:
        return self._answer("read") or _Answer(True, [] if self.empty_reads else [self.regs.get(address, 0)])


def test_after_any_failed_request_the_event_register_is_read_again_from_the_plc() -> None:
    cfg = load_config(None, []).gateway.modbus
    out, fake = ModbusOutput(cfg), _ScriptedPlc()
    out._client = fake
    assert out.part(_decision(1, "pass")) and fake.regs[cfg.event_register] == 1
    fake.regs[cfg.event_register] = 2  # the PLC restarted and holds 2: what the gateway would have written next
    fake.refuse = {"write_coil"}  # ... and refused the healthy coil once on its way down
    out.tick(0.0)
    out.tick(1.0)
    assert out.part(_decision(2, "reject"))
    assert fake.regs[cfg.event_register] == 3  # read again and counted on: a change the PLC latches


def test_an_answer_without_the_register_asked_for_is_a_failed_request_not_a_crash() -> None:
    out, fake = ModbusOutput(load_config(None, []).gateway.modbus), _ScriptedPlc()
    out._client = fake
    fake.empty_reads = True
    assert out.part(_decision(1, "reject")) is False and out.failed_requests == 1


def _coil_echo(value: int, function: int = 5) -> Callable[[bytes], bytes | None]:
    """A PLC that answers a reject coil's write (coil 0 set) with ``function``'s echo of ``value`` and leaves it unset;
    every other request it echoes, as a PLC does."""

    def answer(request: bytes) -> bytes:
        pdu = request[7:12]
        if pdu[0] == 3:  # a read of the event register: 0
            pdu = b"\x03\x02\x00\x00"
        elif pdu[0] == 5 and pdu[1:5] == b"\x00\x00\xff\x00":
            pdu = bytes([function]) + b"\x00\x00" + value.to_bytes(2, "big")
        return request[:4] + (len(pdu) + 1).to_bytes(2, "big") + request[6:7] + pdu

    return answer


@pytest.mark.integration
@pytest.mark.parametrize("answer", [_coil_echo(0), _coil_echo(0xFF00, function=6)], ids=["echoes 0", "another function's answer"])
def test_a_reject_the_plc_did_not_echo_is_not_delivered(answer: Callable[[bytes], bytes | None]) -> None:
    server = RawServer(answer)
    try:
        out = ModbusOutput(load_config(None, [f"gateway.modbus.port={server.port}", "gateway.modbus.timeout_s=1"]).gateway.modbus)
        assert out.part(_decision(1, "pass"))  # echoed as written: delivered
        assert out.part(_decision(2, "reject")) is False  # the coil still holds part 1's pass
        assert out.failed_requests == 1
        out.close()
    finally:
        server.close()


def test_a_write_is_the_answer_only_when_its_echo_names_its_function_address_and_value() -> None:
    from pymodbus.pdu.bit_message import WriteSingleCoilResponse
    from pymodbus.pdu.register_message import WriteMultipleRegistersResponse, WriteSingleRegisterResponse

    assert not_the_answer("write_coil", 4, (True,), WriteSingleCoilResponse(address=4, bits=[True])) == ""
    assert "echoed False at 4, not True at 4" in not_the_answer("write_coil", 4, (True,), WriteSingleCoilResponse(address=4, bits=[False]))
    assert "not True at 4" in not_the_answer("write_coil", 4, (True,), WriteSingleCoilResponse(address=5, bits=[True]))
    assert "not the answer to a write_coil" in not_the_answer(
        "write_coil", 4, (True,), WriteSingleRegisterResponse(address=4, registers=[1])
    )
    assert not_the_answer("write_register", 2, (9,), WriteSingleRegisterResponse(address=2, registers=[9])) == ""
    assert "not 9 at 2" in not_the_answer("write_register", 2, (9,), WriteSingleRegisterResponse(address=2, registers=[8]))
    done = WriteMultipleRegistersResponse(address=10, count=3)
    assert not_the_answer("write_registers", 10, ([1, 7, 1],), done) == ""
    assert "echoed 2 registers at 10, not 3 at 10" in not_the_answer(
        "write_registers", 10, ([1, 7, 1],), WriteMultipleRegistersResponse(address=10, count=2)
    )
    assert "not 3 at 10" in not_the_answer("write_registers", 10, ([1, 7, 1],), WriteMultipleRegistersResponse(address=11, count=3))
    assert "not the answer to a write_registers" in not_the_answer(
        "write_registers", 10, ([1, 7, 1],), WriteSingleRegisterResponse(address=10, registers=[1])
    )


@pytest.mark.integration
def test_a_part_under_way_at_a_slow_plc_stops_before_its_next_request_once_the_stop_time_comes() -> None:
    """A PLC answering each request in 0.3 s, under its timeout: a stop waited for the whole part (four requests) and the
    loop's turn (before 2026-12-07: past the gateway's 5 s with many parts due, exit 1). The part is not delivered (its
    event never written: the PLC never takes it, and its healthy coil is 0)."""
    seen: list[int] = []

    def slow(request: bytes) -> bytes:
        seen.append(request[7])
        time.sleep(0.3)
        return _coil_echo(0xFF00)(request) or b""

    server = RawServer(slow)
    try:
        out = ModbusOutput(load_config(None, [f"gateway.modbus.port={server.port}", "gateway.modbus.timeout_s=2"]).gateway.modbus)
        out.stopping(time.monotonic() + 0.1)  # the stop's time comes while the coil's write is under way
        t0 = time.monotonic()
        assert out.part(_decision(1, "reject")) is False
        assert seen == [5] and time.monotonic() - t0 < 1.0  # the coil alone, not the part or event register
        assert out.part(_decision(2, "reject")) is False and seen == [5]  # after it: none sent
    finally:
        server.close()
