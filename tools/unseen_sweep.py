"""Frames the line trigger does not see, swept over composed footage: one verdict a part, in order, whatever stretch is lost.

    python3 -m tools.unseen_sweep [--lengths 3,10,25,49,80] [--step 3] [--dropped | --silent | --blank | --frozen] [--right-to-left]

Composes two videos of the bundled sample's first 4 good and 4 defective photos, alternating (960 x 540 px, 30 fps,
parts 240 px across, 16 and 40 px a frame), then runs the station's line trigger over each once for every stretch
of ``--lengths`` frames starting at every ``--step``-th frame, the stretch's frames undecodable (their numbers kept);
with ``--dropped``, missing from the numbering (a capture queue's drops); with ``--silent``, gone without a trace;
with ``--blank``, showing only the belt; with ``--frozen``, each a copy of the frame before the stretch. A case is
wrong when the verdicts come out of order, or are fewer than the parts due one, or more than the parts seen at all
outside it (a part coming into view or leaving counts as seen). Due one: a part seen whole outside the stretch, and a
part seen coming into view with its centre in view before the stretch that crossed the line in it (rejected, never
seen whole). It counts verdicts and does not match them to parts, so a part missed and another judged twice in one
case cancel out. Prints one JSON line per video and length, and the total.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from station.config import Direction, TriggerSection
from station.footage import Envelope, compose, labelled_photos, read_truth
from station.gate import SAMPLE
from station.messages import Cause, Failure, Frame, Part, Reason
from station.stages.line_trigger import LineTrigger

SPEEDS = (16.0, 40.0)
DIAMETER = 240.0
_UNDECODED = Failure(Reason.UNABLE, "could not be decoded", Cause.UNREADABLE)


def _video(folder: Path, speed: float) -> tuple[list[npt.NDArray[np.uint8]], list[tuple[int, int]]]:
    """The composed video's frames, grey, and each part's first and last frame entirely in view."""
    photos = labelled_photos(SAMPLE)
    ok, bad = [p for p in photos if p.label == "ok"][:4], [p for p in photos if p.label == "def"][:4]
    video = folder / f"line{speed:.0f}.avi"
    compose([p for pair in zip(ok, bad, strict=True) for p in pair], video, Envelope(960, 540, 30, speed, DIAMETER, codec="MJPG"), seed=3)
    cap = cv2.VideoCapture(str(video))
    frames = []
    while (got := cap.read())[0]:
        frames.append(np.asarray(cv2.cvtColor(got[1], cv2.COLOR_BGR2GRAY), np.uint8))
    cap.release()
    return frames, [(int(r["first_frame"]), int(r["last_frame"])) for r in read_truth(video)]


Lost = Literal["undecodable", "dropped", "silent", "blank", "frozen"]


def run(frames: list[npt.NDArray[np.uint8]], lost: range, cfg: TriggerSection, how: Lost = "undecodable") -> list[Part]:
    """The parts the line trigger gives for ``frames`` with those in ``lost`` undecodable (their numbers kept), or
    ``dropped`` (missing from the numbering), or gone without a trace (``silent``: the frames after them numbered on from
    the last before them, their parts' verdicts stamped back), or showing nothing (``blank``: each the grey of its belt,
    the light out), or each a copy of the frame before them (``frozen``: frames lost and filled in by a recorder that
    keeps a constant rate)."""
    trig, out, shift = LineTrigger(cfg), [], 0
    for i, img in enumerate(frames):
        if i not in lost:
            got = trig(Frame(i - shift, img, float(i), float(i)))
            out += [replace(p, frame=replace(p.frame, index=p.frame.index + shift)) for p in got] if how == "silent" else got
        elif how == "silent":
            shift += 1
        elif how == "frozen":
            out += trig(Frame(i, frames[lost.start - 1] if lost.start > 0 else img, float(i), float(i)))
        elif how == "blank":
            out += trig(Frame(i, np.full_like(img, int(np.median(img))), float(i), float(i)))
        elif how == "undecodable":
            out += trig(Frame(i, np.zeros((0, 0), np.uint8), float(i), float(i), _UNDECODED))
    return out + trig.flush()


def wrong(parts: list[Part], windows: list[tuple[int, int]], lost: range, edge: int, entering: float = 0.0) -> bool:
    """Out of order, or fewer verdicts than parts due one, or more than parts seen at all (``edge``: frames a part takes
    to come into view, or to leave). Due one: a part seen whole outside ``lost``, and one seen with its centre in view
    (for ``entering`` frames before it is whole) before the stretch and crossing the line (mid-window) in it."""
    outside = [any(f not in lost for f in range(a, b + 1)) for a, b in windows]
    seen = [any(f not in lost for f in range(a - edge, b + edge + 1)) for a, b in windows]
    crossed = [
        not whole and (a + b) // 2 in lost and any(f < lost.start for f in range(math.floor(a - entering) + 1, a))
        for (a, b), whole in zip(windows, outside, strict=True)
    ]
    stamps = [p.frame.index for p in parts]
    return stamps != sorted(stamps) or not sum(outside) + sum(crossed) <= len(parts) <= sum(seen)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.unseen_sweep", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lengths", default="3,10,25,49,80", help="stretch lengths, frames, comma-separated")
    ap.add_argument("--step", type=int, default=3, help="a stretch starts at every this many frames")
    how = ap.add_mutually_exclusive_group()  # without one: undecodable, their numbers kept
    for name, what in (
        ("dropped", "the stretch's frames are missing from the numbering"),
        ("silent", "the stretch's frames gone without a trace (renumbered after it)"),
        ("blank", "the stretch's frames show only the belt's grey (the light out)"),
        ("frozen", "the stretch's frames each a copy of the frame before it"),
    ):
        how.add_argument(f"--{name}", dest="how", action="store_const", const=name, default="undecodable", help=what)
    ap.add_argument("--right-to-left", action="store_true", help="the videos mirrored, trigger.direction right_to_left")
    args = ap.parse_args()
    rtl = args.right_to_left
    cfg = TriggerSection(direction=Direction.RIGHT_TO_LEFT if rtl else Direction.LEFT_TO_RIGHT)
    cases = bad = 0
    with tempfile.TemporaryDirectory(prefix="station-unseen-") as tmp:
        for speed in SPEEDS:
            frames, windows = _video(Path(tmp), speed)
            frames = [np.ascontiguousarray(f[:, ::-1]) for f in frames] if rtl else frames
            for n in (int(x) for x in args.lengths.split(",")):
                starts = range(5, len(frames) - 10, args.step)
                misses = [
                    a
                    for a in starts
                    if wrong(
                        run(frames, range(a, a + n), cfg, args.how),
                        windows,
                        range(a, a + n),
                        math.ceil(DIAMETER / speed),
                        DIAMETER / 2 / speed,
                    )
                ]
                cases, bad = cases + len(starts), bad + len(misses)
                print(json.dumps({"speed": speed, "length": n, "cases": len(starts), "wrong": len(misses), "wrong_starts": misses}))
    print(json.dumps({"total": {"cases": cases, "wrong": bad}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
