"""Hot model reload: validate a new model file, then swap it in whole between two parts.

A reload (SIGHUP, or a changed file when ``model.watch`` is on) loads the file, checks its
metadata and input shape (station.model does), requires the same preprocessing as the running
model (a different crop would need a restart), and runs a self-test on the bundled sample
photos. Only then is it swapped in; the inference stage picks up the new model at the next part,
and that part carries its model (threshold, band, id) with it to the decision and the verdict.
A model that fails any check is refused with one log line and a counter; the old one keeps running.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import structlog

from station.errors import ModelError
from station.metrics import Metrics
from station.model import Model, Threads
from station.preprocess import Quality, preprocess
from station.sources import IMAGE_SUFFIXES

SAMPLE = Path(__file__).resolve().parent / "sample" / "casting"
SELF_TEST_ACCURACY = 0.8
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


def self_test(model: Model, sample: Path = SAMPLE) -> str | None:
    """Why ``model`` is unfit to run, judged on the labelled sample photos; None when it is fit."""
    crops, labels = [], []
    for folder, label in (("ok_front", 0), ("def_front", 1)):
        for p in sorted((sample / folder).iterdir()):
            img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) if p.suffix.lower() in IMAGE_SUFFIXES else None
            pre = preprocess(img, model.info.spec) if img is not None else None
            if pre is not None and pre.crop is not None and pre.quality is Quality.OK:
                crops.append(pre.crop)
                labels.append(label)
    if len(set(labels)) < 2:
        return f"{sample}: the self-test photos are missing"
    scores = model.score(np.stack(crops))
    if not np.all(np.isfinite(scores)) or scores.min() < 0.0 or scores.max() > 1.0:
        return "scores outside 0..1 on the self-test photos"
    accuracy = float(np.mean((scores > model.info.threshold) == np.array(labels, dtype=bool)))
    if accuracy < SELF_TEST_ACCURACY:
        return f"accuracy {accuracy:.2f} on the {len(labels)} self-test photos (needs {SELF_TEST_ACCURACY})"
    return None


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
        try:
            new = Model(self.path, self._threads)
            why = None if new.info.spec == old.info.spec else "its preprocessing (input size, margin, mask) differs: restart the station"
            why = why or self_test(new)
        except ModelError as exc:
            why = str(exc)
        except Exception as exc:  # whatever a broken file does inside ONNX Runtime, the old model stays
            why = f"{type(exc).__name__}: {exc}"
        if why is not None:
            self.metrics.model_reloads.labels(result="refused").inc()
            log.error("model_refused", stage="reload", path=str(self.path), why=why, keeping=old.info.model_id)
            return False
        new.warm_up()
        self.slot.swap(new)
        self.metrics.model_reloads.labels(result="ok").inc()
        i = new.info
        self.metrics.model_info.info({"id": i.model_id, "version": i.version, "threshold": str(i.threshold)})
        log.info("model_reloaded", stage="reload", old=old.info.model_id, new=i.model_id)
        return True
