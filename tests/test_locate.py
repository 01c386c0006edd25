from __future__ import annotations

import numpy as np

from station.locate import ellipse_of, find, level_percentiles
from station.preprocess import PreprocessSpec, drawn_part


def test_the_radius_limits_bound_the_part_found() -> None:
    """The limits come from the model's spec: a part larger than max_frac or smaller than min_frac is not this model's part."""
    image = drawn_part()  # a part of radius 0.38 of the side
    spec = PreprocessSpec()
    found, beyond = find(image, spec.min_radius_frac, spec.max_radius_frac, look_beyond=True)
    assert found is not None and abs(found.r - 0.38 * image.shape[0]) < 3 and not beyond
    assert find(image, 0.45, 0.62, look_beyond=False)[0] is None  # the rim is inside the smallest radius allowed
    smaller = find(image, 0.05, 0.3, look_beyond=False)[0]  # the rim is outside the largest radius allowed
    assert smaller is not None and smaller.r <= 0.3 * image.shape[0]


def test_a_round_part_stays_a_circle() -> None:
    image = drawn_part()
    found = find(image, 0.22, 0.62, look_beyond=False)[0]
    assert found is not None and ellipse_of(image, found) == found


def test_level_percentiles_equal_numpys_bit_for_bit() -> None:
    """Training and serving both call it: any difference from numpy would change every crop (and the model)."""
    rng = np.random.default_rng(5)
    for t in range(3000):
        n = int(rng.integers(1, 40)) if t % 3 == 0 else int(rng.integers(40, 30000))
        lo, hi = sorted(int(x) for x in rng.integers(0, 256, 2))
        levels = rng.integers(lo, hi + 1, n).astype(np.uint8)
        qs = (1.0, 99.0) if t % 2 else (10.0, 50.0, 90.0)
        want = [float(x) for x in np.percentile(levels.astype(np.float32), qs)]
        assert level_percentiles(levels, qs) == want
    image = rng.integers(0, 256, (120, 160)).astype(np.uint8)  # a 2-D image as well as a 1-D selection
    assert level_percentiles(image, (0.0, 1.0, 99.0, 100.0)) == [float(x) for x in np.percentile(image, (0.0, 1.0, 99.0, 100.0))]
