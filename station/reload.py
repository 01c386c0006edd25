"""Hot model reload: validate a new model file, then swap it in whole between two parts.

A reload (SIGHUP, or a changed file when ``model.watch`` is on) passes the model gate (station.gate:
the same validation as at start-up). Only then is it swapped in; the preprocess stage picks up the
new model at the next part, crops it with that model's preprocessing, and that part carries its
model (preprocessing, threshold, band, id) with it to inference, the decision and the verdict.
A model that fails any check is refused with one log line and a counter; the old one keeps running.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from station.errors import ModelError
from station.gate import admit
from station.metrics import Metrics
from station.model import Model, Threads
from station.preprocess import warm_up

log = structlog.get_logger()


class ModelSlot:
    """The model in use, read once per part and swapped whole under a lock."""

    def __init__(self, model: Model) -> None:
        self._model = model
        self._lock = threading.Lock()

    @property
    def current(self) -> Model:
        with self._lock:
            return self._model

    def swap(self, model: Model) -> Model:
        with self._lock:
            old, self._model = self._model, model
        return old


class Reloader:
    """Loads, validates and swaps; never raises."""

    def __init__(self, path: Path, slot: ModelSlot, metrics: Metrics, threads: Threads | None = None) -> None:
        self.path = path
        self.slot = slot
        self.metrics = metrics
        self._threads = threads
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def changed(self) -> bool:
        """True once each time the file's mtime moves (for model.watch)."""
        m = self._stat()
        if m is None or m == self._mtime:
            return False
        self._mtime = m
        return True

    def reload(self) -> bool:
        old = self.slot.current
        why: str | None = None
        try:
            new = admit(self.path, self._threads)
        except ModelError as exc:
            why = str(exc)
        except Exception as exc:  # whatever a broken file does inside ONNX Runtime, the old model stays
            why = f"{type(exc).__name__}: {exc}"
        if why is not None:
            self.metrics.model_reloads.labels(result="refused").inc()
            log.error("model_refused", stage="reload", path=str(self.path), why=why, keeping=old.info.model_id)
            return False
        new.warm_up()
        warm_up(new.info.spec)  # its preprocessing may differ (a taught model rectifies tilted parts)
        self.slot.swap(new)
        self.metrics.model_reloads.labels(result="ok").inc()
        i = new.info
        self.metrics.model_info.info({"id": i.model_id, "version": i.version, "threshold": str(i.threshold)})
        log.info("model_reloaded", stage="reload", old=old.info.model_id, new=i.model_id)
        return True
