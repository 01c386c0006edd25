"""``station eval FOLDER``: score a labelled folder (def_front/, ok_front/) the way the daemon would.

Prints accuracy, escapes (defective parts passed), false rejects, F1 and ROC AUC, and writes a
report folder: confusion matrix, per-class score histograms and a contact sheet of the worst
mistakes, drawn with OpenCV (no plotting dependency).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from station.errors import InputError, StationError, one_line
from station.files import misnamed, not_read, replace_file, to_cell
from station.imagesize import png_bytes
from station.messages import Reason
from station.model import Model
from station.offline.classify import Classifier
from station.preprocess import part_digest, pixels_digest
from station.stills import DEFECTIVE, GOOD, LABELLED, beside_labels, files_below, read_image

BACKWARDS = 0.25  # a ranking AUC this low: the labels are likelier swapped than the model that bad


def auc(scores: npt.NDArray[np.floating], y: npt.NDArray[np.integer]) -> float:
    """ROC AUC by the rank statistic (ties averaged)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    for v in np.unique(scores):
        tie = scores == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    npos, nneg = int(np.sum(y == 1)), int(np.sum(y == 0))
    if npos == 0 or nneg == 0:
        return float("nan")
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def f1_score(caught: int, false_rejects: int, escapes: int) -> float:
    """F1 of the defect class: defective parts rejected against good parts rejected and defective parts passed."""
    return 2 * caught / max(2 * caught + false_rejects + escapes, 1)


def metrics_at(rejected: npt.NDArray[np.bool_], y: npt.NDArray[np.integer], scores: npt.NDArray[np.floating]) -> dict[str, float | None]:
    """Accuracy, escapes, false rejects and F1 of reject decisions against labels (1 = defective)."""
    tp = int(np.sum(rejected & (y == 1)))
    fp = int(np.sum(rejected & (y == 0)))
    fn = int(np.sum(~rejected & (y == 1)))
    n_def, n_ok = int(np.sum(y == 1)), int(np.sum(y == 0))
    return {
        "images": len(y),
        "accuracy": round(float(np.mean(rejected == (y == 1))), 4),
        "f1": round(f1_score(tp, fp, fn), 4),
        "escapes": fn,
        "escape_rate": round(fn / max(n_def, 1), 4),
        "false_rejects": fp,
        "false_reject_rate": round(fp / max(n_ok, 1), 4),
        "auc": None if np.isnan(ranked := auc(scores, y)) else round(ranked, 4),  # one class: no ranking (and JSON has no NaN)
    }


@dataclass(frozen=True)
class Row:
    path: Path
    label: int
    verdict: str
    reason: str
    score: float  # NaN when not inspected
    where: tuple[float, float] | None = None  # a defect or uncertain verdict: the point that drove the score (image pixels)
    taught: bool = False  # a part the model was taught on (station teach): no measure of it
    cause: str = ""  # unable_to_inspect: why (cut_off, blurred, ...)


def _collect(folder: Path, clf: Classifier, taught: frozenset[str] = frozenset()) -> tuple[list[Row], list[str]]:
    """Every photo judged, and what was not (each named). An exact copy of a photo counts once (as teaching uses it once);
    one photo under both labels is an InputError naming both, unless it cannot be inspected (a blank: teaching takes that
    too, and each copy is a reject)."""
    rows: list[Row] = []
    problems: list[str] = []
    seen: dict[bytes, tuple[Path, int, bool]] = {}  # content -> the first photo of it, its label, whether it was inspected
    for sub, label in LABELLED.items():
        d = folder / sub
        if not d.is_dir():
            raise InputError(f"{d}: missing (expected {folder}/{GOOD} and {folder}/{DEFECTIVE}){misnamed(folder, sub)}")
        for p, why in files_below(d, strict=True):  # a link, a pipe, a device, another file type: named, never silently passed over;
            # a folder that cannot be listed stops it: figures without its parts would be read as the line's
            grab = read_image(p) if not why else None
            if grab is None or grab.image is None:
                problems.append(why or (grab.error if grab is not None else None) or f"{p}: unreadable")
                continue
            content = pixels_digest(grab.image)
            first = seen.get(content)
            if first is not None and first[1] == label:
                problems.append(f"{p}: an exact copy of {first[0]}, counted once")
                continue
            if first is not None and first[2]:
                raise InputError(f"{p}: the same photo as {first[0]}, labelled {'defective' if label else 'good'} here and "
                                 f"{'defective' if first[1] else 'good'} there: fix a label")  # fmt: skip
            v = clf.judge(grab.image, str(p))
            seen.setdefault(content, (p, label, v.reason is not Reason.UNABLE))
            score = float("nan") if v.score is None else v.score
            cause = v.cause.value if v.cause is not None else ""
            rows.append(Row(p, label, v.verdict, v.reason.value, score, v.where, part_digest(grab.image) in taught, cause))
    return rows, problems


