"""How far past the service envelope the shipped model holds: a measurement, not a gate.

    python3 -m tools.stress [--model station/defaults/defect.onnx] [--data ../shared/data/casting/train]
                            [--split models/validation_split.json] [--draws 3] [--json stress.json]

The validation photos (never trained on) are re-shot further than training's augmentation ever
goes (tools/augment.py: random_view), one way at a time, then found, cropped and scored by the
station's own preprocessing and `Model`, and judged as the station judges: a part passes only
when it is found and scores below the uncertain band. A part the locator misses is rejected as
unreadable, so it can only ever be a false reject. `--split ''` takes every photo under --data.
For reference, `--draws` more passes re-shoot each photo inside the envelope (a fresh random_view each).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from station.config import SHIPPED_MODEL
from station.locate import Circle
from station.model import Model
from station.offline.evaluate import metrics_at
from station.preprocess import PreprocessSpec, Quality, locate_part, preprocess
from station.score import passing
from station.stills import DEFECTIVE, GOOD, read_image
from tools.augment import View, random_view, render
from tools.robustness import pool
from tools.toolkit import in_batches

ROOT = Path(__file__).resolve().parent.parent

# Each goes one step past training's range (in brackets) on one knob; one sits at the range's bright edge.
STRESS_VIEWS: dict[str, View] = {
    "part 50 % of the frame, off centre, white belt (58-100 %)": View(fill=0.5, shift=(0.7, -0.5), background=235.0),
    "part 45 % of the frame, grey belt (58-100 %)": View(fill=0.45, background=150.0),
    "contrast 0.3 (0.45-1.1)": View(fill=0.0, contrast=0.3),
    "contrast 0.3 on a white belt (0.45-1.1)": View(fill=0.0, contrast=0.3, background=235.0),
    "gain 1.45, +35 (training's brightest, for reference)": View(fill=0.0, gain=1.45, offset=35.0),
    "gain 1.6, +40 (up to 1.45, +35)": View(fill=0.0, gain=1.6, offset=40.0),
    "gain 0.45, -20 (down to 0.7, -25)": View(fill=0.0, gain=0.45, offset=-20.0),
    "blur sigma 2.0 (up to 1.3)": View(fill=0.0, blur=2.0),
    "noise sigma 10 (up to 4)": View(fill=0.0, noise=10.0),
    "JPEG quality 12 (25-90)": View(fill=0.0, jpeg=12),
}
DEFECT_DIRS = {DEFECTIVE: 1, GOOD: 0}
SHARED: dict[str, Any] = {}  # read-only inputs for the forked workers


@dataclass(frozen=True)
class Shot:
    """One view of every photo: the station's crop of each, and its quality verdict (only "ok" is inspected)."""

    crops: list[np.ndarray[Any, Any] | None]
    quality: list[str]
    labels: np.ndarray[Any, Any]
    names: list[str]
    cut: int = 0  # parts inspected on a crop that cuts part of the part away (see ``cuts_part``)


def photos(data: Path, split: str) -> list[tuple[Path, int]]:
    """The photos to re-shoot and their labels: the frozen validation split, or every photo under ``data``."""
    if split:
        try:
            names = json.loads(Path(split).read_text())["files"]
            return [(data / n, DEFECT_DIRS[n.split("/")[0]]) for n in names]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            want = 'JSON with "files": ["def_front/NAME" or "ok_front/NAME", ...]'
            raise SystemExit(f"stress: {split}: not a split file ({want}): {exc!r}") from None
    return [(p, y) for d, y in DEFECT_DIRS.items() for p in sorted((data / d).glob("*.jp*g"))]


def load(items: list[tuple[Path, int]]) -> tuple[list[Any], list[Circle], np.ndarray[Any, Any]]:
    """Each photo and where the station's locator puts its part; a photo it cannot read or find stops the tool."""
    images, circles = [], []
    for path, _ in items:
        grab = read_image(path)  # the station's own decoding
        img = grab.image
        if img is None:
            raise SystemExit(f"stress: {grab.error}")
        circle = locate_part(img)
        if circle is None:
            raise SystemExit(f"stress: {path}: the locator finds no part in the photo as taken")
        images.append(img)
        circles.append(circle)
    return images, circles, np.array([y for _, y in items], dtype=np.int64)


