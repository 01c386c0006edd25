"""Log lines that a flood cannot multiply: at most one per key per interval, with a count of the rest.

A hostile or broken peer can make an event happen thousands of times a second (resend requests, a
full disk under ``--out``). Each such event is still counted in its metric; the log gets the first
occurrence at once and then one summary line per interval saying how many more there were.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

Clock = Callable[[], float]


class RateLimitedLog:
    """``emit(key, event, **fields)`` logs now, or folds the line into the next summary for ``key``."""

    def __init__(self, interval_s: float = 10.0, clock: Clock = time.monotonic, logger: Any = None) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._log = logger if logger is not None else structlog.get_logger()
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._last: dict[str, tuple[str, str, dict[str, Any]]] = {}  # the event, level and kept fields last logged for each key

    def emit(self, key: str, event: str, level: str = "info", keep: tuple[str, ...] = (), **fields: Any) -> bool:
        """Log ``event`` unless ``key`` was logged less than ``interval_s`` ago; True when it was logged.

        The fields named in ``keep`` (the same on every line of ``key``) are repeated in its summaries.
        """
        now = self._clock()
        with self._lock:
            if now < self._next.get(key, float("-inf")):
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._next[key] = now + self.interval_s
            held = self._held.pop(key, 0)
        if held:
            fields["suppressed"] = held  # lines of this kind not logged since the last one
        getattr(self._log, level)(event, **fields)
        self._last[key] = (event, level, {k: fields[k] for k in keep if k in fields})
        return True

    def flush(self) -> None:
        """Log the count of every line held back, whatever the interval (call it as the work ends: none is left unsaid)."""
        self.tick(everything=True)

    def tick(self, everything: bool = False) -> None:
        """Log the count of lines held back for each key whose interval has passed (call it when idle)."""
        now = self._clock()
        with self._lock:
            due = [(k, n) for k, n in self._held.items() if n and (everything or now >= self._next.get(k, 0.0))]
            for k, _ in due:
                del self._held[k]
                self._next[k] = now + self.interval_s
        for k, n in due:
            event, level, kept = self._last.get(k, (k, "info", {}))
            getattr(self._log, level)(event, **kept, suppressed=n, summary=True)