def _by_station(folder: Path) -> frozenset[str] | None:
    """In an export (a ``labels.csv`` beside the label folders), the crops still labelled by the station's own verdict;
    None in a folder that is none. InputError, as teaching says it, for labels that cannot be read: which crops carry an
    operator's label is then not known, and figures on the station's own would compare the model with itself (before
    2026-12-07 eval went on, saying only that it judged by the folders)."""
    if not os.path.lexists(folder / "labels.csv"):
        return None
    from station.teach.exported import read_labels  # an export's labels, as teaching reads them

    return read_labels(folder).by_station


def _unjudged(folder: Path, rows: list[Row], by_station: frozenset[str] | None) -> list[str]:
    """What the folder holds beside its label folders (never judged), and, in an export, how many of the crops judged
    still carry the station's own verdict as their label (figures on them compare the model with itself)."""
    notes = [note for note in (beside_labels(folder, ("labels.csv",) if by_station is not None else ()),) if note]
    if by_station is not None:
        unchecked = by_station & {f"{r.path.parent.name}/{r.path.name}" for r in rows}
        if unchecked:
            notes.append(f"{len(unchecked)} of these crops are labelled by the station's own verdict (labels.csv, label_by "
                         "station): figures on them compare the model with itself; look at them first (docs/commissioning.md, "
                         "section 2)")  # fmt: skip
    return notes


REPORT_FILES = ("metrics.json", "parts.csv", "confusion_matrix.png", "score_histograms.png", "worst_mistakes.png")  # its writes


def evaluate_folder(folder: Path, model: Model, report: Path) -> int:
    """Print the figures as one JSON object and write the report pictures; 0 on success."""
    import sys

    try:
        not_read(report, "--report", [folder / sub for sub in LABELLED])  # its pictures would be judged next time
        report_folder(report)  # before the photos are judged, not after
        by_station = _by_station(folder)
        rows, problems = _collect(folder, Classifier(model), model.info.taught_parts)
    except (FileNotFoundError, InputError) as exc:
        print(one_line(f"station: error: {exc}"), file=sys.stderr)
        return 2
    for p in problems:
        print(one_line(f"station: skipped {p}"), file=sys.stderr)
    for note in _unjudged(folder, rows, by_station):
        print(one_line(f"station: note: {note}"), file=sys.stderr)
    if not rows:
        print(one_line(f"station: error: {folder}: no readable images"), file=sys.stderr)
        return 2
    y = np.array([r.label for r in rows])
    rejected = np.array([r.verdict == "reject" for r in rows])
    scores = np.array([1.0 if np.isnan(r.score) else r.score for r in rows])
    figures: dict[str, object] = dict(metrics_at(rejected, y, scores))
    figures["not_inspected"] = int(sum(np.isnan(r.score) for r in rows))
    figures["not_inspected_causes"] = dict(sorted(Counter(r.cause for r in rows if r.cause).items()))  # cut_off: framing ...
    figures["skipped_files"] = len(problems)
    figures["model"] = model.info.model_id
    if learnt := sum(r.taught for r in rows):
        figures["taught_on"] = learnt
        print(one_line(f"station: note: {model.info.model_id} was taught on {learnt} of these {len(rows)} photos, so the figures "
                       "on them measure nothing: judge it on parts it never saw"), file=sys.stderr)  # fmt: skip
    inspected = ~np.isnan(np.array([r.score for r in rows]))  # a part never scored says nothing of how the labels rank
    if (ranked := auc(scores[inspected], y[inspected])) <= BACKWARDS:  # NaN (one class inspected) is never <=
        print(one_line(f"station: note: the scores rank these labels backwards (AUC {ranked:.3f}): are {folder}/ok_front "
                       "and def_front swapped?"), file=sys.stderr)  # fmt: skip
    print(json.dumps(figures))
    write_metrics(report, figures, "the report")
    write_parts(report / "parts.csv", rows, folder)
    write_png(report / "confusion_matrix.png", confusion_png(rejected, y))
    write_png(report / "score_histograms.png", histogram_png(scores, y, model.info.band[0]))
    write_png(report / "worst_mistakes.png", worst_png(rows))
    print(one_line(f"station: report in {report}/ (each photo's verdict, reason and score: parts.csv)"), file=sys.stderr)
    return 0


