"""Validation and robustness figures for tools/train.py: the threshold, the re-shoots, the pin holes.

The model is scored through a callable (PyTorch while training, the station's own ONNX Runtime
session with ``python3 -m tools.train --evaluate-only``), so both paths give the same report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from station.locate import Circle
from station.offline.evaluate import metrics_at as station_metrics
from station.preprocess import PreprocessSpec, normalise_crop, preprocess
from station.teach.pits import paint_pin_holes
from tools.augment import ROBUSTNESS_VIEWS, View, render

Crops = list[npt.NDArray[np.float32]]
Scorer = Callable[[Crops], npt.NDArray[np.float32]]
SHARED: dict[str, Any] = {}  # read-only inputs for pool workers (forked, so not copied)

# Near-white backgrounds with pin holes are where models fail: each validation OK photo is shot on
# one background band twice, as it is and with 1-3 small pits painted on its face (defective).
PIN_HOLE_BANDS: dict[str, View] = {
    "pin_holes_white_background": View(fill=0.0, background=235.0),
    "pin_holes_grey_background": View(fill=0.0, background=150.0),
    "pin_holes_dark_background": View(fill=0.0, background=45.0),
}


@dataclass(frozen=True)
class ViewCrops:
    """One view's crops, their labels and how often the station's locator found the part."""

    crops: Crops
    labels: npt.NDArray[np.int64]
    located: float


class _Here:
    """One worker: the jobs run in this process, in order (no fork)."""

    def imap(self, func: Callable[[Any], Any], items: Iterable[Any], chunksize: int = 1) -> Iterator[Any]:
        return map(func, items)


@contextmanager
def pool(n: int) -> Iterator[Any]:
    """``n`` forked worker processes (they share the parent's read-only data, ``SHARED``), or this process for one.

    OpenCV's thread pool does not survive a fork: a worker's first parallel OpenCV call can wait for
    threads it does not have, for ever (opencv/opencv#5150). OpenCV runs single-threaded while the
    workers live, and each of them too.
    """
    if n <= 1:
        yield _Here()
        return
    import multiprocessing

    before = cv2.getNumThreads()
    cv2.setNumThreads(0)
    try:
        with multiprocessing.get_context("fork").Pool(n) as workers:
            yield workers
    finally:
        cv2.setNumThreads(before)


def _shoot(
    img: npt.NDArray[np.uint8], c: Circle, view: View, rng: np.random.Generator, spec: PreprocessSpec
) -> tuple[npt.NDArray[np.float32], bool]:
    """Re-shoot, then find and crop as the daemon does; the true circle's crop if the finder fails."""
    shot, true = render(img, c, view, rng)
    pre = preprocess(shot, spec)
    found = pre.circle is not None and abs(pre.circle.r - true.r) < 0.08 * true.r
    return (pre.crop if pre.crop is not None else normalise_crop(shot, true, spec)[0]), found


def view_crops(name: str) -> ViewCrops:
    """One view of the validation photos, with its own seeded rng (so views can run in parallel)."""
    images, circles, labels, va_idx, seed, spec = (SHARED[k] for k in ("images", "circles", "labels", "va_idx", "seed", "spec"))
    rng = np.random.default_rng(seed)
    crops: Crops = []
    found = 0
    if name in ROBUSTNESS_VIEWS:
        for i in va_idx:
            crop, ok = _shoot(images[i], circles[i], ROBUSTNESS_VIEWS[name], rng, spec)
            crops.append(crop)
            found += ok
        return ViewCrops(crops, labels[va_idx], round(found / len(va_idx), 4))
    ok_idx = [int(i) for i in va_idx if labels[i] == 0]
    for i in ok_idx:
        painted = paint_pin_holes(images[i], circles[i], rng, int(rng.integers(1, 4)))
        for img in (images[i], painted):
            crop, ok = _shoot(img, circles[i], PIN_HOLE_BANDS[name], rng, spec)
            crops.append(crop)
            found += ok
    return ViewCrops(crops, np.tile(np.array([0, 1]), len(ok_idx)), round(found / max(2 * len(ok_idx), 1), 4))


def metrics_at(scores: npt.NDArray[np.float32], y: npt.NDArray[np.int64], thr: float) -> dict[str, float | None]:
    """The station's own figures (station.offline.evaluate) for "reject when score >= thr"."""
    return station_metrics(scores >= thr, y, scores)


# The 8 ways a square crop can lie (turns and flips): on the line a part arrives at any of them.
TURNS: dict[str, Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]] = {
    "as photographed": lambda c: c,
    "turned 90": lambda c: np.rot90(c, 1),
    "turned 180": lambda c: np.rot90(c, 2),
    "turned 270": lambda c: np.rot90(c, 3),
    "flipped": lambda c: c[:, ::-1],
    "flipped, turned 90": lambda c: np.rot90(c[:, ::-1], 1),
    "flipped, turned 180": lambda c: np.rot90(c[:, ::-1], 2),
    "flipped, turned 270": lambda c: np.rot90(c[:, ::-1], 3),
}


def turned_scores(score: Scorer, crops: Crops) -> dict[str, npt.NDArray[np.float32]]:
    """Scores of the same crops in each of the 8 orientations (a crop is centred on its part)."""
    return {name: score([np.ascontiguousarray(turn(c)) for c in crops]) for name, turn in TURNS.items()}


def evaluate(
    score: Scorer,
    data: dict[str, Any],
    workers: int = 2,
) -> dict[str, object]:
    """Threshold on the clean grouped validation split; robustness on fixed re-shoots of it.

    ``data`` holds images, circles, labels, va_idx, seed and spec.
    """
    SHARED.update(data)
    names = [*ROBUSTNESS_VIEWS, *PIN_HOLE_BANDS]
    per_view: dict[str, tuple[npt.NDArray[np.float32], ViewCrops]] = {}
    with pool(workers) as p:  # views in parallel; each has its own rng, so the figures do not change
        for name, vc in zip(names, p.imap(view_crops, names), strict=True):
            per_view[name] = (score(vc.crops), vc)
    report = summarise(per_view)
    clean = per_view["as_photographed"][1]
    thr = float(report["threshold"])  # type: ignore[arg-type]
    report["orientations"] = {name: metrics_at(s, clean.labels, thr) for name, s in turned_scores(score, clean.crops).items()}
    return report


def summarise(per_view: dict[str, tuple[npt.NDArray[np.float32], ViewCrops]]) -> dict[str, object]:
    """The report's figures from each view's scores: the threshold and band from the clean view."""
    clean, vc0 = per_view["as_photographed"]
    y = vc0.labels
    thr = float(min(np.min(clean[y == 1]) - 1e-4, 0.5))
    thr = max(thr, 0.02)
    ok_scores = np.sort(clean[y == 0])
    band_lo = float(max(thr * 0.9, 0.01))
    band_hi = float(min(thr + (1 - thr) * 0.25, 0.95))
    return {
        "threshold": round(thr, 4),
        "uncertain_band": [round(band_lo, 4), round(band_hi, 4)],
        "val_ok_scores_p99": round(float(ok_scores[int(0.99 * (len(ok_scores) - 1))]), 4),
        "validation": metrics_at(clean, y, thr),
        "robustness": {
            name: {**metrics_at(s, vc.labels, thr), "part_located": vc.located}
            for name, (s, vc) in per_view.items()
            if name in ROBUSTNESS_VIEWS
        },
        "pin_holes": {
            name: {**metrics_at(s, vc.labels, thr), "part_located": vc.located}
            for name, (s, vc) in per_view.items()
            if name in PIN_HOLE_BANDS
        },
    }
