"""tools/augment.py: the re-shoots training learns from; here the darkened sector (a low side light's shading or shadow)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from station.locate import Circle
from tools.augment import View, random_view, render


def _lit(v: View) -> npt.NDArray[np.float64]:
    """A uniform grey part (level 200, r = 100) on a belt of 40, re-shot as ``v``: its grey level round a ring at 0.7 r."""
    img = np.full((300, 300), 40, np.uint8)
    yy, xx = np.mgrid[:300, :300]
    img[np.hypot(xx - 150, yy - 150) < 100] = 200
    out, c = render(img, Circle(150.0, 150.0, 100.0), v, np.random.default_rng(0))
    ang = np.linspace(-math.pi, math.pi, 360, endpoint=False)
    xs, ys = c.cx + 0.7 * c.r * np.cos(ang), c.cy + 0.7 * c.r * np.sin(ang)
    ring: npt.NDArray[np.float64] = out[np.round(ys).astype(int), np.round(xs).astype(int)].astype(np.float64)
    return ring


def test_a_shadow_darkens_its_sector_to_the_belt_and_leaves_the_rest_of_the_part_lit() -> None:
    ring = _lit(View(fill=0.0, background=40.0, sector=0.8, sector_dir=0.0, sector_half=math.radians(45), sector_edge=math.radians(20)))
    degrees = np.arange(-180, 180)
    assert ring[np.abs(degrees) <= 30].max() <= 41, "the shadow's middle: 200 x 0.2"
    assert ring[np.abs(degrees) >= 60].min() >= 199, "past its soft edge (45 + 10 degrees) the part is as lit"


def test_without_a_shadows_width_the_sector_falls_off_as_a_lights_cos_squared_over_half_a_turn() -> None:
    ring = _lit(View(fill=0.0, background=40.0, sector=0.5, sector_dir=0.0))
    assert abs(ring[180] - 100) <= 1 and abs(ring[180 + 45] - 150) <= 2 and ring[0] >= 199  # 200 x (1 - 0.5 cos^2)


def test_without_a_shadow_depth_the_views_are_drawn_as_they_were_before_shadows() -> None:
    """``--shadow 0`` draws the views of runs 1-31 (the shipped model until run 35): same views, and the draws after them."""
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    views = [random_view(a) for _ in range(50)]
    assert all(v.sector <= 0.6 and v.sector_half == 0.0 for v in views)
    assert views == [random_view(b, 0.0) for _ in range(50)] and a.random() == b.random()


def test_with_a_shadow_depth_the_sector_may_go_that_deep_and_half_the_time_is_a_shadow() -> None:
    rng = np.random.default_rng(1)
    views = [v for v in (random_view(rng, 0.9) for _ in range(400)) if v.sector > 0]
    assert max(v.sector for v in views) > 0.8 and 0.3 < np.mean([v.sector_half > 0 for v in views]) < 0.7