def write_parts(path: Path, rows: Sequence[Row], folder: Path) -> None:
    """Every photo judged, one CSV row each (file relative to ``folder``, label, verdict, reason, score, which mistake, and
    why a part could not be inspected), the mistakes first; a StationError naming the file when it cannot be written."""
    order = sorted(rows, key=lambda r: (r.verdict == "pass") == (r.label == 0))  # a mistake first, each kind in folder order

    def mistake(r: Row) -> str:
        return "" if (r.verdict == "pass") == (r.label == 0) else ("escape" if r.label else "false_reject")

    write_csv(path, ["file", "label", "verdict", "reason", "score", "mistake", "cause"],
              [[r.path.relative_to(folder).as_posix(), ("ok", "def")[r.label], r.verdict, r.reason,
                "" if np.isnan(r.score) else str(r.score), mistake(r), r.cause] for r in order])  # fmt: skip


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A report's table; a file name that is not UTF-8 is escaped, and a cell a spreadsheet would take for a formula
    marked as text (:func:`station.files.to_cell`); StationError naming the file when it cannot be written."""
    text = io.StringIO(newline="")
    out = csv.writer(text)
    out.writerow(header)
    out.writerows([[to_cell(c) for c in row] for row in rows])
    try:
        replace_file(path, text.getvalue().encode("utf-8", "backslashreplace"))
    except OSError as exc:
        raise StationError(f"{path}: cannot write the report: {exc.strerror or exc}") from None


def report_folder(path: Path) -> None:
    """Make the report folder before any work that would only fail at the end: an InputError naming it when it cannot be
    made or written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot make the report folder: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot write the report there (the folder is not writable)")


def write_metrics(folder: Path, figures: Mapping[str, object], what: str, stale: Sequence[str] = ()) -> None:
    """``folder``/metrics.json, the folder made first and the ``stale`` pictures of an earlier run removed; a folder that
    cannot take it is a StationError naming the folder and ``what`` was being written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in stale:
            (folder / name).unlink(missing_ok=True)
        replace_file(folder / "metrics.json", (json.dumps(figures, indent=2) + "\n").encode())
    except OSError as exc:
        raise StationError(f"{folder}: cannot write {what}: {exc.strerror or exc}") from None


def write_png(path: Path, image: npt.NDArray[np.uint8]) -> None:
    """One report picture; a folder that cannot take it, or a picture OpenCV cannot encode, is a StationError naming the file."""
    try:  # written by Python: OpenCV crashes on a name that is not UTF-8
        replace_file(path, png_bytes(image, path.name))
    except OSError as exc:
        raise StationError(f"{path}: cannot write the report picture: {exc.strerror or exc}") from None


def confusion_png(rejected: npt.NDArray[np.bool_], y: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    img = np.full((330, 420, 3), 255, np.uint8)
    cells = [[np.sum(~rejected & (y == 0)), np.sum(rejected & (y == 0))], [np.sum(~rejected & (y == 1)), np.sum(rejected & (y == 1))]]
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "predicted: pass    reject", (110, 40), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for i, name in enumerate(("ok", "defective")):
        cv2.putText(img, name, (10, 120 + 120 * i), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(2):
            good = i == j
            colour = (200, 235, 200) if good else (190, 190, 245)
            x0, y0 = 120 + 140 * j, 60 + 120 * i
            cv2.rectangle(img, (x0, y0), (x0 + 130, y0 + 110), colour, -1)
            cv2.putText(img, str(int(cells[i][j])), (x0 + 30, y0 + 65), font, 1.0, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(img, "rows: true class", (10, 320), font, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    return img


LOGIT_SPAN = 12.0  # the histograms' x axis: the score's log-odds from -12 to +12 (6e-6 to 0.999994), ends included


def histogram_png(scores: npt.NDArray[np.floating], y: npt.NDArray[np.integer], limit: float) -> npt.NDArray[np.uint8]:
    """Score histograms of the good and the defective parts on a log-odds axis (scores crowd at 0 and 1: on a linear axis a
    well-taught line was two bars), with the pass limit (a part passes below it); a bin of one part is 3 px tall."""
    w, h, bins = 640, 360, 48
    img = np.full((h, w, 3), 255, np.uint8)
    edges = np.linspace(-LOGIT_SPAN, LOGIT_SPAN, bins + 1)
    hist = [np.histogram(_log_odds(scores[y == k]), bins=edges)[0] for k in (0, 1)]
    top = max(1, max(int(hh.max()) for hh in hist))
    bw = (w - 60) / bins
    for k, colour in ((0, (60, 160, 60)), (1, (60, 60, 200))):
        for b, count in enumerate(hist[k]):
            x0 = int(40 + b * bw + (bw / 2 if k else 0))
            if not count:
                continue
            y1 = h - 40 - max(3, int((h - 80) * count / top))  # one part is 3 px: 1 in 464 was drawn as nothing
            cv2.rectangle(img, (x0, y1), (int(x0 + bw / 2) - 1, h - 40), colour, -1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for p in (1e-4, 0.01, 0.5, 0.99, 0.9999):  # the score at a few places on the axis
        tx = _x_of(p, w)
        cv2.line(img, (tx, h - 40), (tx, h - 35), (0, 0, 0), 1)
        cv2.putText(img, f"{p:g}", (tx - 14, h - 24), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    tx = _x_of(limit, w)
    cv2.line(img, (tx, 20), (tx, h - 40), (0, 0, 0), 1)
    cv2.putText(img, f"passes below {limit:.3f}", (min(tx + 4, w - 150), 30), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        img,
        f"green: ok  red: defective  x: defect score, log-odds scale  tallest bar: {top} parts",
        (40, h - 8),
        font,
        0.4,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    return img


def _log_odds(p: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Each score's log-odds, held inside the axis (a score of exactly 0 or 1 at its ends)."""
    q = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    return np.asarray(np.clip(np.log(q / (1 - q)), -LOGIT_SPAN, LOGIT_SPAN), np.float64)


