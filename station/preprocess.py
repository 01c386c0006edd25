"""Find the part, crop it and normalise it: the one function training and serving share.

``station.locate`` finds the part's outer circle (an ellipse, for a tilted camera); a part it
finds inside a fainter outline is refused (OUTLINE_MISMATCH) rather than inspected on a crop
that misses the rim, and so is a part that does not look the same all round the circle found
(OFF_CENTRE: a circle off the part's centre). The crop is a square around that circle (made
round first, for an ellipse), resized to the model's input, grey levels standardised on the
part's own pixels, and the background outside a thin ring around the part replaced by zero so
that the model cannot learn the background.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from station.locate import OFF_CENTRE, Circle, FloatImage, GrayImage, asymmetry, ellipse_of, find, level_percentiles, rectify, u8


class Quality(StrEnum):
    """Why a located part can or cannot be inspected."""

    OK = "ok"
    NO_PART = "no_part"
    CUT_OFF = "cut_off"
    OVEREXPOSED = "overexposed"
    UNDEREXPOSED = "underexposed"
    BLURRED = "blurred"
    LOW_CONTRAST = "low_contrast"
    OUTLINE_MISMATCH = "outline_mismatch"  # the circle found is an inner ring: a larger outline rings it, or the trigger saw more
    OFF_CENTRE = "off_centre"  # the part does not look the same all round the circle found: it is not centred on the part


MAX_CUT_OFF = 0.1  # of the radius: a part may leave the frame by a sliver (2 % of it) and be inspected, never by more


@dataclass(frozen=True)
class PreprocessSpec:
    """How a crop is made; read from the model file's metadata, never guessed."""

    size: int = 192
    margin: float = 0.12
    mask_radius: float = 1.06
    clip: float = 4.0
    min_radius_frac: float = 0.22
    max_radius_frac: float = 0.62
    cut_off_tolerance: float = 0.06
    rectify: bool = False  # a part seen as an ellipse (tilted camera) is made round before the crop (taught models)

    def __post_init__(self) -> None:
        checks = {
            "size": 8 <= self.size <= 2048, "margin": 0 <= self.margin <= 1, "mask_radius": 0 < self.mask_radius <= 2,
            "clip": 0.01 <= self.clip <= 1000, "min_radius_frac": 0 < self.min_radius_frac < 1,  # 1e300 overflowed float32
            "max_radius_frac": self.min_radius_frac < self.max_radius_frac <= 1,
            "cut_off_tolerance": 0 <= self.cut_off_tolerance <= MAX_CUT_OFF,
        }  # fmt: skip
        wrong = [name for name, ok in checks.items() if not ok]
        if wrong:
            raise ValueError(f"{', '.join(f'{n} {getattr(self, n)}' for n in wrong)}: outside what a crop can be")


CLIPPED_LEVEL = 254  # grey level counted as clipped white in Preprocessed.clipped


@dataclass(frozen=True)
class Preprocessed:
    """The result of :func:`preprocess`: a model-ready crop, or the reason there is none."""

    quality: Quality
    circle: Circle | None
    crop: FloatImage | None
    brightness: float
    sharpness: float
    clipped: float  # share of the image at full white (>= CLIPPED_LEVEL): glare hides outlines and defects


def pixels_digest(image: npt.NDArray[Any]) -> bytes:
    """SHA-256 of an image's shape and pixels: one photo however its file stores it (teaching and eval know copies by it)."""
    return hashlib.sha256(repr(image.shape).encode() + image.tobytes()).digest()


def part_digest(image: npt.NDArray[Any]) -> str:
    """A part's short digest (16 hex digits of :func:`pixels_digest`): what a taught model records of each part it learnt
    from (its pixels as the station located it: a photo, an exported crop, the pixels round a footage part)."""
    return pixels_digest(image).hex()[:16]


def view_digest(frame: npt.NDArray[Any], blob: tuple[float, float, float]) -> str:
    """A footage part's short digest as the line trigger gave it: its whole frame's pixels and its blob (cx, cy, diameter).
    The same video replayed with the same trigger settings gives each part the same frame and blob to the bit, where the
    pixels round it (:func:`part_digest`) move with the circle a model's search finds."""
    return hashlib.sha256(pixels_digest(frame) + np.asarray(blob, dtype="<f8").tobytes()).hexdigest()[:16]


