"""systemd's notify protocol, without a dependency: datagrams to ``$NOTIFY_SOCKET``.

``READY=1`` once the camera is open, the model loaded and the sockets bound; ``STATUS=`` with
the state and parts per minute; ``WATCHDOG=1`` every half ``WATCHDOG_USEC`` while every stage
thread is alive and none is stuck past its bound (a camera outage is not a hang: the capture
loop keeps turning while it retries); ``STOPPING=1`` when the drain starts. Outside systemd
(no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping

import structlog

from station.stages.base import Worker

log = structlog.get_logger()


class Notifier:
    """Sends notify messages; knows the watchdog interval systemd asked for, if any."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self.address = ("\0" + path[1:]) if path.startswith("@") else path
        self.watchdog_s: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.settimeout(0.5)  # a datagram to a full socket must not hang the station

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError as exc:
            log.warning("notify_failed", stage="notify", error=str(exc))
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Watchdog(Worker):
    """Pings WATCHDOG=1 while ``healthy()`` says no stage is dead or stuck; sends STATUS= too."""

    def __init__(
        self,
        notifier: Notifier,
        stuck: Callable[[], str | None],
        status: Callable[[], tuple[str, int]],
        status_every_s: float = 5.0,
    ) -> None:
        self.notifier = notifier
        self._stuck = stuck
        self._status = status
        self._status_every = status_every_s
        # a little under half of WATCHDOG_USEC, so that scheduling jitter never stretches a gap past half
        self.interval_s = notifier.watchdog_s * 0.45 if notifier.watchdog_s else None
        self.pings = 0
        self.withheld: str | None = None
        self._window: deque[tuple[float, int]] = deque()
        super().__init__("notify-watchdog")

    def parts_per_minute(self, now: float, count: int) -> float:
        self._window.append((now, count))
        while len(self._window) > 1 and now - self._window[0][0] > 60.0:
            self._window.popleft()
        t0, c0 = self._window[0]
        return 0.0 if now - t0 < 1.0 else (count - c0) * 60.0 / (now - t0)

    def _run(self) -> None:
        tick = min(self.interval_s or self._status_every, self._status_every)
        next_status = 0.0
        while True:
            now = time.monotonic()
            problem = self._stuck()
            if problem is None and self.interval_s is not None:
                self.notifier.send("WATCHDOG=1")
                self.pings += 1
            if problem != self.withheld:
                if problem is not None:
                    log.error("watchdog_withheld", stage="notify", problem=problem)
                self.withheld = problem
            if now >= next_status:
                state, parts = self._status()
                hung = f"; HUNG: {problem}" if problem else ""
                self.notifier.send(f"STATUS={state}, {self.parts_per_minute(now, parts):.0f} parts/min, {parts} parts{hung}")
                next_status = now + self._status_every
            if self._stop.wait(tick):
                return
