"""PLCs on loopback: a real Modbus TCP server (pymodbus, the modbus extra) standing in for the PLC, and a raw TCP server
that answers Modbus requests however a test says (a PLC that answers wrongly or never)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ..conftest import free_port


class Plc:
    """A real Modbus TCP server (pymodbus) that records every write request in order."""

    def __init__(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        self.port = free_port()
        self.writes: list[tuple[str, int, int]] = []
        self.times: list[float] = []  # when each write came (monotonic), as writes
        self._lock = threading.Lock()
        blocks = (
            [SimData(0, count=64, datatype=DataType.BITS)],
            [SimData(0, count=64, datatype=DataType.BITS)],
            [SimData(0, count=64, datatype=DataType.REGISTERS)],
            [SimData(0, count=64, datatype=DataType.REGISTERS)],
        )
        device = SimDevice(id=1, simdata=blocks)
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        ready = threading.Event()

        async def serve() -> None:
            self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port), trace_pdu=self._trace)
            ready.set()
            await self._server.serve_forever()

        self._thread = threading.Thread(target=lambda: self._loop.run_until_complete(serve()), name="plc", daemon=True)
        self._thread.start()
        assert ready.wait(5)
        time.sleep(0.2)

    def _trace(self, sending: bool, pdu: Any) -> Any:
        """Each write request as it comes: a coil's or a register's, and a multiple-register write as ``block`` writes,
        one per register, with the time of the request."""
        name = type(pdu).__name__
        if sending or name not in ("WriteSingleCoilRequest", "WriteSingleRegisterRequest", "WriteMultipleRegistersRequest"):
            return pdu
        if name == "WriteMultipleRegistersRequest":
            writes = [("block", int(pdu.address) + i, int(v)) for i, v in enumerate(pdu.registers)]
        else:
            writes = [("coil" if "Coil" in name else "register", int(pdu.address), int((pdu.bits or pdu.registers)[0]))]
        with self._lock:
            self.writes += writes
            self.times += [time.monotonic()] * len(writes)
        return pdu

    def log(self) -> list[tuple[str, int, int]]:
        with self._lock:
            return list(self.writes)

    def timed(self) -> list[tuple[float, str, int, int]]:
        with self._lock:
            return [(t, *w) for t, w in zip(self.times, self.writes, strict=True)]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
        self._thread.join(5)


class RawServer:
    """A TCP server that answers each Modbus request with ``answer(request)`` (None: never answers), on its own thread."""

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._answer, self._stop = answer, threading.Event()
        self.connected = threading.Event()  # a client came
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._sock.accept()[0]
            except OSError:
                continue
            self.connected.set()
            with conn:
                conn.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        request = conn.recv(260)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not request:
                        break
                    if (reply := self._answer(request)) is not None:
                        conn.sendall(reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
