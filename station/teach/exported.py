"""Crops that ``station archive export`` wrote, as teaching reads them.

Each crop is square and centred on the circle the station found for its part, grown by
``CROP_MARGIN`` (station.archive.crop_of); ``labels.csv`` beside the label folders keeps the
station's reason for each. Teaching uses such a crop with that circle once the part's rim is seen
there (:func:`rim_fits`), so that an image with no part in it, or with its part elsewhere or of
another size, is not taught.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from station.archive import CROP_MARGIN
from station.errors import InputError
from station.files import read_bounded, why
from station.locate import ELLIPSE_MIN_SQUASH, Circle, GrayImage, fit_ellipse, rectify_points, rim_edges
from station.messages import Reason
from station.preprocess import Preprocessed, PreprocessSpec, preprocess
from station.wire import REASONS

RIM_BAND = (0.8, 1.1)  # of the radius: where each ray looks for the rim (the crop reaches 1 + CROP_MARGIN)
RIM_MIN_EDGE = 40.0  # the rim's radial Sobel response at least: a step of about ten grey levels (vignetting gives a few)
RIM_MISS = 0.03  # of the radius: a rim point this far from the ellipse through the others is not on the rim
RIM_SHARE = 0.3  # of 180 rays at least: the rim found there (a sector shaded into the belt shows none)
CENTRED = 0.06  # of the radius: how far the rim's centre may sit from the crop's
MAX_LABELS_BYTES = 64 << 20  # labels.csv: about 100 bytes a crop, for the largest archive
SIZE = (0.93, 1.09)  # the rim's major semi-axis against the radius the crop was made for (an ellipse: a tilted camera)


@dataclass(frozen=True)
class Labels:
    """An export's labels.csv: the station's reason for each crop, by file name (a crop an operator moved to another label
    folder keeps it), and the crops the export sorted by the station's verdict alone (``label_by`` station, not a person),
    as FOLDER/NAME: where the export put them."""

    reasons: dict[str, str]
    by_station: frozenset[str]

    def unchecked(self, met: set[str]) -> str | None:
        """A note on the crops ``met`` (FOLDER/NAME) that still carry the station's verdict as their label; None if none."""
        n = len(self.by_station & met)
        if not n:
            return None
        what = "crop is" if n == 1 else "crops are"
        return (f"{n} {what} still labelled by the station's own verdict (labels.csv label_by station, in the folder the export "
                "put them in): a label is what a person decided; look at them, or export --reviewed-only (docs/commissioning.md, "
                "section 2)")  # fmt: skip


def read_labels(root: Path) -> Labels:
    """``root``/labels.csv (``file,reason,...,label_by``). InputError naming the file and line for a reason that is not one
    of the station's, or one name with two reasons (which crop was not inspectable could not be told)."""
    path = root / "labels.csv"
    try:  # a spreadsheet's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(io.StringIO(read_bounded(path, MAX_LABELS_BYTES, "an export's labels").decode("utf-8-sig"), newline=""))
        rows = list(reader)
        columns = reader.fieldnames or []
    except OSError as exc:
        raise InputError(f"{path}: {why(exc, 'cannot read the labels')}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the export's labels: {exc}") from None
    if not {"file", "reason"} <= set(columns):
        raise InputError(f"{path}: not an export's labels (expected the columns file and reason)")
    reasons: dict[str, str] = {}
    by_station = set()
    for n, row in enumerate(rows, start=2):
        if not any(v for k, v in row.items() if k is not None):  # a row a spreadsheet adds (,,,,,): it names no crop
            continue
        name, reason = Path(row["file"] or "").name, row["reason"] or ""
        if reason not in REASONS:
            raise InputError(f"{path}: line {n}: reason {reason!r} is not one of the station's ({', '.join(sorted(REASONS))})")
        if reasons.setdefault(name, reason) != reason:
            raise InputError(f"{path}: line {n}: {name} is listed again with another reason ({reasons[name]}, now {reason})")
        if row.get("label_by") == "station":
            by_station.add(row["file"])
    return Labels(reasons, frozenset(by_station))


def inspect(image: GrayImage, spec: PreprocessSpec, reason: str) -> tuple[Preprocessed | None, str]:
    """An exported crop preprocessed with the circle it is centred on, or None and why it is not taught. ``reason``: the
    station's, from labels.csv: a crop of a part it could not inspect is not one of its part. A crop that is not square
    was cut by the frame's edge: located afresh, as a photo is."""
    if reason == Reason.UNABLE.value:
        return None, "not inspectable on the line"
    h, w = image.shape
    if abs(h - w) > 2:
        return preprocess(image, spec), ""
    circle = Circle(w / 2, h / 2, min(w, h) / 2 / (1 + CROP_MARGIN))
    if not rim_fits(image, circle):
        return None, "not_centred"
    return preprocess(image, spec, circle=circle), ""  # its quality checked as any part's


def rim_fits(crop: GrayImage, circle: Circle) -> bool:
    """The crop shows a part's rim where it says: on most rays, the strongest radial edge near ``circle`` lies on one
    ellipse (a tilted camera's part is one) centred on it, of its size. The crop's own claim is checked, not the locator's
    (it needs more belt round the part than an export keeps). Measured: of 147 crops exported from composed footage and 36
    of the sample's, all but two pass (a fixture ring round a rim shaded on one side: two edges, neither on most rays);
    of 156 crops made for a circle 20 % larger or smaller, or half a radius off, or of no part (a belt, a checkerboard,
    spots), none does. A drawn ring or disc of the part's size, centred, passes: so would it the locator."""
    r = circle.r
    xs, ys, strength = rim_edges(crop, circle, RIM_BAND)
    keep = strength >= max(RIM_MIN_EDGE, 0.25 * float(np.percentile(strength, 90)))
    for _ in range(3):  # the ellipse through the rim points, those far from it dropped
        if keep.sum() < max(RIM_SHARE * len(keep), 5):
            return False
        e = fit_ellipse(xs[keep], ys[keep])
        u = rectify_points(xs, ys, e)
        keep &= np.abs(np.hypot(u[0], u[1]) - e.r) < max(RIM_MISS * r, 1.0)
    centred = math.hypot(e.cx - circle.cx, e.cy - circle.cy) <= CENTRED * r
    return bool(keep.sum() >= RIM_SHARE * len(keep) and centred and SIZE[0] * r <= e.r <= SIZE[1] * r and e.squash >= ELLIPSE_MIN_SQUASH)
