"""Training-time augmentation across the station's envelope (numpy + OpenCV only).

Every function works on the raw grey photo and the part's circle, *before* the station's own
preprocessing runs, so that training sees exactly the crops serving will make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from station.footage import shadow_weight
from station.locate import Circle

Gray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class View:
    """How one photo is re-shot: the knobs a different camera, belt or light would turn."""

    fill: float = 0.85  # part diameter / image side
    angle: float = 0.0
    flip: bool = False
    shift: tuple[float, float] = (0.0, 0.0)  # fraction of the free space, -1..1
    background: float | None = None  # None keeps the photo's own background
    bg_ring: float = 1.06  # radius (in r) out to which the photo's own background is kept
    gain: float = 1.0
    offset: float = 0.0
    gamma: float = 1.0
    contrast: float = 1.0  # < 1 flattens the light
    shade: float = 0.0  # strength of a one-sided lighting gradient
    shade_dir: float = 0.0
    sector: float = 0.0  # darkening of one sector of the part (a low side light), 0..1
    sector_dir: float = 0.0
    sector_half: float = 0.0  # radians: a shadow of this half-width, soft-edged (0: a light's cos^2 falloff instead)
    sector_edge: float = math.radians(20)  # radians: how wide the shadow's soft edge is
    blur: float = 0.0
    jpeg: int = 0  # re-encode at this JPEG quality (a video codec's blocking), 0 = off
    noise: float = 0.0
    out_side: int = 300


@lru_cache(maxsize=256)
def _grid(side: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Pixel row and column coordinates of a side x side image (read-only, shared between calls)."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def _background(side: int, level: float, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    yy, xx = (g / side for g in _grid(side))
    a = rng.uniform(-0.5, 0.5) * math.pi
    ramp = (np.cos(a) * xx + np.sin(a) * yy - 0.5) * rng.uniform(-25, 25)
    stripes = np.sin((xx * math.cos(a) + yy * math.sin(a)) * side / rng.uniform(8, 40)) * rng.uniform(0, 4)
    return cast(npt.NDArray[np.float32], (level + ramp + stripes).astype(np.float32))


def render(img: Gray, c: Circle, v: View, rng: np.random.Generator) -> tuple[Gray, Circle]:
    """Re-shoot ``img`` as ``v`` says; return the new image and where the part now is."""
    if v.flip:
        img = np.ascontiguousarray(img[:, ::-1])
        c = Circle(img.shape[1] - 1 - c.cx, c.cy, c.r)
    if v.fill <= 0:  # keep the photo's own framing
        side, s, tx, ty = img.shape[1], 1.0, c.cx, c.cy
    else:
        side = v.out_side
        s = v.fill * side / (2.0 * c.r)
        free = max(side - v.fill * side, 0.0) / 2.0
        tx = side / 2.0 + v.shift[0] * free
        ty = side / 2.0 + v.shift[1] * free
    m = cv2.getRotationMatrix2D((c.cx, c.cy), v.angle, s)
    m[0, 2] += tx - c.cx
    m[1, 2] += ty - c.cy
    out = cv2.warpAffine(img, m, (side, side), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    f = out.astype(np.float32)
    r_new = c.r * s
    yy, xx = _grid(side)
    rho = cv2.magnitude(xx - np.float32(tx), yy - np.float32(ty)) / np.float32(r_new)
    if v.sector > 0:  # a sector of the part and its ring darkened, not the belt: see _sector
        f = f * (1.0 - v.sector * _sector(np.arctan2(yy - ty, xx - tx), v))
    level, ring = v.background, v.bg_ring
    if level is None:  # the photo's own background, continued past the photo's edge
        level, ring = float(np.median(np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]))), 1.16
    keep = np.clip((ring - rho) / 0.03, 0.0, 1.0)
    if v.fill <= 0 and v.background is None:
        keep = np.ones_like(keep)
    f = f * keep + _background(side, level, rng) * (1.0 - keep)
    f = _photometric(f, v, xx, yy, side)
    if v.blur > 0.2:
        f = cast(npt.NDArray[np.float32], cv2.GaussianBlur(f, (0, 0), v.blur))
    if v.noise > 0:
        f = f + rng.normal(0.0, v.noise, f.shape).astype(np.float32)
    out8 = np.clip(f, 0, 255).astype(np.uint8)
    if v.jpeg:
        ok, buf = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, v.jpeg])
        out8 = cast(npt.NDArray[np.uint8], cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)) if ok else out8
    return out8, Circle(tx, ty, r_new)


def _sector(ang: npt.NDArray[np.float32], v: View) -> npt.NDArray[np.float32]:
    """How much of ``v.sector``'s darkening each angle gets, 0..1: a light's cos^2 falloff over half a turn, or a shadow
    over a sector (``v.sector_half`` either side of ``v.sector_dir``, a raised-cosine edge ``v.sector_edge`` wide)."""
    if v.sector_half <= 0:
        return cast(npt.NDArray[np.float32], np.clip(np.cos(ang - v.sector_dir), 0, 1) ** 2)
    return shadow_weight(ang, v.sector_dir, v.sector_half, v.sector_edge)


def _photometric(
    f: npt.NDArray[np.float32], v: View, xx: npt.NDArray[np.float32], yy: npt.NDArray[np.float32], side: int
) -> npt.NDArray[np.float32]:
    mean = float(f.mean())
    f = mean + v.contrast * (f - mean)
    if v.shade:
        d = (np.cos(v.shade_dir) * (xx / side - 0.5) + np.sin(v.shade_dir) * (yy / side - 0.5)) * 2.0
        f = f * (1.0 + v.shade * d)
    f = np.clip(f, 0, 255)
    f = 255.0 * (f / 255.0) ** v.gamma
    return f * v.gain + v.offset


def random_view(rng: np.random.Generator, shadow: float = 0.0) -> View:
    """A random re-shoot covering the whole envelope. ``shadow`` (0..1, ``tools.train --shadow``): the darkened sector
    may go this deep instead of 0.6, half the time a soft-edged shadow 15-90 degrees either side of its middle rather
    than a light's cos^2 falloff (``line-video.md``: a sector may be shaded down to the belt's level or below; the
    shipped model since run 35: 0.8); 0 draws exactly the views of runs 1-31.

    The photo's own background is replaced almost always, from just outside the rim: in the
    training photos its brightness goes with the label (defective photos are darker), and on the
    line the belt shows there instead.
    """
    bg: float | None = None
    high_key = rng.random() < 0.15  # strong light: the face near saturation, where defects wash out
    if rng.random() < 0.9:
        band = rng.integers(0, 3)
        bg = float(rng.uniform(*((200, 250), (90, 200), (10, 90))[band]))
    view = View(
        fill=float(rng.uniform(0.58, 1.0)),
        angle=float(rng.uniform(0, 360)),
        flip=bool(rng.random() < 0.5),
        shift=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))),
        background=bg,
        bg_ring=float(rng.uniform(0.99, 1.09)),
        gain=float(rng.uniform(1.1, 1.45) if high_key else rng.uniform(0.7, 1.3)),
        offset=float(rng.uniform(5, 35) if high_key else rng.uniform(-25, 25)),
        gamma=float(rng.uniform(0.7, 1.4)),
        contrast=float(rng.uniform(0.45, 1.1)),
        shade=float(rng.uniform(0, 0.35)) if rng.random() < 0.5 else 0.0,
        shade_dir=float(rng.uniform(0, 2 * math.pi)),
        sector=float(rng.uniform(0, shadow or 0.6)) if rng.random() < 0.4 else 0.0,
        sector_dir=float(rng.uniform(0, 2 * math.pi)),
        blur=float(rng.uniform(0, 1.3)) if rng.random() < 0.4 else 0.0,
        noise=float(rng.uniform(0, 4)),
        jpeg=int(rng.integers(25, 90)) if rng.random() < 0.4 else 0,
        out_side=int(rng.integers(224, 400)),
    )
    if not shadow:  # drawn only then: without it, the views of runs 1-31 and the draws after them are as they were
        return view
    half = float(rng.uniform(math.radians(15), math.radians(90))) if rng.random() < 0.5 else 0.0
    return replace(view, sector_half=half, sector_edge=float(rng.uniform(math.radians(8), math.radians(40))))


def photo_view(rng: np.random.Generator) -> View:
    """The training photos' own framing, turned and flipped, with mild light changes."""
    return View(
        fill=0.0,
        angle=float(rng.uniform(0, 360)),
        flip=bool(rng.random() < 0.5),
        gain=float(rng.uniform(0.85, 1.15)),
        offset=float(rng.uniform(-12, 12)),
        contrast=float(rng.uniform(0.8, 1.1)),
        noise=float(rng.uniform(0, 2)),
    )


# Fixed re-shoots for the robustness report: each isolates one way the line differs.
ROBUSTNESS_VIEWS: dict[str, View] = {
    "as_photographed": View(fill=0.0),
    "brighter": View(fill=0.0, gain=1.25, offset=20),
    "darker": View(fill=0.0, gain=0.7, offset=-10),
    "flat_light": View(fill=0.0, contrast=0.5),
    "white_background": View(fill=0.0, background=235.0),
    "grey_background": View(fill=0.0, background=150.0),
    "dark_background": View(fill=0.0, background=45.0),
    "dark_belt_at_rim": View(fill=0.8, background=70.0, bg_ring=1.01, sector=0.4, jpeg=40),
    "small_white_flat": View(fill=0.62, background=228.0, contrast=0.6, shift=(0.5, -0.4), angle=37.0),
    "shadowed_sector": View(fill=0.8, background=45.0, sector=0.8, sector_dir=1.0, sector_half=math.radians(50)),
}
