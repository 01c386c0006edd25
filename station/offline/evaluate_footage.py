"""``station eval VIDEO``: footage with its ground truth beside it (VIDEO.csv) replayed through the station, as
``station replay`` runs it, each verdict matched to its part, and the line's figures: parts missed, verdicts doubled or
for no part, escapes (a defective part passed, or missed: on the line it gets no verdict), false rejects, F1.

The run binds no port, reads no key, writes no archive, plays the file once and never rejects a part as late
(:data:`OFFLINE`): it can run beside the station on the line PC, and its figures do not depend on how busy that is.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from station.config import Config, Direction
from station.errors import InputError, one_line
from station.files import ground_truths, no_ground_truth, opencv_name, report_apart
from station.messages import Verdict
from station.model import Model
from station.offline.evaluate import auc, confusion_png, f1_score, histogram_png, report_folder, write_csv, write_metrics, write_png
from station.pipeline import RunOptions
from station.preprocess import part_digest, part_region, to_gray, view_digest
from station.score import published
from station.signals import SIGNALS
from station.sources import VideoFileSource
from station.stages.trigger import probe_recording
from station.supervisor import run_pipeline
from station.teach.truth import all_after_the_end, fitted_speed, frame_a_part, read_truth, renumbered, row_for, truth_csv
from station.travel import TravelWatch

# what eval sets over the config: no socket another process could reach, no key, no server, no archive, no second model,
# the file once, no deadline (an unpaced replay on a busy PC would make late rejects, which count as caught defects)
OFFLINE = ["publisher.endpoint=inproc://station-eval", "publisher.resend_endpoint=null", "publisher.curve.enabled=false",
           "publisher.deadline_ms=600000", "metrics.enabled=false", "archive.dir=null", "model.shadow=null", "model.watch=false",
           "review.token_file=null", "camera.loop=false", "logging.level=warning"]  # fmt: skip


@dataclass(frozen=True)
class Matched:
    """One ground-truth part and the verdict matched to it (None: the station gave it none)."""

    row: int
    label: int
    first: int
    last: int
    verdict: Verdict | None


def evaluate_video(video: Path, cfg: Config, model: Model, report: Path) -> int:
    """Replay ``video`` through the station with ``cfg`` (OFFLINE applied), judge its verdicts against the ground truth:
    one JSON object on stdout, the report in ``report``; 0 on success, 2 for bad input, the run's own code if it failed."""
    source = VideoFileSource(video, decode_threads=cfg.camera.decode_threads)  # the file, whatever its name looks like (usb:0)
    try:
        truth = _inputs(video, cfg, report, source)
    except InputError as exc:
        print(one_line(f"station: error: {exc}"), file=sys.stderr)
        return 2
    kept, travel = _Kept(model), TravelWatch(cfg.trigger.direction)
    code = run_pipeline(cfg, model, source, RunOptions(metrics_server=False, on_verdict=kept.add, travel=travel), progress=True)
    got = kept.verdicts
    if code != 0:
        return code
    if SIGNALS.stopped:  # drained at a stop: the parts after it were never judged
        print(one_line(f"station: {video}: stopped before its end, so no figures"), file=sys.stderr)
        return 130
    try:
        if len(kept.sizes) > 1:  # each part is placed along one width: the last frame's misplaced the others (found by a probe)
            sizes = ", ".join(f"{w}x{h}" for w, h in sorted(kept.sizes))
            raise InputError(f"{video}: its frames change size ({sizes}): eval places each part of the ground truth along one "
                             "frame width; judge each stretch of one size as a video of its own")  # fmt: skip
        judged = _in_the_video(video, source, truth)
    except InputError as exc:
        print(one_line(f"station: error: {exc}"), file=sys.stderr)
        return 2
    end = source.frames_handed_on - 1  # a part still in view as the video ended has its window cut there
    parts, extra = match(got, judged, kept.width, cfg.trigger.direction is Direction.RIGHT_TO_LEFT, end)
    figures = {**line_figures(parts, extra), "not_judged": len(truth) - len(judged), "model": model.info.model_id, "video": str(video)}
    if travel.mostly_against():
        print(one_line(f"station: note: {travel.summary()}"), file=sys.stderr)
    elif 2 * (missed := sum(p.verdict is None for p in parts)) > len(parts):
        print(one_line(f"station: note: {missed} of the {len(parts)} parts got no verdict: check the trigger settings "
                       "of the config given with -c (trigger.direction first, then min_diameter_px, max_diameter_px and "
                       "contrast)"), file=sys.stderr)  # fmt: skip
    if kept.taught_on:
        figures["taught_on"] = kept.taught_on
        print(one_line(f"station: note: {model.info.model_id} was taught on at least {kept.taught_on} of these {len(got)} parts "
                       "(known by their frames or pixels), so the figures on them measure nothing: judge it on footage of parts it never "
                       "saw"), file=sys.stderr)  # fmt: skip
    print(json.dumps(figures))
    _write_report(report, figures, parts, extra, model.info.band[0])
    print(one_line(f"station: report in {report}/ (each part's verdict, reason and score: parts.csv)"), file=sys.stderr)
    return 0


