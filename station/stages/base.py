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


class Worker:
    """One named daemon thread running ``_run``: the one lifecycle of every stage, worker and the capture.

    ``stop()`` asks the loop to finish (it waits with a timeout, so it is seen within its poll);
    ``abort()`` also abandons queued work. An exception that escapes ``_run`` is kept in ``failed``
    (the pipeline's supervision reads it: health turns unhealthy and the process exits 1);
    ``last_progress`` is when the loop last went round (a loop stuck past
    ``pipeline.stall_after_s`` is a hang). ``_finish`` runs last, on every way out.
    """

    def __init__(self, name: str, thread_name: str | None = None) -> None:
        self.name = name
        self._stop = threading.Event()
        self._abort = threading.Event()
        self.failed: BaseException | None = None
        self.last_progress = time.monotonic()
        self._thread = threading.Thread(target=self._guarded, name=thread_name or name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Runs after ``_run`` returned or raised (close what the thread owns, forward the end marker)."""

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # a dead thread must be seen, never a silent zombie
            self.failed = exc
            log.error("stage_failed", stage=self.name, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._finish()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        """Stop and abandon queued work (used only when a drain ran out of time)."""
        self._stop.set()
        self._abort.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:  # never started (start-up failed before it): nothing to wait for
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class Stage(Worker, Generic[In, Out]):
    """Runs ``handle`` on each item of ``inbox`` and puts its results on ``outbox``; ends after END."""

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
        super().__init__(name, f"stage-{name}")
        self._timer = timer
        self.durations: deque[float] = deque(maxlen=4096)  # recent handling times, for benchmarks
        self.inbox = inbox
        self.outbox = outbox
        self._handle = handle
        self._on_end = on_end
        self._on_idle = on_idle
        self._poll_s = poll_s
        self.handling: object | None = None  # the item in its hands now (the trigger's frame: :func:`station.inflight.behind`)

    def _finish(self) -> None:
        """Dead (``failed``), it hands on the end marker all the same: the stages after it finish the parts already past it,
        and a drain need not wait out its bound for an end that would never come."""
        if self.failed is not None and self.outbox is not None:
            put_bounded(self.outbox, END, self._abort, self._poll_s)

    def _emit(self, items: list[Out]) -> None:
        if self.outbox is None:
            return
        for it in items:
            put_bounded(self.outbox, it, self._abort, self._poll_s)

    def _run(self) -> None:
        while not self._abort.is_set():  # a stage ends at END (a drain), or when aborted
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
            t0, self.handling = time.perf_counter(), item
            try:
                out = self._handle(item)  # type: ignore[arg-type]
            finally:
                self.handling = None
            took = time.perf_counter() - t0
            self.durations.append(took)
            if self._timer is not None:
                self._timer(took)
            self._emit(out)
            if self._on_idle is not None:
                self._on_idle()