def views(draws: int) -> dict[str, View | None]:
    """The stress views, then ``draws`` passes inside training's envelope (None: a fresh ``random_view`` per photo)."""
    inside: dict[str, View | None] = {f"inside the envelope (random_view), draw {k + 1}": None for k in range(draws)}
    return {**STRESS_VIEWS, **inside}


def shoot(name: str) -> Shot:
    """Re-shoot every photo as ``SHARED["views"][name]`` and crop it as the daemon does (own seeded rng per view)."""
    images, circles, spec, table = SHARED["images"], SHARED["circles"], SHARED["spec"], SHARED["views"]
    rng = np.random.default_rng([SHARED["seed"], list(table).index(name)])
    crops, quality, cut = [], [], 0
    for img, c in zip(images, circles, strict=True):
        shot, true = render(img, c, table[name] or random_view(rng), rng)
        pre = preprocess(shot, spec)
        crops.append(pre.crop if pre.quality is Quality.OK else None)
        quality.append(pre.quality.value)
        cut += pre.quality is Quality.OK and pre.circle is not None and cuts_part(pre.circle, true)
    return Shot(crops, quality, SHARED["labels"], SHARED["names"], cut)


def cuts_part(found: Circle, true: Circle) -> bool:
    """The part reaches more than a quarter of its radius past the circle found somewhere: its crop misses
    part of the part (an inner ring taken for the rim is 0.55-0.7 r). A circle larger than the part is not.

    A quarter, not less: with ``fill=0`` the part's circle is the locator's own on the photo as taken, and
    on some defective photos that is a shadow ring 1.15-1.2 times the rim's radius, so finding the rim
    itself in the re-shot photo reads as 0.85-0.9 r.
    """
    return math.hypot(found.cx - true.cx, found.cy - true.cy) + true.r - found.r > 0.25 * true.r


def judge(model: Model, shot: Shot) -> dict[str, Any]:
    """The station's decision on one view (station.stages.decision): reject when the part cannot be inspected or
    scores at or above the band."""
    found = np.array([c is not None for c in shot.crops])
    blank = np.zeros((model.info.spec.size,) * 2, dtype=np.float32)
    crops = [c if c is not None else blank for c in shot.crops]
    scores = in_batches(model.score, crops)
    scores[~found] = 1.0  # unreadable: rejected, as the decision stage does
    passed = passing(scores, model.info.band[0])  # the station's own pass rule: a score that is no number never passes
    m = metrics_at(~passed, shot.labels, scores)
    why = {q: shot.quality.count(q) for q in sorted(set(shot.quality)) if q != Quality.OK.value}
    escaped = [n for n, y, ok in zip(shot.names, shot.labels, passed, strict=True) if y == 1 and ok]
    out = {**m, "unreadable": int((~found).sum()), "unreadable_why": why, "parts": len(found), "escaped": escaped}
    return {**out, "inspected_cut": shot.cut}


def main() -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.stress", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/casting/train")
    ap.add_argument("--split", default=str(ROOT / "models/validation_split.json"), help="frozen validation photos; '' takes all")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--draws", type=int, default=3, help="passes inside training's envelope, for reference")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"stress: {args.data}: no such folder (the training photos, laid out as def_front/ and ok_front/)")
    items = photos(args.data, args.split)
    images, circles, labels = load(items)
    model = Model(args.model)  # one intra-op thread: no ONNX Runtime thread pool for the fork below to copy; workers never score
    spec: PreprocessSpec = model.info.spec
    table = views(args.draws)
    SHARED.update(images=images, circles=circles, labels=labels, names=[p.name for p, _ in items], seed=args.seed, spec=spec, views=table)
    with pool(args.workers) as p:  # views in parallel, each with its own rng: the figures do not depend on the workers
        shots = dict(zip(table, p.imap(shoot, list(table)), strict=True))
    views_out: dict[str, dict[str, Any]] = {name: judge(model, s) for name, s in shots.items()}
    out = {"model": str(args.model), "photos": len(images), "views": views_out}
    head = ["re-shot as", "accuracy", "F1", "escapes", "false rejects", "not inspectable, so rejected (why)"]
    head.append("inspected on a crop that cuts the part")
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for name, m in views_out.items():
        why = ", ".join(f"{k} {v}" for k, v in m["unreadable_why"].items())
        row = [name, f"{m['accuracy']:.2%}", f"{m['f1']:.3f}", m["escapes"], m["false_rejects"], f"{m['unreadable']} {why}".strip()]
        row.append(m["inspected_cut"])
        print("| " + " | ".join(str(x) for x in row) + " |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
