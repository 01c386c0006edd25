"""Synthetic pits painted on a part's lit metal: training's and teaching's defects of known place.

The shipped model learnt from these (``tools/train.py``); teaching can paint them on the line's
own good parts, in the line's own look (``station teach --pits``, off by default: measured in
docs/teaching-measured.md); ``tools/where_check.py`` knows where each one is. numpy and OpenCV only.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from station.locate import Circle

Gray = npt.NDArray[np.uint8]
PIT_SIZES = (0.02, 0.05)  # a painted pit's radius, as a share of the part's radius
PIT_DEPTHS = (0.45, 0.85)  # how much a painted pit darkens the metal at its centre (a share of its level)


def _lit_level(img: Gray, c: Circle) -> float:
    """The part's lit metal's grey level: 75th percentile of a band through its centre."""
    y0, x0 = max(int(c.cy - c.r / 2), 0), max(int(c.cx - c.r), 0)
    band = img[y0 : max(int(c.cy + c.r / 2), y0 + 1), x0 : max(int(c.cx + c.r), x0 + 1)]
    return float(np.percentile(band, 75)) if band.size else float(np.percentile(img, 75))


def _on_metal(img: Gray, c: Circle, metal: float, rng: np.random.Generator) -> tuple[float, float]:
    """A random spot on the part's lit metal (face, hub or rim), not in the dark vanes' shadow.

    A pit painted where the photo is already near black is invisible: labelled defective, it would
    teach the model that pits do not matter.
    """
    best, best_level = (c.cx, c.cy), -1.0
    for _ in range(24):
        rho = math.sqrt(rng.uniform(0.02, 0.88))  # uniform over the face's area, inside the rim
        phi = rng.uniform(0.0, 2.0 * math.pi)
        x, y = c.cx + rho * c.r * math.cos(phi), c.cy + rho * c.r * math.sin(phi)
        ix, iy = round(x), round(y)
        spot = img[max(iy - 2, 0) : max(iy + 3, 0), max(ix - 2, 0) : max(ix + 3, 0)]
        level = float(np.mean(spot)) if spot.size else -1.0
        if level >= 0.7 * metal:
            return x, y
        if level > best_level:
            best, best_level = (x, y), level
    return best


def paint_pin_holes(
    img: Gray,
    c: Circle,
    rng: np.random.Generator,
    count: int,
    sizes: tuple[float, float] = PIT_SIZES,
    depths: tuple[float, float] = PIT_DEPTHS,
    placed: list[tuple[float, float, float]] | None = None,
) -> Gray:
    """Paint small dark pits (pin holes / blow holes) anywhere on the part's lit metal.

    Radii ``sizes`` x r; each pit darkens the metal at its centre by a share drawn from ``depths``.
    ``placed``, when given, gets each pit's (x, y, radius) in image pixels (ground truth for ``where``).
    """
    out: npt.NDArray[np.floating[Any]] = img.astype(np.float32)
    yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
    metal = _lit_level(img, c)
    for _ in range(count):
        x, y = _on_metal(img, c, metal, rng)
        rad = c.r * rng.uniform(*sizes)
        depth = rng.uniform(*depths)
        if placed is not None:
            placed.append((x, y, rad))
        d = np.sqrt((xx - x) ** 2 + ((yy - y) * rng.uniform(0.8, 1.25)) ** 2) / rad
        pit = np.clip(1.2 - d, 0.0, 1.0)
        lit = np.clip(1.0 - np.abs(d - 1.15) / 0.3, 0.0, 1.0) * rng.uniform(0.0, 0.25)
        out = out * (1.0 - depth * pit) + lit * (255.0 - out)
    return cast(npt.NDArray[np.uint8], np.clip(out, 0, 255).astype(np.uint8))
