"""The teaching report: figures as JSON, and the pictures ``station eval`` draws, for held-out scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from station.offline import evaluate
from station.offline.evaluate import TILE, caption, confusion_png, contact_sheet, histogram_png, label, tile_of, write_png
from station.preprocess import quantised
from station.score import passes, passing
from station.teach import threshold
from station.teach.candidates import WHAT, Candidate, Network
from station.teach.parts import Sample


def mistakes_png(samples: list[Sample], crops: npt.NDArray[np.float32], scores: npt.NDArray[np.float64],
                 limits: npt.NDArray[np.float64], clip: float, written: float, n: int = 24) -> npt.NDArray[np.uint8]:  # fmt: skip
    """Contact sheet of the held-out mistakes and near misses: escapes and the lowest defects, then the highest good parts,
    each judged by its own pass limit (``limits``), with a second line where the ``written`` pass limit judges it the other
    way; ``clip``: the crops' normalisation (their spec's)."""
    labels = np.array([s.label for s in samples])
    defects = sorted(np.flatnonzero(labels == 1), key=lambda i: scores[i])[: n // 2]
    goods = sorted(np.flatnonzero(labels == 0), key=lambda i: -scores[i])[: n - len(defects)]
    tiles = []
    for i in list(defects) + list(goods):
        t = tile_of(quantised(crops[i], clip))
        wrong = passes(float(scores[i]), float(limits[i])) == bool(labels[i])
        cv2.rectangle(t, (0, 0), (TILE - 1, TILE - 1), (0, 0, 255) if wrong else (150, 150, 150), 3 if wrong else 1)
        kind = ("ESCAPE" if labels[i] else "FALSE REJ") if wrong else ("label def" if labels[i] else "label ok")  # judged right
        other = passes(float(scores[i]), written) != passes(float(scores[i]), float(limits[i]))
        said = (f"{kind} {scores[i]:.3f}", *((f"file: {'pass' if passes(float(scores[i]), written) else 'reject'}",) if other else ()))
        label(t, said, (80, 80, 255) if wrong else (230, 230, 230))
        caption(t, Path(samples[i].origin).name)  # a footage part: VIDEO#part N
        tiles.append(t)
    return contact_sheet(tiles)


PICTURES = ("confusion_matrix.png", "score_histograms.png", "base_score_histograms.png", "heldout_mistakes.png")
DRAWN = (*PICTURES, "parts.csv")  # drawn from the held-out scores: none when a line is refused before teaching
REPORT_FILES = ("metrics.json", *DRAWN)  # every file a teaching report writes (or removes, as an earlier run's)


def write_metrics(folder: Path, figures: dict[str, Any], keep_pictures: bool = False) -> None:
    """metrics.json, and (unless ``keep_pictures``, this run's) none of an earlier run's pictures: a line refused before
    teaching has no scores to draw."""
    evaluate.write_metrics(folder, figures, "the teaching report", () if keep_pictures else DRAWN)


def write(folder: Path, figures: dict[str, Any], samples: list[Sample], crops: npt.NDArray[np.float32], held_out: npt.NDArray[np.float64],
          base: npt.NDArray[np.float64], limit: float, judged_at: npt.NDArray[np.float64], clip: float) -> None:  # fmt: skip
    """metrics.json, confusion_matrix.png, score_histograms.png (taught and base), heldout_mistakes.png.

    The confusion matrix and the mistakes judge each part as the honest figures did (``judged_at``: the limit the other
    folds set), so that they show the parts behind the printed counts; the histograms draw the written ``limit``.
    """
    write_metrics(folder, figures)
    labels = np.array([s.label for s in samples])
    if len(samples):
        base_limit = float(figures["base"]["pass_limit"])
        pictures = (confusion_png(~passing(held_out, judged_at), labels), histogram_png(held_out, labels, limit),
                    histogram_png(base, labels, base_limit), mistakes_png(samples, crops, held_out, judged_at, clip, limit))  # fmt: skip
        for name, picture in zip(PICTURES, pictures, strict=True):
            write_png(folder / name, picture)
        write_parts(folder / "parts.csv", figures, limit)


def write_parts(path: Path, figures: dict[str, Any], limit: float) -> None:
    """One row a part, its honest mistakes first: the held-out score and the limit it was judged by (the other folds'),
    the verdict so, the verdict at the written pass limit, and every candidate's held-out score; folds counted from 1, as
    teaching says them."""
    parts, names, suspect = figures["held_out_scores"], list(figures["candidates"]), set(figures.get("suspect_labels", ()))

    def cell(v: float | None) -> str:
        return "" if v is None else repr(v)

    def mistake(p: dict[str, Any]) -> str:
        return "" if (p["honest"] == "pass") == (p["label"] == 0) else ("escape" if p["label"] else "false_reject")

    rows = [[p["part"], ("ok", "def")[p["label"]], str(p["fold"] + 1), cell(p["score"]), cell(p["judged_at"]), p["honest"],
             mistake(p), "pass" if p["score"] is not None and passes(p["score"], limit) else "reject",
             "suspect" if p["part"] in suspect else "", *(cell(p["by_candidate"][n]) for n in names)]
            for p in sorted(parts, key=lambda p: not mistake(p))]  # fmt: skip
    header = ["part", "label", "fold", "score", "judged_at", "verdict", "mistake", "at_pass_limit", "label_check", *names]
    evaluate.write_csv(path, header, rows)


def summary(pick: Candidate, base: threshold.Outcome, candidates: int, writing: bool) -> list[str]:
    """The held-out figures of the candidate picked, named, beside the base model's (as shipped, at its own threshold) on the
    same parts, and what they can show: the lines teaching says (``writing``: a model is to be written)."""
    judged = pick.judged
    esc, fr = judged.bounds()
    out = [
        f"held out ({WHAT[pick.name]}; each part judged by a network and a threshold that never saw it): {judged.escapes} of "
        f"{judged.defective} defective parts pass, {judged.false_rejects} of {judged.good} good parts rejected; the base model on "
        f"the same parts: {base.escapes} of {base.defective} defective pass, {base.false_rejects} of {base.good} good rejected",
        f"what {judged.parts} held-out parts can show ({threshold.CONFIDENCE:.0%} upper bounds, each photo counted as a part, for "
        f"the best of {candidates} candidates): at most {esc:.1%} of the line's defective parts pass and at most {fr:.1%} of its "
        f"good parts are rejected ({threshold.parts_to_show(0.01)} defective parts, none passing, would show under 1%)",
    ]
    if writing and pick.name == Network.TAUGHT:
        out.append(
            "those networks were each taught without the parts they judged; the network written learns from every part "
            "and is judged on none: station eval on other labelled parts of the line, and a spell in shadow, judge it"
        )
    if min(judged.defective, judged.good) < threshold.ADVISED:
        out.append(
            f"fewer than the {threshold.ADVISED} parts of each kind advised: these figures are all the gate can go on, and a "
            "model it writes can let through more defects than the one it replaces. Judge it on other labelled parts of the "
            "line (station eval), and run it in shadow, before it goes live"
        )
    return out