class _Kept:
    """The verdicts of a replay, in order, without their frames (an hour of footage is thousands), and how many of their
    parts the model was taught on: known by their view (frame and blob, as teaching records a footage part: the same video
    replayed with the same trigger settings), or by the pixels round them (a photo's or export's crop seen in a video;
    before views were recorded, 27 of 40 footage parts were known by these alone, a circle found a sub-pixel apart
    taking other pixels)."""

    def __init__(self, model: Model) -> None:
        self.verdicts: list[Verdict] = []
        self.taught_on = 0
        self.sizes: set[tuple[int, int]] = set()  # of the frames judged on: one, or the ground truth cannot be placed
        self._model = model

    @property
    def width(self) -> int:
        """Of the frames (one size: :func:`evaluate_video` refuses more), which places each ground-truth part along the belt."""
        return max((w for w, _ in self.sizes), default=0)

    def add(self, v: Verdict) -> None:
        if v.image is not None and v.image.size:
            self.sizes.add((v.image.shape[1], v.image.shape[0]))
        if (taught := self._model.info.taught_parts) and v.image is not None:
            gray = to_gray(v.image)
            seen = {view_digest(gray, v.blob)} if v.blob is not None else set()
            if v.circle is not None:
                seen.add(part_digest(part_region(gray, v.circle, self._model.info.spec)[0]))
            self.taught_on += not seen.isdisjoint(taught)
        self.verdicts.append(replace(v, image=None, evidence=None))


