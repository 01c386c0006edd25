"""tools/model_def.py: the polar network's unwrap (training-only code; needs PyTorch, the train extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="tools/model_def.py needs PyTorch (pip install -e '.[train]')")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import model_def  # noqa: E402  (tools/ is not a package: on the path first)


def _unwrap(crop: np.ndarray, radii: int, angles: int, overlap: float) -> np.ndarray:
    grid = model_def._polar_grid(radii, angles, 1.0, overlap)
    x = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None, None]
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=False)[0, 0].numpy()  # type: ignore[no-any-return]


def test_a_ring_around_the_centre_is_one_row_of_the_polar_image() -> None:
    yy, xx = np.mgrid[0:192, 0:192] - 95.5
    crop = (np.abs(np.hypot(xx, yy) - 48.0) < 1.5).astype(np.float32)  # a thin ring at half the crop's half side
    polar = _unwrap(crop, 96, 416, 1 / 16)
    row = int(np.argmax(polar.mean(axis=1)))
    assert abs(row - 48) <= 1  # ring k samples radius (k + 0.5) / 96 of the half side
    assert polar[row].min() > 0.5 * polar[row].max()  # all the way round


def test_turning_the_crop_shifts_the_polar_image_along_the_angle() -> None:
    rng = np.random.default_rng(0)
    crop = rng.normal(size=(192, 192)).astype(np.float32)
    polar = _unwrap(crop, 64, 416, 1 / 12)  # 384 samples a turn (+ 32 of overlap): a quarter turn is 96
    turned = _unwrap(np.rot90(crop), 64, 416, 1 / 12)
    shifted = [np.abs(turned[:, 100:300] - polar[:, 100 + s : 300 + s]).max() for s in (-96, 96)]
    assert min(shifted) < 1e-3  # the same samples, 90 degrees along (float rounding of the angles)
    assert np.abs(turned - polar).max() > 0.5  # and not merely an image that looks the same turned


def test_the_seam_is_overlapped_so_both_ends_show_the_same_angles() -> None:
    crop = np.random.default_rng(1).normal(size=(192, 192)).astype(np.float32)
    polar = _unwrap(crop, 64, 416, 1 / 12)
    assert np.abs(polar[:, :32] - polar[:, 384:]).max() < 1e-3  # the first 32 angles come round again at the end


def test_the_polar_network_takes_the_stations_square_crop() -> None:
    net = model_def.PolarNet(8, reach=1.0).eval()
    with torch.no_grad():
        p = net(torch.zeros(3, 1, 192, 192))
    assert p.shape == (3, 1) and bool(((p > 0) & (p < 1)).all())
    with pytest.raises(ValueError, match="multiples of 32"):
        model_def.PolarNet(8, reach=1.0, radii=80)
