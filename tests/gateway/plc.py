"""A real Modbus TCP server (pymodbus) on loopback, standing in for the PLC; needs the modbus extra."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from ..conftest import free_port


class Plc:
    """A real Modbus TCP server (pymodbus) that records every write request in order."""

    def __init__(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        self.port = free_port()
        self.writes: list[tuple[str, int, int]] = []
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
        name = type(pdu).__name__
        if not sending and name in ("WriteSingleCoilRequest", "WriteSingleRegisterRequest"):
            value = int(pdu.bits[0]) if name == "WriteSingleCoilRequest" else int(pdu.registers[0])
            with self._lock:
                self.writes.append(("coil" if "Coil" in name else "register", int(pdu.address), value))
        return pdu

    def log(self) -> list[tuple[str, int, int]]:
        with self._lock:
            return list(self.writes)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
        self._thread.join(5)
