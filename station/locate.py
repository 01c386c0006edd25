"""Find the part: its outer circle (or, seen by a tilted camera, its ellipse) in a grey image.

The part is a cast impeller seen from the top. We locate its outer circle with a Hough
transform on a downscaled copy, re-rank the candidates by how much of their perimeter is a
real edge, and keep the largest well-supported one. The inner dark ring is also a strong
circle; when glare or a pale belt washes the rim out it can be the largest one left, so a fainter
concentric ring well outside the circle found marks it as an inner ring (``find`` says so, and
``station.preprocess`` refuses the part as OUTLINE_MISMATCH rather than inspect a crop that misses
the rim). A circle found off the part's centre cuts across its rings: ``asymmetry`` says how far the part
is from looking the same all round a circle, and ``station.preprocess`` refuses it as OFF_CENTRE past
OFF_CENTRE. No settings of its own: the radius limits come from the model's ``PreprocessSpec``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

GrayImage = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]

_WORK_SIDE = 160  # the rim is fitted on an image this many pixels on its longer side
_HOUGH_SIDE = 96  # the centre is voted for on a coarser copy: 3x cheaper, and as often right
_ANGLES = np.linspace(0.0, 2.0 * math.pi, 96, endpoint=False)
_COS = np.cos(_ANGLES).astype(np.float32)
_SIN = np.sin(_ANGLES).astype(np.float32)
_RAYS = np.linspace(0.0, 2.0 * math.pi, 180, endpoint=False)
_RAY_COS = np.cos(_RAYS).astype(np.float32)
_RAY_SIN = np.sin(_RAYS).astype(np.float32)
_BEYOND = (1.3, 1.9)  # where an impeller's rim lies, in radii of its inner ring (measured: 1.4-2.0)
_BEYOND_EDGE = 5.0  # grey-level step per pixel (stretched image) that counts as an edge out there
_BEYOND_MARGIN = 0.1  # how much more of that ring is edge than of the band around it
ELLIPSE_SQUASH = 0.97  # a rim flatter than this is an ellipse (a camera ~14 degrees or more off perpendicular)
ELLIPSE_MIN_SQUASH = 0.8  # ... up to ~37 degrees; flatter than that is not a part seen from above
ELLIPSE_BETTER = 2.5  # how much closer the rim's points lie to the ellipse than to the best circle
OFF_CENTRE = 0.65  # share of the part's grey-level variance not the same all round the circle found: above it, not the part's centre
SHADED = 0.45  # ... where it is over OFF_CENTRE, that share with each ray's own light taken out: at most this, a shadow's doing
_SYMMETRY_RADII = np.linspace(0.0, 0.95, 48, dtype=np.float32)  # where asymmetry looks, in radii: inside the rim only


@dataclass(frozen=True)
class Circle:
    """The part's outer circle in source-image pixels; seen by a tilted camera, an ellipse.

    ``r`` is then the ellipse's major semi-axis, ``squash`` its minor over its major axis, and
    ``axis`` the direction of its minor axis (radians, from +x towards +y). The crop stretches the
    minor axis back to ``r`` (:func:`rectify`), so the network always sees a round part.
    """

    cx: float
    cy: float
    r: float
    squash: float = 1.0
    axis: float = 0.0

    def inside(self, width: int, height: int, tolerance: float) -> bool:
        """True when the circle leaves the image by at most ``tolerance`` * r (and has a radius: not for r <= 0, inf or NaN)."""
        slack = self.r * tolerance
        return (
            0 < self.r < math.inf
            and self.cx - self.r >= -slack
            and self.cy - self.r >= -slack
            and self.cx + self.r <= width - 1 + slack
            and self.cy + self.r <= height - 1 + slack
        )


def u8(image: npt.NDArray[Any]) -> GrayImage:
    """Typed view of an 8-bit image (OpenCV's stubs lose the dtype); no copy when already uint8."""
    return np.asarray(image, dtype=np.uint8)


def f32(image: npt.NDArray[Any]) -> FloatImage:
    """Typed view of a float32 image; no copy when already float32."""
    return np.asarray(image, dtype=np.float32)


def rotation(angle: float) -> npt.NDArray[np.float64]:
    """2 x 2 matrix that turns a point ``angle`` radians about the origin."""
    ca, sa = math.cos(angle), math.sin(angle)
    return np.array([[ca, -sa], [sa, ca]])


def rectify(circle: Circle) -> npt.NDArray[np.float64]:
    """2 x 2 matrix that stretches the ellipse's minor axis to its major one (the identity for a circle)."""
    rot = rotation(circle.axis)
    return np.asarray(rot @ np.diag([1.0 / circle.squash, 1.0]) @ rot.T, np.float64)


def _hough_centre(small: GrayImage, max_frac: float) -> tuple[float, float] | None:
    """Centre of the strongest circle; the impeller's circles are concentric, so any will do.

    The rim fit that follows refines the centre from edge points, so a coarse vote is enough.
    """
    scale = min(_HOUGH_SIDE / max(small.shape), 1.0)
    coarse = u8(cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)) if scale < 1 else small
    side = min(coarse.shape)
    circles = cv2.HoughCircles(
        coarse,
        cv2.HOUGH_GRADIENT_ALT,
        dp=1.5,
        minDist=4,
        param1=40,
        param2=0.4,
        minRadius=int(side * 0.12),
        maxRadius=math.ceil(side * max_frac),
    )
    if circles is None:
        return None
    return float(circles[0][0][0]) / scale, float(circles[0][0][1]) / scale


