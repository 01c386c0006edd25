"""A pipeline stage: one named thread between two bounded queues.

Loops wait with a timeout so that a stop is noticed within ``poll_s``. The end-of-stream
sentinel is forwarded after the last item, so a drain finishes every item already queued.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

from station.messages import END

In = TypeVar("In")
Out = TypeVar("Out")
log = structlog.get_logger()


def put_bounded(q: queue.Queue[object], item: object, stop: threading.Event, poll_s: float = 0.1) -> bool:
    """Wait for room (recorded sources never drop); give up only when ``stop`` is set."""
    while True:
        try:
            q.put(item, timeout=poll_s)
            return True
        except queue.Full:
            if stop.is_set():
                return False


class Stage(Generic[In, Out]):
    """Runs ``handle`` on each item of ``inbox`` and puts its results on ``outbox``."""

    def __init__(
        self,
        name: str,
        inbox: queue.Queue[object],
        outbox: queue.Queue[object] | None,
        handle: Callable[[In], list[Out]],
        on_end: Callable[[], list[Out]] | None = None,
        on_idle: Callable[[], None] | None = None,
        poll_s: float = 0.1,
        timer: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self._timer = timer
        self.durations: deque[float] = deque(maxlen=4096)  # recent handling times, for benchmarks
        self.inbox = inbox
        self.outbox = outbox
        self._handle = handle
        self._on_end = on_end
        self._on_idle = on_idle
        self._poll_s = poll_s
        self._abort = threading.Event()
        self.failed: BaseException | None = None
        self.last_progress = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"stage-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Abandon queued work (used only when a drain ran out of time)."""
        self._abort.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _emit(self, items: list[Out]) -> None:
        if self.outbox is None:
            return
        for it in items:
            put_bounded(self.outbox, it, self._abort, self._poll_s)

    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                self.last_progress = time.monotonic()
                try:
                    item = self.inbox.get(timeout=self._poll_s)
                except queue.Empty:
                    if self._on_idle is not None:
                        self._on_idle()
                    continue
                if item is END:
                    if self._on_end is not None:
                        self._emit(self._on_end())
                    if self.outbox is not None:
                        put_bounded(self.outbox, END, self._abort, self._poll_s)
                    return
                t0 = time.perf_counter()
                out = self._handle(item)  # type: ignore[arg-type]
                took = time.perf_counter() - t0
                self.durations.append(took)
                if self._timer is not None:
                    self._timer(took)
                self._emit(out)
                if self._on_idle is not None:
                    self._on_idle()
        except BaseException as exc:  # a dead stage must take the process down, never leave a zombie
            self.failed = exc
            log.error("stage_failed", stage=self.name, error=f"{type(exc).__name__}: {exc}")


class Worker:
    """One named daemon thread running ``_run`` until ``stop()``; its loop must wait with a timeout.

    An exception that escapes ``_run`` is kept in ``failed`` (the pipeline's supervision reads it:
    health turns unhealthy and the process exits 1, as for a dead stage).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._stop = threading.Event()
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # a dead worker must be seen, never a silent zombie
            self.failed = exc
            log.error("stage_failed", stage=self.name, error=f"{type(exc).__name__}: {exc}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:  # never started (start-up failed before it): nothing to wait for
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()
