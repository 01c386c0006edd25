"""``station eval VIDEO``: footage with its ground truth beside it (VIDEO.csv) replayed through the station, as
``station replay`` runs it, each verdict matched to its part, and the line's figures: parts missed, verdicts doubled or
for no part, escapes (a defective part passed, or missed: on the line it gets no verdict), false rejects, F1.

The run binds no port and writes no archive (:data:`OFFLINE`): it can run beside the station on the line PC.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from station.config import Config, Direction
from station.errors import InputError, StationError, one_line
from station.model import Model
from station.offline.evaluate import auc, confusion_png, f1_score, histogram_png, report_folder, write_metrics, write_png
from station.pipeline import RunOptions
from station.supervisor import configured_source, run_pipeline
from station.teach.truth import read_truth, row_for, truth_csv
from station.wire import VerdictMessage

# what eval sets over the config: no socket another process could reach, no server, no archive, no second model
OFFLINE = ["publisher.endpoint=inproc://station-eval", "publisher.resend_endpoint=null", "metrics.enabled=false",
           "archive.dir=null", "model.shadow=null", "model.watch=false", "review.token_file=null", "logging.level=warning"]  # fmt: skip


@dataclass(frozen=True)
class Matched:
    """One ground-truth part and the verdict matched to it (None: the station gave it none)."""

    row: int
    label: int
    first: int
    last: int
    verdict: VerdictMessage | None


def evaluate_video(video: Path, cfg: Config, model: Model, report: Path) -> int:
    """Replay ``video`` through the station with ``cfg`` (OFFLINE applied), judge its verdicts against the ground truth:
    one JSON object on stdout, the report in ``report``; 0 on success, 2 for bad input, the run's own code if it failed."""
    try:
        truth_path = truth_csv(video)
        if truth_path is None:
            raise InputError(f"{video}: a video needs its ground truth beside it ({video.name}.csv or {video.with_suffix('.csv').name})")
        truth, _ = read_truth(truth_path)
        report_folder(report)
        width = _width(video)
    except InputError as exc:
        print(one_line(f"station: error: {exc}"), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="station-eval-") as tmp:
        out = Path(tmp) / "verdicts.jsonl"
        code = run_pipeline(cfg, model, configured_source(cfg, str(video)), RunOptions(out=out, metrics_server=False), progress=True)
        if code != 0:
            return code
        got = [VerdictMessage.decode(line) for line in out.read_text().splitlines() if line.strip()]
    parts, extra = match(got, truth, width, cfg.trigger.direction is Direction.RIGHT_TO_LEFT)
    figures = {**line_figures(parts, extra), "model": model.info.model_id, "video": str(video)}
    print(json.dumps(figures))
    write_metrics(report, figures, "the report")
    _write_parts(report / "parts.csv", parts, extra)
    scored = [(p.label, p.verdict) for p in parts if p.verdict is not None]
    y = np.array([label for label, _ in scored], dtype=np.int64)
    rejected = np.array([v.verdict == "reject" for _, v in scored], dtype=np.bool_)
    scores = np.array([1.0 if v.score is None else v.score for _, v in scored])
    write_png(report / "confusion_matrix.png", confusion_png(rejected, y))
    write_png(report / "score_histograms.png", histogram_png(scores, y, model.info.band[0]))
    print(one_line(f"station: report in {report}/ (each part's verdict, reason and score: parts.csv)"), file=sys.stderr)
    return 0


def _width(video: Path) -> int:
    """The video's frame width, which places each part of the ground truth along the belt; InputError when unreadable."""
    cap = cv2.VideoCapture(str(video))
    try:
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) if cap.isOpened() else 0
    finally:
        cap.release()
    if width <= 0:
        raise InputError(f"{video}: not a video this station can read")
    return width


def match(got: list[VerdictMessage], truth: list[tuple[int, int, int]], width: int,
          rtl: bool) -> tuple[list[Matched], list[VerdictMessage]]:  # fmt: skip
    """Each ground-truth part with the verdict given for it, found by where the part was when it was judged (its window
    and its place along the belt; a part located nowhere: the first part due then), and the verdicts for no part."""
    used = [False] * len(truth)
    verdict_of: dict[int, VerdictMessage] = {}
    extra = []
    for v in got:
        cx, d = (v.circle[0], 2 * v.circle[2]) if v.circle is not None else (None, 0.0)
        row = row_for(v.frame, cx, d, width, truth, used, rtl)
        if row is None:
            extra.append(v)
            continue
        used[row] = True
        verdict_of[row] = v
    parts = [Matched(k, label, a, b, verdict_of.get(k)) for k, (label, a, b) in enumerate(truth)]
    return parts, extra


def line_figures(parts: list[Matched], extra: list[VerdictMessage]) -> dict[str, object]:
    """The line's figures: a defective part missed passes on the line (no verdict, no reject) and counts as an escape."""
    n_def = sum(p.label for p in parts)
    n_ok = len(parts) - n_def
    missed = [p for p in parts if p.verdict is None]
    escapes = sum(p.label == 1 and (p.verdict is None or p.verdict.verdict == "pass") for p in parts)
    false_rejects = sum(p.label == 0 and p.verdict is not None and p.verdict.verdict == "reject" for p in parts)
    caught = n_def - escapes
    scored = [p for p in parts if p.verdict is not None]
    y = np.array([p.label for p in scored], dtype=np.int64)
    scores = np.array([1.0 if p.verdict is None or p.verdict.score is None else p.verdict.score for p in scored])
    ranked = auc(scores, y) if len(scored) else float("nan")
    return {
        "parts": len(parts), "defective": n_def, "verdicts": len(parts) - len(missed) + len(extra),
        "missed": len(missed), "extra": len(extra),
        "escapes": escapes, "escape_rate": round(escapes / max(n_def, 1), 4),
        "false_rejects": false_rejects, "false_reject_rate": round(false_rejects / max(n_ok, 1), 4),
        "wrong": escapes + false_rejects, "f1": round(f1_score(caught, false_rejects, escapes), 4),
        "not_inspected": sum(p.verdict is not None and p.verdict.score is None for p in parts),
        "auc": None if np.isnan(ranked) else round(ranked, 4),
    }  # fmt: skip


def _write_parts(path: Path, parts: list[Matched], extra: list[VerdictMessage]) -> None:
    """One row per part of the ground truth and per verdict for none, mistakes first; StationError when it cannot be written."""

    def mistake(p: Matched) -> str:
        if p.verdict is None:
            return "missed"
        wrong = (p.verdict.verdict == "pass") == bool(p.label)
        return ("escape" if p.label else "false_reject") if wrong else ""

    rows = [[str(p.row + 1), ("ok", "def")[p.label], str(p.first), str(p.last), *_said(p.verdict), mistake(p)] for p in parts]
    rows += [["", "", "", "", *_said(v), "extra"] for v in extra]
    rows.sort(key=lambda r: r[-1] == "")  # mistakes first, each kind in order of arrival
    try:
        with path.open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["part", "label", "first_frame", "last_frame", "frame", "part_id", "verdict", "reason", "score", "mistake"])
            out.writerows(rows)
    except OSError as exc:
        raise StationError(f"{path}: cannot write the report: {exc.strerror or exc}") from None


def _said(v: VerdictMessage | None) -> list[str]:
    """A verdict's cells in parts.csv: frame, part id, verdict, reason, score (empty where none)."""
    if v is None:
        return ["", "", "", "", ""]
    return [str(v.frame), str(v.part_id), v.verdict, v.reason.value, "" if v.score is None else str(v.score)]