def _radial_edges(small: GrayImage, cx: float, cy: float, r_max: int) -> tuple[FloatImage, FloatImage]:
    """Polar unwrap around (cx, cy): |d/dr| of grey level per (angle, radius), and validity."""
    radii = np.arange(r_max, dtype=np.float32)
    map_x = (cx + _COS[:, None] * radii[None, :]).astype(np.float32)
    map_y = (cy + _SIN[:, None] * radii[None, :]).astype(np.float32)
    polar = cv2.remap(small.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    h, w = small.shape
    valid = ((map_x >= 1) & (map_x <= w - 2) & (map_y >= 1) & (map_y <= h - 2)).astype(np.float32)
    deriv = f32(np.abs(cv2.Sobel(polar, cv2.CV_32F, 1, 0, ksize=3)) / 4.0)
    return f32(cv2.dilate(deriv, np.ones((1, 5), np.uint8))), valid


def _fit_circle(xs: FloatImage, ys: FloatImage) -> tuple[float, float, float]:
    """Algebraic least-squares circle through points (Kasa fit)."""
    a = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float64)
    b = xs.astype(np.float64) ** 2 + ys.astype(np.float64) ** 2
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = sol[0] / 2.0, sol[1] / 2.0
    return float(cx), float(cy), float(math.sqrt(max(sol[2] + cx * cx + cy * cy, 1.0)))


def _ring_candidates(coverage: FloatImage, enough: npt.NDArray[np.bool_], r_min: int) -> list[int]:
    """Radii where an edge covers a good part of the perimeter and stands out from what lies outside."""
    out = []
    for r in range(max(r_min, 1), len(coverage) - 2):
        c = float(coverage[r])
        if not enough[r] or c < 0.2 or c < coverage[r - 1] or c < coverage[r + 1]:
            continue
        beyond = coverage[r + 5 : r + 14][enough[r + 5 : r + 14]]
        if c >= 0.45 or (beyond.size >= 4 and c >= 2.5 * float(beyond.mean()) + 0.05):
            out.append(r)
    return out


def _outer_radius(small: GrayImage, cx: float, cy: float, min_frac: float, max_frac: float) -> Circle | None:
    """Largest radius where a radial edge rings the centre, refined by a fit of its edge points."""
    side = min(small.shape)
    r_max = math.ceil(side * max_frac) + 4
    deriv, valid = _radial_edges(small, cx, cy, r_max)
    thresh = max(float(np.percentile(deriv[valid > 0], 97)) * 0.15, 3.0)
    strong = (deriv > thresh) * valid
    coverage = f32(strong.sum(axis=0) / np.maximum(valid.sum(axis=0), 1.0))
    enough = valid.sum(axis=0) >= 0.4 * valid.shape[0]
    for r0 in sorted(_ring_candidates(coverage, enough, int(side * min_frac)), reverse=True):
        fit = _fit_ring(deriv, valid, thresh, r0, cx, cy)
        if fit is not None:
            return fit
    return None


