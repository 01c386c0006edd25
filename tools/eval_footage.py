"""Line-footage acceptance: compose videos across the envelope, replay each through the station,
and compare every verdict with the ground truth.

    python3 -m tools.eval_footage [--photos DIR] [--files LIST] [--videos 8] [--parts 25] [--seed 11]

``--files`` takes a JSON list of photo paths relative to ``--photos`` (e.g. the validation split
recorded in models/training_report.json, so that no trained-on photo is used). Prints, per video
and in total: parts, verdicts, missed/doubled parts, verdicts outside the part's whole-in-view
window, escapes (defective parts passed) and wrong verdicts. Each video is replayed as ``station eval VIDEO`` replays
one (``station.offline.evaluate_footage.OFFLINE``: no port, no deadline), but its verdicts are paired with the parts
by order: where a video has parts missed or doubled (``missing_or_extra``), the counts after the first are not per
part, and ``station eval VIDEO`` on that video (it matches each verdict by place) says which part was which.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from station.config import SHIPPED_MODEL, load_config
from station.footage import CODECS, Envelope, PartPhoto, compose, judge, labelled_photos, read_truth
from station.model import Model
from station.offline.evaluate_footage import OFFLINE
from station.pipeline import RunOptions
from station.sources import VideoFileSource
from station.stills import DEFECTIVE
from station.supervisor import run_pipeline
from station.wire import VerdictMessage


def _photos(root: Path, files: Path | None) -> list[PartPhoto]:
    if files is None:
        return labelled_photos(root)
    names = json.loads(files.read_text())
    if isinstance(names, dict):
        names = names["validation_files"]
    return [PartPhoto(root / n, "def" if n.startswith(DEFECTIVE) else "ok") for n in names]


def main() -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(prog="python3 -m tools.eval_footage", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--photos", type=Path, default=here.parent / "shared/data/casting/train")
    ap.add_argument("--files", type=Path, help="JSON list of photo paths under --photos (or a training report)")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--parts", type=int, default=25)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    args = ap.parse_args()
    photos = _photos(args.photos, args.files)
    rng = np.random.default_rng(args.seed)
    model = Model(args.model)
    totals: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="station-eval-") as tmp:
        for i in range(args.videos):
            env = Envelope.random(rng)
            if i % 4 == 3:
                env = replace(env, direction="right_to_left")
            chosen = [photos[k] for k in rng.choice(len(photos), size=min(args.parts, len(photos)), replace=False)]
            video = Path(tmp) / f"v{i}{CODECS[env.codec]}"
            compose(chosen, video, env, seed=args.seed * 100 + i)
            out = Path(tmp) / f"v{i}.jsonl"
            cfg = load_config(None, [*OFFLINE, f"trigger.direction={env.direction}"])  # as station eval VIDEO replays
            run_pipeline(cfg, model, VideoFileSource(video), RunOptions(out=out, metrics_server=False))
            got = [VerdictMessage.decode(x) for x in out.read_text().splitlines()]
            truth = read_truth(video)
            res = judge(truth, got)
            print(json.dumps({"video": i, **res, "envelope": asdict(env)}))
            for t, v in zip(truth, got, strict=False):
                if v.verdict != ("pass" if t["label"] == "ok" else "reject"):
                    seen = {"part_id": v.part_id, "reason": v.reason.value, "score": v.score}
                    print(json.dumps({"wrong": Path(t["source"]).name, "label": t["label"], **seen}))
            for k, n in res.items():
                totals[k] = totals.get(k, 0) + n
    totals["wrong_rate_pct"] = round(100 * totals["wrong"] / max(totals["parts"], 1), 2)  # type: ignore[assignment]
    print(json.dumps({"total": totals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
