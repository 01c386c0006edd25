"""Crops that ``station archive export`` wrote, as teaching reads them.

Each crop is square and centred on the circle the station found for its part, grown by
``CROP_MARGIN`` (station.archive.crop_of); ``labels.csv`` beside the label folders keeps the
station's reason for each and the SHA-256 of each crop file. Teaching uses a crop the export wrote
with that circle, the one the station inspected the part on; a file changed since, or put there
under a crop's name, is a photo, located afresh. An older export's crops (no digests) are used
where the part's rim is seen on that circle (:func:`rim_misfit`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from station.archive import CROP_MARGIN
from station.archive_layout import STATION_LABELLER
from station.errors import InputError
from station.files import columns_once, from_cell, read_bounded, why
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
    sha256: dict[str, str] = field(default_factory=dict)  # of each crop file as written, by name (exports since 2026-12-04)
    nowhere: frozenset[str] = frozenset()  # crops of parts located nowhere (circle null): a box or a frame, by name

    def as_written(self, path: Path) -> bool | None:
        """Whether ``path`` is the crop the export wrote under its name (its bytes' SHA-256); None: the export kept no
        digest of it (an older export's crop, whose rim is checked instead: :func:`rim_misfit`)."""
        digest = self.sha256.get(path.name)
        if digest is None:
            return None
        try:
            with path.open("rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest() == digest
        except OSError:
            return False

    def unlisted(self, names: list[str]) -> str | None:
        """A note on the files read from the label folders (``names``) that labels.csv does not list; None if it lists all."""
        if not (n := sum(name not in self.reasons for name in names)):
            return None
        return (f"{n} of the {len(names)} files in the label folders are not in labels.csv: each was read as a photo, its part "
                "located afresh (the export's crops are listed; was labels.csv replaced?)")  # fmt: skip

    def unchecked(self, met: set[str]) -> str | None:
        """A note on the crops ``met`` (FOLDER/NAME) that still carry the station's verdict as their label; None if none."""
        n = len(self.by_station & met)
        if not n:
            return None
        what = "crop is" if n == 1 else "crops are"
        return (f"{n} {what} still labelled by the station's own verdict (labels.csv label_by station, in the folder the export "
                "put them in): a label is what a person decided; look at them (and put your name in label_by for those you agree "
                "with), or export --reviewed-only (docs/commissioning.md, section 2)")  # fmt: skip


def read_labels(root: Path) -> Labels:
    """``root``/labels.csv (``file,reason,...,label_by``). InputError naming the file and line for a reason that is not one
    of the station's, or one name with two reasons (which crop was not inspectable could not be told)."""
    path = root / "labels.csv"
    try:  # a spreadsheet's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(io.StringIO(read_bounded(path, MAX_LABELS_BYTES, "an export's labels").decode("utf-8-sig"), newline=""))
        # as export wrote them, each with its line in the file (blank lines are skipped, a quoted field may hold a newline)
        rows = [(reader.line_num, {k: from_cell(v) if isinstance(v, str) else v for k, v in row.items()}) for row in reader]
        columns = reader.fieldnames or []
    except OSError as exc:
        raise InputError(f"{path}: {why(exc, 'cannot read the labels')}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the export's labels: {exc}") from None
    columns_once(path, columns)
    if not {"file", "reason"} <= set(columns):
        raise InputError(f"{path}: not an export's labels (expected the columns file and reason)")
    reasons: dict[str, str] = {}
    sha256: dict[str, str] = {}
    seen: dict[str, int] = {}
    by_station, nowhere = set(), set()
    for n, row in rows:
        if not any(v for k, v in row.items() if k is not None):  # a row a spreadsheet adds (,,,,,): it names no crop
            continue
        name, reason = Path(row["file"] or "").name, row["reason"] or ""
        if reason not in REASONS:
            raise InputError(f"{path}: line {n}: reason {reason!r} is not one of the station's ({', '.join(sorted(REASONS))})")
        if reasons.setdefault(name, reason) != reason:
            raise InputError(f"{path}: line {n}: {name} is listed again with another reason ({reasons[name]}, now {reason})")
        if row.get("label_by") == STATION_LABELLER:
            by_station.add(row["file"])
        if name in seen:
            raise InputError(f"{path}: line {n}: {name} is listed again (line {seen[name]}): one row a crop")
        seen[name] = n
        if row.get("sha256"):
            sha256[name] = str(row["sha256"]).strip().lower()
        if (row.get("circle") or "").strip() == "null":  # the export's word for a part located nowhere
            nowhere.add(name)
    return Labels(reasons, frozenset(by_station), sha256, frozenset(nowhere))


def inspect(image: GrayImage, spec: PreprocessSpec, reason: str, written: bool | None = None) -> tuple[Preprocessed | None, str]:
    """An exported crop preprocessed with the circle it is centred on, or None and why it is not taught. ``reason``: the
    station's, from labels.csv: a crop of a part it could not inspect is not one of its part. A crop that is not square
    was cut by the frame's edge: located afresh, as a photo is. ``written``: the file is the crop the export wrote
    (:meth:`Labels.as_written`), on the circle the station inspected it on, which is taken as it is; None (an older
    export) has its rim checked first."""
    if reason == Reason.UNABLE.value:
        return None, "not inspectable on the line"
    h, w = image.shape
    if abs(h - w) > 2:
        return preprocess(image, spec), ""
    circle = Circle(w / 2, h / 2, min(w, h) / 2 / (1 + CROP_MARGIN))
    misfit = None if written else rim_misfit(image, circle)
    if misfit is not None:
        return None, misfit
    return preprocess(image, spec, circle=circle), ""  # its quality checked as any part's


def rim_misfit(crop: GrayImage, circle: Circle) -> str | None:
    """None when the crop shows a part's rim where it says: on most rays, the strongest radial edge near ``circle`` lies on
    one ellipse (a tilted camera's part is one) centred on it, of its size. Otherwise why not: ``rim_unseen`` (on too few
    rays: a rim shaded into the belt, no part) or ``not_centred`` (a rim, elsewhere or of another size). The crop's own
    claim is checked, not the locator's (it needs more belt round the part than an export keeps). Only for an export
    that names no crop's digest (before 2026-12-04): the station's own circles can lie off the rim's centre (a tilted
    part's by up to 0.15 of the radius), and such crops of parts it inspected are refused here. Measured: of 147 crops
    exported from composed footage and 36 of the sample's, all but two pass (a fixture ring round a rim shaded on one
    side: two edges, neither on most rays); of 156 crops made for a circle 20 % larger or smaller, or half a radius off,
    or of no part (a belt, a checkerboard, spots), none does. A drawn ring or disc of the part's size, centred, passes:
    so would it the locator."""
    r = circle.r
    xs, ys, strength = rim_edges(crop, circle, RIM_BAND)
    keep = strength >= max(RIM_MIN_EDGE, 0.25 * float(np.percentile(strength, 90)))
    for _ in range(3):  # the ellipse through the rim points, those far from it dropped
        if keep.sum() < max(RIM_SHARE * len(keep), 5):
            return "rim_unseen"
        e = fit_ellipse(xs[keep], ys[keep])
        u = rectify_points(xs, ys, e)
        keep &= np.abs(np.hypot(u[0], u[1]) - e.r) < max(RIM_MISS * r, 1.0)
    if keep.sum() < RIM_SHARE * len(keep):
        return "rim_unseen"
    centred = math.hypot(e.cx - circle.cx, e.cy - circle.cy) <= CENTRED * r
    return None if centred and SIZE[0] * r <= e.r <= SIZE[1] * r and e.squash >= ELLIPSE_MIN_SQUASH else "not_centred"