def _in_the_video(video: Path, source: VideoFileSource, truth: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The rows of ``truth`` the replayed video held, after it ended: InputError for a video whose frames no longer match
    the ground truth's numbers (frames lost where the count is exact, or cut short before rows it lists); rows after its
    last frame (the last it declares, where it was cut short) are named in a note and left out, as teach leaves them."""
    lost, declared = source.frames_lost(), source.frame_count or 0
    renumbered(video, lost, declared, source.count_is_exact)
    if lost and (cut := [last for _, first, last in truth if first < declared and last >= declared - lost]):
        raise InputError(f"{video}: it ended after {declared - lost} of the {declared} frames it declares (cut short), and "
                         f"its ground truth has parts up to frame {max(cut)}: those cannot be judged")  # fmt: skip
    all_after_the_end(video, truth, source.frames_handed_on)
    frames = declared if lost else source.frames_handed_on
    if after := [k for k, (_, first, _) in enumerate(truth) if first >= frames]:
        rows = "1 row" if len(after) == 1 else f"{len(after)} rows"
        print(one_line(f"station: note: {video}: {rows} of its ground truth (from line {after[0] + 2} of the CSV) after its "
                       f"last frame ({frames - 1}): not judged"), file=sys.stderr)  # fmt: skip
        return truth[: after[0]]
    return truth


def _inputs(video: Path, cfg: Config, report: Path, source: VideoFileSource) -> list[tuple[int, int, int]]:
    """The ground truth, the report folder made and the video opened once as replay probes it (CameraError, one line,
    when it is no video the station reads); InputError for what cannot be judged."""
    if not video.is_file():
        raise InputError(f"{video}: not a regular file (a pipe or a device is no video to judge)")
    if not opencv_name(video):
        raise InputError(f"{video}: its name is not UTF-8, which the video decoder cannot open: rename the file")
    truth_path = truth_csv(video)
    if truth_path is None:
        raise InputError(no_ground_truth(video))
    truth, _ = read_truth(truth_path)
    frame_a_part(truth_path, truth, cfg)
    report_apart(report, REPORT_FILES, [video, *ground_truths(video)])  # parts.mp4's report beside it: parts.csv its truth
    report_folder(report)
    probe_recording(cfg, source)
    return truth


REPORT_FILES = ("metrics.json", "parts.csv", "confusion_matrix.png", "score_histograms.png")  # what _write_report writes


def _write_report(report: Path, figures: dict[str, object], parts: list[Matched], extra: list[Verdict], limit: float) -> None:
    """metrics.json, parts.csv, the confusion matrix (a part missed is a pass: it gets no reject) and the score histograms."""
    write_metrics(report, figures, "the report")
    _write_parts(report / "parts.csv", parts, extra)
    y = np.array([p.label for p in parts], dtype=np.int64)
    rejected = np.array([p.verdict is not None and p.verdict.verdict == "reject" for p in parts], dtype=np.bool_)
    write_png(report / "confusion_matrix.png", confusion_png(rejected, y))
    scored = [(p.label, p.verdict.score) for p in parts if p.verdict is not None and p.verdict.score is not None]
    labels = np.array([label for label, _ in scored], dtype=np.int64)
    write_png(report / "score_histograms.png", histogram_png(np.array([score for _, score in scored]), labels, limit))


def match(got: list[Verdict], truth: list[tuple[int, int, int]], width: int, rtl: bool,
          end: int | None = None) -> tuple[list[Matched], list[Verdict]]:  # fmt: skip
    """Each ground-truth part with the verdict given for it, found by where the trigger saw the part when it fired (its
    window and its place along the belt, as teaching finds it), and the verdicts for no part. ``end``: the video's last
    frame, where a part still in view had its window cut; where every window is cut so, the belt's speed is fitted to
    the verdicts (:func:`station.teach.truth.fitted_speed`)."""
    used = [False] * len(truth)
    verdict_of: dict[int, Verdict] = {}
    extra = []
    seen = [(v.frame if v.seen is None else v.seen, v.blob) for v in got]  # the line trigger: a blob each
    speed = fitted_speed(seen, width, truth, rtl, end) if end is not None else None
    for v, (frame, blob) in zip(got, seen, strict=True):
        row = row_for(frame, blob, width, truth, used, rtl, end, speed)
        if row is None:
            extra.append(v)
            continue
        used[row] = True
        verdict_of[row] = v
    parts = [Matched(k, label, a, b, verdict_of.get(k)) for k, (label, a, b) in enumerate(truth)]
    return parts, extra


def line_figures(parts: list[Matched], extra: list[Verdict]) -> dict[str, object]:
    """The line's figures: a defective part missed passes on the line (no verdict, no reject) and counts as an escape; a
    verdict for no part (a fragment, a part judged twice) is ``extra``, and fires the ejector when it rejects; a part
    whose verdict came before that of a part ahead of it (verdicts go out in order of arrival) is ``out_of_order``."""
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
        "missed": len(missed), "extra": len(extra), "extra_rejects": sum(v.verdict == "reject" for v in extra),
        "out_of_order": out_of_order([p.verdict.part_id for p in parts if p.verdict is not None]),
        "escapes": escapes, "escape_rate": round(escapes / max(n_def, 1), 4),
        "false_rejects": false_rejects, "false_reject_rate": round(false_rejects / max(n_ok, 1), 4),
        "wrong": escapes + false_rejects, "f1": round(f1_score(caught, false_rejects, escapes), 4),
        "not_inspected": sum(p.verdict is not None and p.verdict.score is None for p in parts),
        "auc": None if np.isnan(ranked) else round(ranked, 4),
    }  # fmt: skip


def out_of_order(ids: list[int]) -> int:
    """How many of the verdicts ``ids`` (their part ids, in the order the parts arrived; ids count up as verdicts go out)
    went out before the verdict of a part that arrived ahead of them."""
    ahead = -1
    late = 0
    for i in ids:
        late += i < ahead
        ahead = max(ahead, i)
    return late


def _write_parts(path: Path, parts: list[Matched], extra: list[Verdict]) -> None:
    """One row per part of the ground truth and per verdict for none, mistakes first."""

    def mistake(p: Matched) -> str:
        if p.verdict is None:
            return "missed"
        wrong = (p.verdict.verdict == "pass") == bool(p.label)
        return ("escape" if p.label else "false_reject") if wrong else ""

    rows = [
        [str(p.row + 1), ("ok", "def")[p.label], str(p.first), str(p.last), *_said(p.verdict), mistake(p), _cause(p.verdict)] for p in parts
    ]
    rows += [["", "", "", "", *_said(v), "extra", _cause(v)] for v in extra]
    rows.sort(key=lambda r: r[-2] == "")  # mistakes first, each kind in order of arrival
    header = ["part", "label", "first_frame", "last_frame", "frame", "part_id", "verdict", "reason", "score", "mistake", "cause"]
    write_csv(path, header, rows)


def _cause(v: Verdict | None) -> str:
    """Why a part could not be inspected (``unable_to_inspect``: off centre, cut off, blurred, ...), as the photos' parts.csv
    says it; empty for any other verdict."""
    return v.cause.value if v is not None and v.cause is not None else ""


def _said(v: Verdict | None) -> list[str]:
    """A verdict's cells in parts.csv: frame, part id, verdict, reason, score (empty where none)."""
    if v is None:
        return ["", "", "", "", ""]
    return [str(v.frame), str(v.part_id), v.verdict, v.reason.value, "" if v.score is None else str(published(v.score))]
