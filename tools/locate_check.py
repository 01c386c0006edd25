"""How well the station locates the parts of a simulated line, against where they are.

    python3 -m tools.locate_check FOLDER [--rectify]
    python3 -m tools.locate_check FOLDER --asymmetry

FOLDER is what ``python3 -m tools.new_line`` wrote (or its -teach or -judge half), with
FOLDER-truth.csv beside it. Each photo goes through ``station.preprocess`` with the shipped
model's preprocessing (``--rectify``: a model taught from it, which makes ellipses round), and
the circle found is compared with where the part is: a circle whose centre lies ``--wrong`` radii
or more from the part's is wrong, one within ``--right`` is right (between the two: the simulated
camera's own tilt moves the part's centre a little). It prints what the station does with each:
inspected, or refused and why. A wrong circle inspected is a crop that is not the part; a right
circle refused is a part whole in view refused.

``--asymmetry`` needs no truth: for every photo below FOLDER (any labelled folder, such as the
training photos), how far the part is from looking the same all round the circle found
(``station.locate.asymmetry``; preprocess refuses it past ``OFF_CENTRE``), as percentiles, and
what that measure costs a part.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np

from station.config import SHIPPED_MODEL
from station.gate import admit
from station.locate import OFF_CENTRE, Circle, asymmetry
from station.preprocess import PreprocessSpec, Quality, preprocess
from station.stills import read_image
from station.teach.command import taught_spec

SHIPPED = SHIPPED_MODEL


def _kind(circle: Circle, truth: dict[str, str], wrong: float, right: float) -> str:
    """right, near or wrong: how far ``circle``'s centre lies from the part's, in the part's radii."""
    off = math.hypot(circle.cx - float(truth["cx"]), circle.cy - float(truth["cy"])) / float(truth["r"])
    return "wrong" if off >= wrong else "right" if off <= right else "near"


def against_truth(folder: Path, spec: PreprocessSpec, wrong: float, right: float) -> None:
    truth = folder.with_name(f"{folder.name}-truth.csv")
    if not truth.is_file():
        raise SystemExit(f"error: {truth}: no such file (write FOLDER with python3 -m tools.new_line)")
    seen: Counter[tuple[str, str]] = Counter()
    wrong_inspected = []
    with truth.open() as f:
        for row in csv.DictReader(f):
            read = read_image(folder / row["photo"])
            if read.image is None:
                raise SystemExit(f"error: {read.error}")
            image = read.image
            pre = preprocess(image, spec)
            kind = "none" if pre.circle is None else _kind(pre.circle, row, wrong, right)
            seen[(kind, pre.quality.value)] += 1
            if kind == "wrong" and pre.quality is Quality.OK:
                wrong_inspected.append(row["photo"])
    print(f"{sum(seen.values())} photos; circles found: right (within {right} radii of the part's centre), near, wrong "
          f"({wrong} radii or more off), none")  # fmt: skip
    for kind in ("right", "near", "wrong", "none"):
        found = {q: n for (k, q), n in sorted(seen.items()) if k == kind}
        if found:
            print(f"  {kind}: {sum(found.values())}: " + ", ".join(f"{q} {n}" for q, n in found.items()))
    print(f"wrong circles inspected: {len(wrong_inspected)}" + "".join(f"\n  {p}" for p in wrong_inspected))


def spread(folder: Path, spec: PreprocessSpec) -> None:
    values, took = [], 0.0
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
        read = read_image(path)
        if read.image is None:
            raise SystemExit(f"error: {read.error}")
        image = read.image
        circle = preprocess(image, spec).circle  # refused or not: the circle found
        if circle is None:
            continue
        t0 = time.perf_counter()
        values.append((asymmetry(image, circle), path.name))
        took += time.perf_counter() - t0
    if not values:
        raise SystemExit(f"error: {folder}: no photo with a part found in it")
    a = np.array([v for v, _ in values])
    p50, p99, p998 = np.percentile(a, [50, 99, 99.8])
    print(
        f"{len(a)} parts located; asymmetry: median {p50:.3f}, 99th percentile {p99:.3f}, 99.8th {p998:.3f}, highest {a.max():.3f} "
        f"({max(values)[1]}); over {OFF_CENTRE}: {int(np.sum(a > OFF_CENTRE))}; {1000 * took / len(a):.2f} ms a part"
    )


def main() -> None:
    ap = argparse.ArgumentParser(prog="python3 -m tools.locate_check", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--rectify", action="store_true", help="search as a taught model does (ellipses made round)")
    ap.add_argument("--asymmetry", action="store_true", help="no truth: the spread of the asymmetry measure over FOLDER's photos")
    ap.add_argument("--wrong", type=float, default=0.25, help="a circle this many radii or more off the part's centre is wrong")
    ap.add_argument("--right", type=float, default=0.1, help="a circle within this many radii of the part's centre is right")
    args = ap.parse_args()
    base = admit(SHIPPED)
    spec = taught_spec(base) if args.rectify else base.info.spec
    folder = args.folder.resolve()
    if args.asymmetry:
        spread(folder, spec)
    else:
        against_truth(folder, spec, args.wrong, args.right)


if __name__ == "__main__":
    main()