def to_gray(image: npt.NDArray[Any]) -> GrayImage:
    """Return an 8-bit single-channel view of ``image``; refuse what we cannot read."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"image has dtype {image.dtype}; expected uint8 or uint16")
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if image.ndim != 2:
        raise ValueError(f"image has shape {image.shape}; expected H x W or H x W x 3")
    if image.dtype == np.uint16:
        return u8(np.right_shift(image, 8))
    if image.dtype != np.uint8:
        raise ValueError(f"image has dtype {image.dtype}; expected uint8 or uint16")
    return u8(image)


def locate_part(gray: GrayImage, spec: PreprocessSpec = PreprocessSpec()) -> Circle | None:
    """Find the part's outer circle, or None when nothing circular enough is there."""
    return find(gray, spec.min_radius_frac, spec.max_radius_frac, look_beyond=False)[0]


def crop_square(gray: GrayImage, circle: Circle, spec: PreprocessSpec) -> GrayImage:
    """Square crop of side 2r(1+margin) around the circle, resized to spec.size; an ellipse is made round first."""
    half = circle.r * (1.0 + spec.margin)
    s = spec.size / (2.0 * half)
    m = np.array([[s, 0.0, spec.size / 2.0 - s * circle.cx], [0.0, s, spec.size / 2.0 - s * circle.cy]], dtype=np.float64)
    if circle.squash != 1.0:
        lin = s * rectify(circle)
        m = np.hstack([lin, (np.array([spec.size / 2.0, spec.size / 2.0]) - lin @ np.array([circle.cx, circle.cy]))[:, None]])
    interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
    return u8(cv2.warpAffine(gray, m, (spec.size, spec.size), flags=interp, borderMode=cv2.BORDER_REPLICATE))


def part_region(gray: GrayImage, circle: Circle, spec: PreprocessSpec) -> tuple[GrayImage, Circle]:
    """The pixels :func:`crop_square` can sample for ``circle`` (a square round its centre, cut at the image's edges),
    and the circle in them: the same crop is made from either. A model's self-test keeps these to remake its crops."""
    reach = circle.r * (1.0 + spec.margin) * math.sqrt(2.0) + 3.0  # the crop's corners, and the interpolation's support
    h, w = gray.shape[:2]
    x0, y0 = max(0, int(circle.cx - reach)), max(0, int(circle.cy - reach))
    x1, y1 = min(w, math.ceil(circle.cx + reach) + 1), min(h, math.ceil(circle.cy + reach) + 1)
    return gray[y0:y1, x0:x1], replace(circle, cx=circle.cx - x0, cy=circle.cy - y0)


def _disc_masks(spec: PreprocessSpec) -> tuple[npt.NDArray[np.bool_], FloatImage]:
    """The part disc (inside r) and the soft keep-mask out to mask_radius * r."""
    c = (spec.size - 1) / 2.0
    r_px = spec.size / (2.0 * (1.0 + spec.margin))
    yy, xx = np.mgrid[0 : spec.size, 0 : spec.size].astype(np.float32)
    rho = np.sqrt((xx - c) ** 2 + (yy - c) ** 2) / r_px
    part = rho <= 0.95
    keep = np.clip((spec.mask_radius - rho) / 0.03, 0.0, 1.0).astype(np.float32)
    return part, keep


_MASK_CACHE: dict[PreprocessSpec, tuple[npt.NDArray[np.bool_], FloatImage]] = {}


def normalise_crop(gray: GrayImage, circle: Circle, spec: PreprocessSpec) -> tuple[FloatImage, float, float]:
    """Crop, standardise grey levels on the part, suppress the background.

    Returns the crop and the part's median brightness and contrast scale (grey levels).
    """
    return normalise(crop_square(gray, circle, spec), spec)


def normalise(crop8: GrayImage, spec: PreprocessSpec) -> tuple[FloatImage, float, float]:
    """:func:`normalise_crop`'s second half, on the square crop :func:`crop_square` made."""
    masks = _MASK_CACHE.get(spec)
    if masks is None:
        masks = _MASK_CACHE.setdefault(spec, _disc_masks(spec))
    part, keep = masks
    lo, med, hi = level_percentiles(u8(crop8[part]), (10.0, 50.0, 90.0))
    scale = max(float(hi - lo) / 2.56, 1.0)
    z = np.clip((crop8.astype(np.float32) - float(med)) / scale, -spec.clip, spec.clip) * keep
    return z.astype(np.float32), float(med), scale


def quantised(crop: FloatImage, clip: float) -> GrayImage:
    """A normalised crop as grey levels, 0 at -clip and 255 at +clip (how a model's self-test stores its crops)."""
    return cast(GrayImage, np.clip(np.rint((crop + clip) / (2 * clip) * 255), 0, 255).astype(np.uint8))


