"""Bounded model runs: ONNX Runtime's ``run`` ended from outside when it outlasts its bound, or at once when told to.

A graph can loop for as long as its author likes (a ``Loop`` of two billion turns on some crops and
not on its self-test's). ``session.run`` is C++ and holds no Python: nothing else in the process can
stop it, and a process that exits with a run still going aborts (``terminate called``, exit 134).
ONNX Runtime checks a run's terminate flag between two nodes (a loop's turns too): :class:`RunGuard`
sets it from a thread of its own, for a run past its bound, and for every run in flight when
:meth:`RunGuard.interrupt` is called (a shadow model stopping, a drain that ran out of time).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from station.errors import ModelError

RUN_BOUND_S = 5.0  # one run of one crop; the shipped network takes about 5 ms on a 2-core line PC
IDLE_S = 5.0  # the watching thread ends after this long with no run to watch; the next run starts another


_GUARDS: weakref.WeakSet[RunGuard] = weakref.WeakSet()  # every model's, until the model is gone
_GUARDS_LOCK = threading.Lock()


def interrupt_all(why: str) -> None:
    """End every run in flight of every model in the process (:meth:`RunGuard.interrupt`): a drain out of time, whose
    parts may be running on a model a reload has replaced since, or on a reload's candidate."""
    with _GUARDS_LOCK:
        guards = list(_GUARDS)
    for guard in guards:
        guard.interrupt(why)


class RunGuard:
    """Runs one session's graph with a bound on each run; :meth:`interrupt` ends those in flight."""

    def __init__(self, bound_s: float = RUN_BOUND_S) -> None:
        with _GUARDS_LOCK:
            _GUARDS.add(self)
        self.bound_s = bound_s
        self._cond = threading.Condition()
        self._runs: dict[int, tuple[Any, float]] = {}  # id of the run's options -> (the options, when it is due)
        self._why: dict[int, str] = {}  # runs interrupted: why
        self._watching = False
        self._wake_at = 0.0  # when the watching thread looks next: a run due sooner wakes it, no other (one a part)

    def run(self, session: Any, outputs: Sequence[str], feeds: dict[str, Any], crops: int = 1) -> list[Any]:
        """``session.run(outputs, feeds)``, allowed ``bound_s`` for each of ``crops``; ModelError when it was ended."""
        import onnxruntime as ort

        opts = ort.RunOptions()
        opts.log_severity_level = 4  # its "terminate flag" line on stderr: the error raised here says it once
        bound = self.bound_s * max(1, crops)
        key = id(opts)
        with self._cond:
            self._runs[key] = (opts, due := time.monotonic() + bound)
            if not self._watching:
                self._start_watching(key, due)
            elif due < self._wake_at:
                self._cond.notify()
        try:
            result: list[Any] = session.run(list(outputs), feeds, opts)
            return result
        except Exception:
            if opts.terminate:
                raise ModelError(f"the model's run was ended: {self._why.get(key, f'it ran past {bound:g} s')}") from None
            raise
        finally:
            with self._cond:
                del self._runs[key]
                self._why.pop(key, None)

    def _start_watching(self, key: int, due: float) -> None:
        """The watching thread started (the lock held), or ModelError and the run not begun: unwatched, it had no bound."""
        try:
            threading.Thread(target=self._watch, name="model-runs", daemon=True).start()
        except Exception as exc:  # RuntimeError "can't start new thread" (out of threads), MemoryError, ...
            del self._runs[key]
            raise ModelError(f"the model's run cannot be bounded, so it was not begun: {exc}") from None
        self._watching, self._wake_at = True, due

    def interrupt(self, why: str) -> None:
        """End every run in flight now, each raising ModelError with ``why`` (e.g. "the station is stopping")."""
        with self._cond:
            for key, (opts, _) in self._runs.items():
                self._why[key] = why
                opts.terminate = True

    def in_flight(self) -> int:
        with self._cond:
            return len(self._runs)

    def watching(self) -> bool:
        """Whether its watching thread runs (it ends IDLE_S after the last run)."""
        with self._cond:
            return self._watching

    def _watch(self) -> None:
        """Set the terminate flag of each run past its due time; wait for the next one due, or for a run to begin."""
        with self._cond:
            idle_since = time.monotonic()
            while True:
                now = time.monotonic()
                for opts, due in self._runs.values():
                    if due <= now:
                        opts.terminate = True
                waiting = [due for opts, due in self._runs.values() if not opts.terminate]
                if self._runs:
                    idle_since = now
                elif now - idle_since >= IDLE_S:
                    self._watching = False
                    return
                self._wake_at = min(waiting) if waiting else now + IDLE_S
                self._cond.wait(timeout=max(0.001, self._wake_at - now))
