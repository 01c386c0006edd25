"""How often a verdict's ``where`` lands on the defect: pits painted as training paints them, at known places.

Each good validation photo (held out from training, ``models/validation_split.json``) gets one pit
painted by ``station.teach.pits.paint_pin_holes`` (training's sizes and depths) on its lit metal; the
photo then goes through the station's own stage handlers (preprocess, inference, decision). For
the painted parts rejected as ``defect`` or ``uncertain``, the distance from ``where`` to the
pit's centre is measured in part radii. Prints one JSON line.

    python3 -m tools.where_check [--model M] [--data ../shared/data/casting/train] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from station.cli_args import at_least
from station.config import SHIPPED_MODEL
from station.messages import Frame, Part, Reason
from station.metrics import Metrics
from station.model import Model
from station.preprocess import locate_part
from station.reload import ModelSlot
from station.stages.decision import DecisionStage
from station.stages.inference import InferenceStage
from station.stages.preprocess import PreprocessStage
from station.stills import read_image
from station.teach.pits import paint_pin_holes

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.where_check", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "casting" / "train")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=at_least(0, int), default=0, help="only the first this many good validation photos (0: all)")
    args = ap.parse_args(argv)
    names = [n for n in json.loads((ROOT / "models" / "validation_split.json").read_text())["files"] if n.startswith("ok_front/")]
    names = names[: args.limit] if args.limit > 0 else names
    model = Model(args.model)
    slot, m = ModelSlot(model), Metrics()
    stages = PreprocessStage(slot, m), InferenceStage(slot, m), DecisionStage(model.info, m)
    rng = np.random.default_rng(args.seed)
    dist: list[float] = []
    painted = 0
    for i, name in enumerate(names):
        read = read_image(args.data / name)
        if read.image is None:
            raise SystemExit(f"error: {read.error} (is ../shared beside the checkout? else give --data)")
        image, circle = read.image, locate_part(read.image)
        if circle is None:  # a photo the station cannot locate is not painted: no part to judge where
            continue
        placed: list[tuple[float, float, float]] = []
        part = Part(i, Frame(i, paint_pin_holes(image, circle, rng, 1, placed=placed), time.monotonic(), time.time()))
        painted += 1
        v = stages[2](stages[1](stages[0](part)[0])[0])[0]
        if v.reason in (Reason.DEFECT, Reason.UNCERTAIN) and v.where is not None:
            dist.append(math.hypot(v.where[0] - placed[0][0], v.where[1] - placed[0][1]) / circle.r)
    d = np.array(dist)
    print(
        json.dumps(
            {
                "model": model.info.model_id,
                "painted": painted,
                "rejected_with_where": len(dist),
                "within_r_4": round(float((d <= 0.25).mean()), 4) if dist else None,
                "within_r_8": round(float((d <= 0.125).mean()), 4) if dist else None,
                "median_r": round(float(np.median(d)), 4) if dist else None,
                "p90_r": round(float(np.percentile(d, 90)), 4) if dist else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