def _fit_ring(deriv: FloatImage, valid: FloatImage, thresh: float, r0: int, cx: float, cy: float) -> Circle | None:
    """Edge points within 4 px of r0 -> circle; None when too little of the ring is there."""
    band = deriv[:, r0 - 4 : r0 + 5] * valid[:, r0 - 4 : r0 + 5]
    idx = np.argmax(band, axis=1)
    ok = band[np.arange(band.shape[0]), idx] > thresh
    if ok.sum() < 0.15 * ok.shape[0]:
        return None
    rr = (r0 - 4 + idx[ok]).astype(np.float32)
    if ok.mean() >= 0.5:
        fx, fy, fr = _fit_circle(cx + rr * _COS[ok], cy + rr * _SIN[ok])
        if math.hypot(fx - cx, fy - cy) < 0.08 * fr and abs(fr - r0) < 0.1 * r0:
            return Circle(fx, fy, fr)
    return Circle(cx, cy, float(np.median(rr)))  # a short arc: trust the concentric centre, fit the radius only


def rim_edges(gray: GrayImage, circle: Circle, band: tuple[float, float]) -> tuple[FloatImage, FloatImage, FloatImage]:
    """On each of 180 rays from ``circle``'s centre, the strongest radial edge between ``band`` radii (none outside the
    image): its points and its strength (Sobel)."""
    radii = np.arange(band[0] * circle.r, band[1] * circle.r, 0.5, dtype=np.float32)
    map_x = (circle.cx + _RAY_COS[:, None] * radii[None, :]).astype(np.float32)
    map_y = (circle.cy + _RAY_SIN[:, None] * radii[None, :]).astype(np.float32)
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.0).astype(np.float32)
    polar = cv2.remap(smooth, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    h, w = gray.shape
    inside = (map_x >= 1) & (map_x <= w - 2) & (map_y >= 1) & (map_y <= h - 2)
    deriv = np.abs(cv2.Sobel(polar, cv2.CV_32F, 1, 0, ksize=3)) * inside
    k = np.argmax(deriv, axis=1)
    return f32(circle.cx + radii[k] * _RAY_COS), f32(circle.cy + radii[k] * _RAY_SIN), f32(deriv[np.arange(len(k)), k])


def ellipse_of(gray: GrayImage, circle: Circle) -> Circle:
    """The rim as an ellipse, fitted on the full image, when the part clearly is one (a tilted camera); else ``circle``.

    The strongest radial edge within 20 % of the circle's radius on each of 180 rays, then an
    ellipse fit that drops outlying points (a burr, a gap in the rim) three times. Kept when it is
    flatter than ELLIPSE_SQUASH (about 14 degrees of tilt), no flatter than ELLIPSE_MIN_SQUASH, and
    the rim's points lie ELLIPSE_BETTER times closer to it than to the best circle through them.
    """
    xs, ys, strength = rim_edges(gray, circle, (0.8, 1.2))
    edge = strength > 0.25 * float(np.percentile(strength, 90))
    keep, e = edge, circle
    for _ in range(3):
        if keep.sum() < 0.5 * len(keep):
            return circle
        e = fit_ellipse(xs[keep], ys[keep])
        u = rectify_points(xs, ys, e)
        miss = np.abs(np.hypot(u[0], u[1]) - e.r)
        keep = edge & (miss < max(3.0 * float(np.median(miss[keep])), 1.0))
    if not ELLIPSE_MIN_SQUASH <= e.squash < ELLIPSE_SQUASH or math.hypot(e.cx - circle.cx, e.cy - circle.cy) > 0.2 * circle.r:
        return circle
    cx, cy, cr = _fit_circle(xs[keep], ys[keep])  # a round rim fits a circle as well as an ellipse: keep the circle
    miss_c = float(np.median(np.abs(np.hypot(xs[keep] - cx, ys[keep] - cy) - cr)))
    miss_e = float(np.median(miss[keep]))
    return e if miss_c > max(ELLIPSE_BETTER * miss_e, 0.005 * e.r) else circle


def fit_ellipse(xs: FloatImage, ys: FloatImage) -> Circle:
    """The ellipse through points (at least 5) as a Circle: r its major semi-axis, squash minor / major, axis the major's."""
    (ex, ey), (aw, ah), deg = cv2.fitEllipse(np.stack([xs, ys], axis=1))
    major, minor = max(aw, ah) / 2.0, min(aw, ah) / 2.0
    return Circle(
        float(ex),
        float(ey),
        float(major),
        float(minor / max(major, 1e-6)),
        (math.radians(deg) + (0.0 if aw < ah else math.pi / 2)) % math.pi,
    )


def rectify_points(xs: FloatImage, ys: FloatImage, e: Circle) -> tuple[FloatImage, FloatImage]:
    """Points relative to the ellipse's centre, its minor axis stretched to the major: on the rim, at distance r."""
    u = rectify(e) @ np.stack([xs - e.cx, ys - e.cy])
    return f32(u[0]), f32(u[1])


def asymmetry(gray: GrayImage, circle: Circle) -> float:
    """How far the part is from looking the same all round ``circle``'s centre: the share of its grey-level variance that
    is not explained by the distance from the centre alone (0: rings round the centre, 1: nothing about the centre).

    A round casting seen from above is rings round its centre, plus texture, defects and light that falls from one
    side: on the 6633 photos of the shipped model's own line, 0.64 at most and 0.47 for 99.8 % of them. A circle
    the search found elsewhere on the part (the Hough vote's strongest circle off the part's centre, a ring fitted
    round it) cuts across its rings: most measure 0.65-0.97, a few less (docs/teaching-measured.md). Sampled on 96 rays of 48 points, made
    round first for an ellipse; rays that leave the image are left out. 1 when it cannot tell (fewer than 8 rays stay in
    the image, a radius or squash that is no positive number); 0 for a part of one grey level (LOW_CONTRAST refuses it).

    A shadow over a wide sector (down to the belt's level: ``line-video.md``) darkens the rays under it, and a part so
    shaded measured 0.65-0.71 round its own centre. Over OFF_CENTRE, the share is measured again with each ray scaled to
    the same mean light: a shadow's part then measures SHADED or less (0.20-0.30), a circle off the centre does not (0.5
    or more on the simulated lines' wrong circles), and the part gets the share of its rays as lit alike."""
    if not (circle.r > 0 and 0 < circle.squash <= 1 and math.isfinite(circle.r) and math.isfinite(circle.axis)):
        return 1.0
    m = np.linalg.inv(rectify(circle))
    radii = _SYMMETRY_RADII * np.float32(circle.r)
    ux, uy = _COS[:, None] * radii[None, :], _SIN[:, None] * radii[None, :]
    map_x = f32(circle.cx + m[0, 0] * ux + m[0, 1] * uy)
    map_y = f32(circle.cy + m[1, 0] * ux + m[1, 1] * uy)
    polar = f32(cv2.remap(gray, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    h, w = gray.shape
    inside = ((map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)).all(axis=1)
    if int(inside.sum()) < 8:
        return 1.0
    rays = f32(cv2.GaussianBlur(polar, (0, 0), 1.0))[inside]
    share = _unexplained(rays)
    if share > OFF_CENTRE:
        alike = _unexplained(rays * (float(rays.mean()) / np.maximum(rays.mean(axis=1, keepdims=True), 1.0)))
        share = alike if alike <= SHADED else share
    return share if math.isfinite(share) else 1.0


def _unexplained(rays: FloatImage) -> float:
    """The share of ``rays``' variance (one ray a row) that the distance along them does not explain; 0 for no variance."""
    total = float(np.var(rays))
    return float(np.mean((rays - rays.mean(axis=0)) ** 2)) / total if total >= 1e-6 else 0.0


def level_percentiles(levels: GrayImage, qs: tuple[float, ...], mask: GrayImage | None = None) -> list[float]:
    """``np.percentile(levels, qs)`` (linear), bit for bit, from a histogram: 8-bit levels need no sort. ``mask``: of the
    pixels where it is not 0 only (there must be some).

    Three times cheaper per call than numpy's partition on a part's pixels; the same numbers, so
    training and serving see the same crops as before.
    """
    counts = np.cumsum(cv2.calcHist([levels], [0], mask, [256], [0, 256]).ravel().astype(np.int64))
    n = int(counts[-1])
    out = []
    for q in qs:
        v = (n - 1) * (q / 100.0)
        i = min(math.floor(v), n - 1)
        g = v - i
        a = float(np.searchsorted(counts, i, side="right"))  # the i-th smallest level
        b = float(np.searchsorted(counts, min(i + 1, n - 1), side="right"))
        out.append(a + (b - a) * g if g < 0.5 else b - (b - a) * (1.0 - g))  # numpy's own lerp
    return out


def _stretch(small: GrayImage) -> GrayImage:
    """Grey levels stretched so that the 1st..99th percentiles span 0..255: finding is gain-invariant."""
    lo, hi = level_percentiles(small, (1.0, 99.0))
    if hi - lo < 8.0:
        return small
    return u8(np.clip((small.astype(np.float32) - float(lo)) * (255.0 / float(hi - lo)), 0, 255))


def _ring_beyond(small: GrayImage, cx: float, cy: float, r: float) -> bool:
    """True when a faint concentric edge rings the circle at 1.3-1.9 r: the circle is an inner ring.

    Glare or a pale belt can wash the rim out until the locator's edge threshold, set by the part's
    strongest (inner) edge, no longer sees it. Here a low fixed threshold looks for a ring that stands
    out from the band between it and the circle (and from what lies beyond, where the image goes on).
    """
    r_max = math.ceil(_BEYOND[1] * r) + 12
    deriv, valid = _radial_edges(small, cx, cy, r_max)
    vs = valid.sum(axis=0)
    coverage = ((deriv > _BEYOND_EDGE) * valid).sum(axis=0) / np.maximum(vs, 1.0)
    enough = vs >= 0.3 * valid.shape[0]
    near = int(1.08 * r)  # past the circle's own edge: where its coverage has halved
    while near < r_max - 1 and coverage[near] > 0.5 * coverage[int(r)]:
        near += 1
    for ring in range(math.ceil(_BEYOND[0] * r), min(int(_BEYOND[1] * r), r_max - 2) + 1):
        c = float(coverage[ring])
        if not enough[ring] or c < coverage[ring - 1] or c < coverage[ring + 1]:
            continue
        inner = coverage[near : ring - 3][enough[near : ring - 3]]
        outer = coverage[ring + 4 : ring + 11][enough[ring + 4 : ring + 11]]
        around = max(float(inner.mean()) if inner.size else 1.0, float(outer.mean()) if outer.size >= 3 else 0.0)
        if c - around >= _BEYOND_MARGIN:
            return True
    return False


def find(gray: GrayImage, min_frac: float, max_frac: float, look_beyond: bool) -> tuple[Circle | None, bool]:
    """The part's outer circle (or None), and (when asked) whether a fainter concentric ring lies well beyond it.

    ``min_frac``, ``max_frac``: the part's radius as a share of the image's shorter side, at least and at most.
    """
    h, w = gray.shape
    scale = min(_WORK_SIDE / max(h, w), 1.0)
    small = u8(cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)) if scale < 1 else gray
    small = _stretch(u8(cv2.GaussianBlur(small, (3, 3), 0.8)))
    centre = _hough_centre(small, max_frac)
    if centre is None:
        return None, False
    fit = _outer_radius(small, centre[0], centre[1], min_frac, max_frac)
    if fit is None:
        return None, False
    found = replace(fit, cx=fit.cx / scale, cy=fit.cy / scale, r=fit.r / scale)
    return found, look_beyond and _ring_beyond(small, fit.cx, fit.cy, fit.r)
