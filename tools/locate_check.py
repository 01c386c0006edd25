"""How well the station locates the parts of a simulated line, against where they are.

    python3 -m tools.locate_check FOLDER [--rectify]

FOLDER is what ``python3 -m tools.new_line`` wrote, with FOLDER-truth.csv beside it. Each photo
goes through ``station.preprocess`` (the shipped model's search; ``--rectify``: a taught model's,
which makes ellipses round), and the circle found is compared with where the part is: a circle
whose centre lies ``--wrong`` radii or more from the part's is wrong, one within ``--right`` is
right (between the two: the simulated camera's own tilt moves the part's centre a little). It
prints what the station does with each: inspected, or refused and why. A wrong circle inspected
is a crop that is not the part; a right circle refused is a part whole in view refused.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import Counter
from pathlib import Path

import cv2

from station.locate import Circle
from station.preprocess import PreprocessSpec, Quality, preprocess


def _kind(circle: Circle, truth: dict[str, str], wrong: float, right: float) -> str:
    """right, near or wrong: how far ``circle``'s centre lies from the part's, in the part's radii."""
    off = math.hypot(circle.cx - float(truth["cx"]), circle.cy - float(truth["cy"])) / float(truth["r"])
    return "wrong" if off >= wrong else "right" if off <= right else "near"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python3 -m tools.locate_check", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--rectify", action="store_true", help="search as a taught model does (ellipses made round)")
    ap.add_argument("--wrong", type=float, default=0.25, help="a circle this many radii or more off the part's centre is wrong")
    ap.add_argument("--right", type=float, default=0.1, help="a circle within this many radii of the part's centre is right")
    args = ap.parse_args()
    truth = args.folder.with_name(f"{args.folder.name}-truth.csv")
    if not truth.is_file():
        raise SystemExit(f"error: {truth}: no such file (write FOLDER with python3 -m tools.new_line)")
    spec = PreprocessSpec(rectify=args.rectify)
    seen: Counter[tuple[str, str]] = Counter()
    wrong_inspected = []
    with truth.open() as f:
        for row in csv.DictReader(f):
            image = cv2.imread(str(args.folder / row["photo"]), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise SystemExit(f"error: {args.folder / row['photo']}: unreadable")
            pre = preprocess(image, spec)
            kind = "none" if pre.circle is None else _kind(pre.circle, row, args.wrong, args.right)
            seen[(kind, pre.quality.value)] += 1
            if kind == "wrong" and pre.quality is Quality.OK:
                wrong_inspected.append(row["photo"])
    print(
        f"{sum(seen.values())} photos; circles found: right (within {args.right} radii of the part's centre), near, wrong "
        f"({args.wrong} radii or more off), none"
    )
    for kind in ("right", "near", "wrong", "none"):
        found = {q: n for (k, q), n in sorted(seen.items()) if k == kind}
        if found:
            print(f"  {kind}: {sum(found.values())}: " + ", ".join(f"{q} {n}" for q, n in found.items()))
    print(f"wrong circles inspected: {len(wrong_inspected)}" + "".join(f"\n  {p}" for p in wrong_inspected))


if __name__ == "__main__":
    main()
