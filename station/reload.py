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
from typing import Generic, TypeVar

import structlog

from station.errors import ModelError, NotJudged
from station.gate import admit
from station.messages import ReloadResult
from station.metrics import Metrics
from station.model import Model, Threads
from station.preprocess import warm_up

log = structlog.get_logger()
M = TypeVar("M")
Signature = tuple[int, int, int, int]  # what model.watch compares of a file: device, inode, size, time (ns)


class _Slot(Generic[M]):
    """A model read once per part and swapped whole under a lock."""

    def __init__(self, model: M) -> None:
        self._model = model
        self._lock = threading.Lock()

    @property
    def current(self) -> M:
        with self._lock:
            return self._model

    def swap(self, model: M) -> M:
        with self._lock:
            old, self._model = self._model, model
        return old


class ModelSlot(_Slot[Model]):
    """The active model (``model.path``)."""


class ShadowSlot(_Slot[Model | None]):
    """The shadow model (``model.shadow``), or None."""

    def __init__(self, model: Model | None = None) -> None:
        super().__init__(model)


class Reloader:
    """Loads, validates and swaps the active model and the shadow model; never raises.

    ``retarget`` takes new paths (``model.path`` and ``model.shadow`` from a re-read config); a
    reload then loads both files again. Promoting the shadow model is ``model.path`` set to its file
    and ``model.shadow`` to null, then SIGHUP.
    """

    def __init__(
        self,
        path: Path,
        slot: ModelSlot,
        metrics: Metrics,
        threads: Threads | None = None,
        shadow: ShadowSlot | None = None,
        shadow_path: Path | None = None,
    ) -> None:
        self.path = path
        self.slot = slot
        self.shadow = shadow or ShadowSlot()
        self.shadow_path = shadow_path
        self.metrics = metrics
        self._threads = threads
        self._seen = self._stat()

    def _stat(self) -> tuple[Signature | None, Signature | None]:
        def seen(p: Path | None) -> Signature | None:
            try:
                st = p.stat() if p is not None else None
            except OSError:
                return None
            return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else None

        return seen(self.path), seen(self.shadow_path)

    def retarget(self, path: Path, shadow_path: Path | None) -> None:
        """The files the next reload loads (a config re-read on SIGHUP may name others)."""
        self.path, self.shadow_path = path, shadow_path

    def changed(self) -> bool:
        """True once each time either file changes (for model.watch): its time, its size, or which file it is (a file
        renamed over it, a link moved to another file of the same time)."""
        m = self._stat()
        if m == self._seen or m[0] is None:
            return False
        self._seen = m
        return True

    def _admit(self, path: Path, role: str, keeping: str | None, stop: threading.Event | None) -> Model | None:
        why: str | None = None
        try:
            new = admit(path, self._threads, stop)
            new.warm_up()  # the gate ran it once on the same blank crop
            warm_up(new.info.spec)  # its preprocessing may differ (a taught model rectifies tilted parts)
        except NotJudged:  # not refused: not judged to the end
            log.warning("reload_abandoned", stage="reload", role=role, path=str(path), why="the station is stopping", keeping=keeping)
            return None
        except ModelError as exc:
            why = str(exc)
        except Exception as exc:  # whatever a broken file does inside ONNX Runtime, the old model stays
            why = f"{type(exc).__name__}: {exc}"
        if why is not None:
            self.metrics.model_reloads.labels(result=ReloadResult.REFUSED).inc()
            log.error("model_refused", stage="reload", role=role, path=str(path), why=why, keeping=keeping)
            return None
        self.metrics.model_reloads.labels(result=ReloadResult.OK).inc()
        return new

    def reload(self, stop: threading.Event | None = None) -> bool:
        """Both models again from their files; True when the active one was swapped (a refused file keeps the old).

        The shadow is swapped first: a promoted model is never the shadow of itself. Once ``stop`` is
        set, the model gate gives up on the files (a slow model's self-test takes seconds) and the
        running models stay.
        """
        self._seen = self._stat()
        old = self.slot.current
        new = self._admit(self.path, "active", old.info.model_id, stop)
        self.reload_shadow(stop)
        if new is not None:
            self.slot.swap(new)
            i = new.info
            self.metrics.set_model(i)
            log.info("model_reloaded", stage="reload", old=old.info.model_id, new=i.model_id)
        return new is not None

    def reload_shadow(self, stop: threading.Event | None = None) -> None:
        old = self.shadow.current
        old_id = old.info.model_id if old is not None else None
        if self.shadow_path is None:
            if old is not None:
                self.shadow.swap(None)
                log.info("shadow_removed", stage="reload", old=old_id)
            self.metrics.set_shadow(None)
            return
        new = self._admit(self.shadow_path, "shadow", old_id, stop)
        if new is not None:
            self.shadow.swap(new)
            self.metrics.set_shadow(new.info)
            log.info("shadow_loaded", stage="reload", old=old_id, new=new.info.model_id)
