"""The polar unwrap: a part's crop resampled as rings (radius) x angles around its centre.

The polar network (``station/teach/net.py``, ``PolarNet``) judges the part unwrapped around its
centre. It trains on this grid through torch's ``grid_sample`` (its float32 cos and sin may
differ from numpy's in the last bit); the station resamples the crop here, in numpy, before ONNX
Runtime, with the same sampling (bilinear, zero outside the crop, pixel centres at half-pixel
offsets: ``align_corners=False``). The model file
carries the geometry in its metadata (``station.unwrap``) and takes the unwrapped image as its
input, so the unwrap is a fixed table of four taps per sample instead of a graph operation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
MAX_SAMPLES = 1 << 20  # rings x angles: the shipped network's 96 x 384 is 36,864; a table of this many takes about 50 MB


@dataclass(frozen=True)
class UnwrapSpec:
    """Where the rings and angles lie on the crop; read from the model file's metadata."""

    rings: int  # samples along the radius, from the centre outwards
    angles: int  # samples round the part
    reach: float  # the outermost ring's radius, in half-sides of the crop (grid_sample's units)
    overlap: float  # share of a turn sampled twice, half before 0 and half after 360 degrees

    def __post_init__(self) -> None:
        if self.rings < 1 or self.angles < 1:
            raise ValueError(f"rings {self.rings} and angles {self.angles} must be positive")
        if self.rings * self.angles > MAX_SAMPLES:  # its table is 64 bytes a sample: 1e6 x 1e6 asked 3.6 TiB, a traceback
            raise ValueError(f"rings {self.rings} x angles {self.angles} is more than the {MAX_SAMPLES} samples an unwrap may take")
        if not 0.0 < self.reach <= 1.0:
            raise ValueError(f"reach {self.reach} must lie in (0, 1]: the crop's half side is 1")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap {self.overlap} must lie in [0, 1)")


def polar_grid(spec: UnwrapSpec) -> FloatArray:
    """Sample points (rings x angles x 2: x, y) in grid_sample's units: the crop spans -1..1.

    Float32 throughout, operation for operation as the network's training grid
    (``station/teach/net.py``), so that the station and training sample the same points.
    """
    rho = (np.arange(spec.rings, dtype=np.float32) + np.float32(0.5)) / np.float32(spec.rings) * np.float32(spec.reach)
    turn = np.float32(2.0 * math.pi * (1.0 + spec.overlap))
    steps = (np.arange(spec.angles, dtype=np.float32) + np.float32(0.5)) / np.float32(spec.angles)
    theta = steps * turn - np.float32(math.pi * spec.overlap)
    x = rho[:, None] * np.cos(theta)[None, :]
    y = rho[:, None] * np.sin(theta)[None, :]
    return np.stack([x, y], axis=-1).astype(np.float32, copy=False)


class PolarUnwrap:
    """Resamples N x S x S crops to N x 1 x rings x angles, as the polar network expects."""

    def __init__(self, spec: UnwrapSpec, size: int) -> None:
        self.spec = spec
        self.size = size
        grid = polar_grid(spec).reshape(-1, 2)
        # grid_sample, align_corners=False: -1 and 1 are the outer edges of the first and last pixel
        px = ((grid[:, 0] + np.float32(1.0)) * np.float32(size) - np.float32(1.0)) / np.float32(2.0)
        py = ((grid[:, 1] + np.float32(1.0)) * np.float32(size) - np.float32(1.0)) / np.float32(2.0)
        x0, y0 = np.floor(px), np.floor(py)
        fx, fy = px - x0, py - y0
        taps = ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy))
        self._index: list[npt.NDArray[np.intp]] = []
        self._weight: list[FloatArray] = []
        for dy, dx, w in taps:
            xs, ys = x0 + dx, y0 + dy
            inside = (xs >= 0) & (xs < size) & (ys >= 0) & (ys < size)  # outside the crop counts as zero
            self._index.append(np.where(inside, ys * size + xs, 0).astype(np.intp))
            self._weight.append(np.where(inside, w, 0).astype(np.float32))

    def __call__(self, crops: FloatArray) -> FloatArray:
        n, h, w = crops.shape
        if h != self.size or w != self.size:
            raise ValueError(f"crops are {h} x {w}; the unwrap is laid out for {self.size} x {self.size}")
        flat = np.ascontiguousarray(crops, dtype=np.float32).reshape(n, -1)
        out = np.take(flat, self._index[0], axis=1) * self._weight[0]
        for index, weight in zip(self._index[1:], self._weight[1:], strict=True):
            out += np.take(flat, index, axis=1) * weight
        return out.reshape(n, 1, self.spec.rings, self.spec.angles)