def dequantised(grey: GrayImage, clip: float) -> FloatImage:
    """Grey levels stored by :func:`quantised` as a normalised crop again (how the model gate reads a self-test crop)."""
    return cast(FloatImage, (grey.astype(np.float32) / 255.0 * 2.0 - 1.0) * clip)


def crop_sharpness(crop: FloatImage) -> float:
    """Mean absolute Laplacian over the centre of a normalised crop: independent of scale and contrast.

    About 0.45-0.8 for a sharp photo, 0.3 at a Gaussian blur of 2 px, under 0.1 at 6 px.
    """
    q = crop.shape[0] // 4
    lap = cv2.Laplacian(crop[q : 3 * q, q : 3 * q], cv2.CV_32F, ksize=3)
    return float(np.mean(np.abs(lap)))


def preprocess(
    image: npt.NDArray[np.generic],
    spec: PreprocessSpec = PreprocessSpec(),
    circle: Circle | None = None,
    found: Circle | None = None,
) -> Preprocessed:
    """Locate the part (unless ``circle`` is given), check it can be inspected, and crop it.

    ``found`` is the circle this image's search already gave (another model's preprocessing, with the same
    :func:`same_search`, found it whole and inside its rim): it is not searched for again, only made an ellipse when
    ``spec`` rectifies."""
    gray = to_gray(image)
    sample = gray[::4, ::4]
    brightness = float(np.mean(sample))
    clipped = float(np.count_nonzero(sample >= CLIPPED_LEVEL)) / sample.size
    beyond = False
    if circle is None:
        circle, beyond = (found, False) if found is not None else find(gray, spec.min_radius_frac, spec.max_radius_frac, look_beyond=True)
        if circle is not None and spec.rectify:
            circle = ellipse_of(gray, circle)
    if circle is None:
        return Preprocessed(Quality.NO_PART, None, None, brightness, 0.0, clipped)
    h, w = gray.shape
    if not circle.inside(w, h, spec.cut_off_tolerance):
        return Preprocessed(Quality.CUT_OFF, circle, None, brightness, 0.0, clipped)
    if beyond:  # the circle found is an inner ring: a crop of it would cut the rim away
        return Preprocessed(Quality.OUTLINE_MISMATCH, circle, None, brightness, 0.0, clipped)
    if not asymmetry(gray, circle) <= OFF_CENTRE:  # across the part's rings, not round them (or cannot tell): not the part's
        return Preprocessed(Quality.OFF_CENTRE, circle, None, brightness, 0.0, clipped)
    crop, med, contrast = normalise_crop(gray, circle, spec)
    sharp = crop_sharpness(crop)
    quality = _exposure_quality(med, contrast, sharp)
    return Preprocessed(quality, circle, crop if quality is Quality.OK else None, brightness, sharp, clipped)


def rectifying(spec: PreprocessSpec) -> PreprocessSpec:
    """``spec`` making a part seen as an ellipse (a tilted camera) round before the crop: a taught model's preprocessing."""
    return replace(spec, rectify=True)


def same_search(a: PreprocessSpec, b: PreprocessSpec) -> bool:
    """``a``'s circle, found without rectifying, is the one ``b``'s search would find on the same image."""
    return not a.rectify and (a.min_radius_frac, a.max_radius_frac) == (b.min_radius_frac, b.max_radius_frac)


def drawn_part(spec: PreprocessSpec = PreprocessSpec()) -> GrayImage:
    """A synthetic impeller on a belt (a textured disc with a dark hub ring) that :func:`preprocess` finds."""
    side = 4 * spec.size // 3
    rng = np.random.default_rng(0)
    image = np.full((side, side), 90, np.uint8)
    c, r = side // 2, int(side * 0.38)
    cv2.circle(image, (c, c), r, 170, -1)
    cv2.circle(image, (c, c), r // 3, 110, max(2, r // 12))
    return u8(cv2.add(image, rng.integers(0, 24, image.shape, dtype=np.uint8)))


def warm_up(spec: PreprocessSpec, runs: int = 2) -> None:
    """Preprocess a drawn part a few times, so that the first real part does not pay for numpy's lazy
    imports and the first allocations (25-45 ms here, against 4-5 ms for every later part)."""
    image = drawn_part(spec)
    for _ in range(runs):
        preprocess(image, spec)


def _exposure_quality(median: float, contrast: float, sharpness: float) -> Quality:
    """Judge the part's own pixels: too bright, too dark, too flat or too blurred to inspect."""
    if median > 245.0:
        return Quality.OVEREXPOSED
    if median < 12.0:
        return Quality.UNDEREXPOSED
    if contrast < 4.0:
        return Quality.LOW_CONTRAST
    if sharpness < 0.13:
        return Quality.BLURRED
    return Quality.OK
