"""Crops that ``station archive export`` wrote, as teaching reads them.

Each crop is square and centred on the circle the station found for its part, grown by
``CROP_MARGIN`` (station.archive.crop_of); ``labels.csv`` beside the label folders keeps the
station's reason for each. Teaching uses such a crop with that circle, once the locator finds the
part there too, so that an image with no part in it, or of another thing, is never taught.
"""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from station.archive import CROP_MARGIN
from station.errors import InputError
from station.locate import Circle, GrayImage, u8
from station.messages import Reason
from station.preprocess import Preprocessed, PreprocessSpec, preprocess

CENTRED_TOLERANCE = 0.15  # of the radius: how far the part located in an exported crop may sit from the centred circle
LARGER_AT_MOST = 1 + CROP_MARGIN / 2  # of the radius: a larger circle is the belt's painted edge (at 1 + CROP_MARGIN), not the rim
BORDER = 0.3  # of the crop's side: the belt added all round before the part is located


def station_reasons(root: Path) -> dict[str, str]:
    """The station's reason for each exported crop, by file name (``labels.csv``: ``file,reason,...``)."""
    path = root / "labels.csv"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the export's labels: {getattr(exc, 'strerror', None) or exc}") from None
    if rows and not {"file", "reason"} <= set(rows[0]):
        raise InputError(f"{path}: not an export's labels (expected the columns file and reason)")
    return {Path(r["file"] or "").name: r["reason"] or "" for r in rows}


def inspect(image: GrayImage, spec: PreprocessSpec, reason: str | None) -> tuple[Preprocessed | None, str]:
    """The crop preprocessed with the circle it is centred on, or None and why it is not taught. A crop of a part the
    station could not inspect (``reason``) is not one of its part; a crop that is not square was cut by the frame's edge:
    located afresh, as a photo is."""
    if reason == Reason.UNABLE.value:
        return None, "not inspectable on the line"
    h, w = image.shape
    if abs(h - w) > 2:
        return preprocess(image, spec), ""
    circle = Circle(w / 2, h / 2, min(w, h) / 2 / (1 + CROP_MARGIN))
    seen, pad = on_belt(image)
    located = preprocess(seen, spec)  # located as the station locates a part: an image with no part in it is never used
    found = located.circle
    if found is None:
        return None, located.quality.value
    if not agree(replace(found, cx=found.cx - pad, cy=found.cy - pad), circle):
        return None, "not_centred"
    return preprocess(image, spec, circle=circle), ""  # its quality checked as any part's


def on_belt(crop: GrayImage) -> tuple[GrayImage, int]:
    """The crop as the trigger hands a part to the locator (station.stages.preprocess): outside its inscribed disc (the
    part's circle grown by CROP_MARGIN) the belt's level, with a border of it all round; and the border's width. A crop
    that tight leaves the locator too little belt to find a rim shaded into it (2 of 40 in a trial run)."""
    h, w = crop.shape
    yy, xx = np.ogrid[:h, :w]
    outside = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 > (min(h, w) / 2) ** 2
    level = int(np.median(crop[outside])) if outside.any() else int(np.median(crop))
    seen = crop.copy()
    seen[outside] = level
    pad = round(BORDER * max(h, w))
    return u8(cv2.copyMakeBorder(seen, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=level)), pad


def agree(found: Circle, centred: Circle) -> bool:
    """The part the locator found is the one the crop is centred on: its centre within CENTRED_TOLERANCE of the radius, its
    radius within that below and LARGER_AT_MOST above (measured on 111 exported crops: 0.94-1.01, centres within 0.04)."""
    off = math.hypot(found.cx - centred.cx, found.cy - centred.cy)
    r = centred.r
    return off <= CENTRED_TOLERANCE * r and (1 - CENTRED_TOLERANCE) * r <= found.r <= LARGER_AT_MOST * r