def _x_of(p: float, w: int) -> int:
    """Where score ``p`` lies on a histogram's x axis, in pixels."""
    return int(40 + (float(_log_odds(np.array([p]))[0]) + LOGIT_SPAN) / (2 * LOGIT_SPAN) * (w - 60))


def tile_label(r: Row) -> tuple[str, ...]:
    """The lines a mistake's tile says: the kind of mistake and its score, or why the part had none (it was never scored)."""
    kind = "ESCAPE" if r.label else "FALSE REJ"
    return (f"{kind} {r.score:.3f}",) if not np.isnan(r.score) else (kind, r.reason.replace("_", " "))


def caption(t: npt.NDArray[np.uint8], name: str) -> None:
    """``name`` (its end, as much as fits) across the top of tile ``t``: which file or part the tile is."""
    name = name.encode("ascii", "replace").decode()  # OpenCV's fonts draw ASCII (and crash on a lone surrogate: a name not UTF-8)
    text = name if len(name) <= CAPTION else "..." + name[-(CAPTION - 3) :]
    cv2.rectangle(t, (3, 3), (TILE - 4, 19), (0, 0, 0), -1)
    cv2.putText(t, text, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)


TILE = 160  # pixels a side of one part in a contact sheet
CAPTION = 24  # characters of a file name a tile shows


def tile_of(g: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A greyscale picture as one colour tile of a contact sheet."""
    return cv2.cvtColor(cv2.resize(g, (TILE, TILE), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR).astype(np.uint8)


def label(t: npt.NDArray[np.uint8], lines: tuple[str, ...], colour: tuple[int, int, int]) -> None:
    """Write ``lines`` at the foot of tile ``t``, on a dark strip so that they read on any picture."""
    cv2.rectangle(t, (3, TILE - 6 - 18 * len(lines)), (TILE - 4, TILE - 4), (0, 0, 0), -1)
    for k, line in enumerate(reversed(lines)):
        cv2.putText(t, line, (6, TILE - 9 - 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def contact_sheet(tiles: Sequence[npt.NDArray[np.uint8] | None]) -> npt.NDArray[np.uint8]:
    """The tiles six to a row, in order, on white (a None leaves its place white)."""
    sheet = np.full((TILE * max(1, (len(tiles) + 5) // 6), TILE * 6, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        if t is not None:
            sheet[(i // 6) * TILE : (i // 6 + 1) * TILE, (i % 6) * TILE : (i % 6 + 1) * TILE] = t
    return sheet


def worst_png(rows: list[Row], n: int = 24) -> npt.NDArray[np.uint8]:
    """Contact sheet: escapes first (lowest-scored defective), then the highest-scored OK rejects, each marked where it was
    seen and named; with none, a sheet that says so."""
    escapes = sorted((r for r in rows if r.label == 1 and r.verdict == "pass"), key=lambda r: r.score)
    false = sorted((r for r in rows if r.label == 0 and r.verdict == "reject"), key=lambda r: -np.nan_to_num(r.score, nan=1.0))
    sheet = contact_sheet([_mistake(r) for r in (escapes + false)[:n]])
    if not escapes and not false:
        cv2.putText(sheet, "no mistakes", (20, TILE // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 120, 0), 2, cv2.LINE_AA)
    return sheet


def _mistake(r: Row) -> npt.NDArray[np.uint8] | None:
    g = read_image(r.path).image
    if g is None:
        return None
    t = tile_of(g)
    colour = (0, 0, 255) if r.label == 1 else (0, 140, 255)
    if r.where is not None:  # where the network saw the defect it wrongly rejected for
        at = (round(r.where[0] * TILE / g.shape[1]), round(r.where[1] * TILE / g.shape[0]))
        cv2.circle(t, at, 9, (0, 255, 255), 2, cv2.LINE_AA)
    cv2.rectangle(t, (0, 0), (TILE - 1, TILE - 1), colour, 3)
    label(t, tile_label(r), colour)
    caption(t, r.path.name)
    return t
