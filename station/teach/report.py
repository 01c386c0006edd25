"""The teaching report: figures as JSON, and the pictures ``station eval`` draws, for held-out scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from station.offline.evaluate import confusion_png, histogram_png
from station.teach.samples import Sample


def mistakes_png(samples: list[Sample], crops: npt.NDArray[np.float32], scores: npt.NDArray[np.float64],
                 limits: npt.NDArray[np.float64], n: int = 24) -> npt.NDArray[np.uint8]:  # fmt: skip
    """Contact sheet of the held-out mistakes and near misses: escapes and the lowest defects, then the highest good parts,
    each judged by its own pass limit (``limits``)."""
    labels = np.array([s.label for s in samples])
    defects = sorted(np.flatnonzero(labels == 1), key=lambda i: scores[i])[: n // 2]
    goods = sorted(np.flatnonzero(labels == 0), key=lambda i: -scores[i])[: n - len(defects)]
    chosen = list(defects) + list(goods)
    tile = 160
    sheet = np.full((tile * max(1, (len(chosen) + 5) // 6), tile * 6, 3), 255, np.uint8)
    for k, i in enumerate(chosen):
        g = np.clip((crops[i] + 4.0) / 8.0 * 255, 0, 255).astype(np.uint8)
        t = cv2.cvtColor(cv2.resize(g, (tile, tile), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
        wrong = (not scores[i] < limits[i]) != bool(labels[i])
        colour = (0, 0, 255) if wrong else (150, 150, 150)
        cv2.rectangle(t, (0, 0), (tile - 1, tile - 1), colour, 3 if wrong else 1)
        kind = ("ESCAPE" if labels[i] else "FALSE REJ") if wrong else ("defect" if labels[i] else "good")
        cv2.rectangle(t, (3, tile - 24), (tile - 4, tile - 4), (0, 0, 0), -1)  # a dark strip: the label reads on any crop
        cv2.putText(t, f"{kind} {scores[i]:.3f}", (6, tile - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (80, 80, 255) if wrong else (230, 230, 230), 1, cv2.LINE_AA)  # fmt: skip
        sheet[(k // 6) * tile : (k // 6 + 1) * tile, (k % 6) * tile : (k % 6 + 1) * tile] = t
    return sheet


PICTURES = ("confusion_matrix.png", "score_histograms.png", "base_score_histograms.png", "heldout_mistakes.png")


def write_metrics(folder: Path, figures: dict[str, Any]) -> None:
    """metrics.json, and none of an earlier run's pictures (a line refused before teaching has no scores to draw)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PICTURES:
        (folder / name).unlink(missing_ok=True)
    (folder / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")


def write(folder: Path, figures: dict[str, Any], samples: list[Sample], crops: npt.NDArray[np.float32], held_out: npt.NDArray[np.float64],
          base: npt.NDArray[np.float64], limit: float, judged_at: npt.NDArray[np.float64]) -> None:  # fmt: skip
    """metrics.json, confusion_matrix.png, score_histograms.png (taught and base), heldout_mistakes.png.

    The confusion matrix and the mistakes judge each part as the honest figures did (``judged_at``: the limit the other
    folds set), so that they show the parts behind the printed counts; the histograms draw the written ``limit``.
    """
    write_metrics(folder, figures)
    labels = np.array([s.label for s in samples])
    if len(samples):
        base_limit = float(figures["base"]["pass_limit"])
        pictures = (confusion_png(~(held_out < judged_at), labels), histogram_png(held_out, labels, limit),
                    histogram_png(base, labels, base_limit), mistakes_png(samples, crops, held_out, judged_at))  # fmt: skip
        for name, picture in zip(PICTURES, pictures, strict=True):
            cv2.imwrite(str(folder / name), picture)
