"""Where the network saw the defect: its own class activation, mapped back to the frame.

The station's networks end in pooling and one linear layer over the last feature map ``F`` (C x H x W,
over the polar grid, or over the crop for a square network). The polar network pools each ring
round the part (mean and max over W, keeping the H rings); a square one pools the whole map. The
defect logit is then ``b + sum wm * mean(F) + sum wx * max(F)``, each weight for one channel (and
ring). Each cell's share of that sum is its evidence: ``wm * F / (cells pooled)`` everywhere, plus
``wx * F`` where that channel (and ring) has its maximum.
The shares add up to the logit less the bias, so the cell with the largest share is the place that
drove the score. It is mapped back through the unwrap (ring, angle) and the crop (circle, margin,
ellipse) to frame pixels. Nothing is guessed: a graph whose head is not of this form has no
evidence (``find_head`` returns None) and its verdicts carry no ``where``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from station.locate import Circle, rectify
from station.onnxgraph import Graph, Node, add_float_output, read_graph
from station.preprocess import PreprocessSpec, crop_square
from station.unwrap import UnwrapSpec

FloatArray = npt.NDArray[np.float32]
_MEAN = ("ReduceMean", "GlobalAveragePool")
_MAX = ("ReduceMax", "GlobalMaxPool")
HALF = 0.5  # where: the cells holding at least this share of the most evidence


@dataclass(frozen=True, eq=False)
class Head:
    """The pooled feature map the linear layer reads, how it is pooled, and that layer's weights.

    ``pools`` names each pooling in the order the linear layer reads them (mean or max); ``whole``
    says whether they pool the whole map (H and W) or only W, keeping the rows (the polar
    network pools round the part and keeps the rings).
    """

    feature: str  # the graph's name for F (N x C x H x W)
    weights: FloatArray  # the linear layer's weights for the defect logit, flat, in the order it reads them
    pools: tuple[str, ...]  # "mean" or "max", in concatenation order
    whole: bool

    def evidence(self, feats: FloatArray) -> FloatArray:
        """N x H x W: each cell's share of the defect logit (less the bias)."""
        n, c, h, w = feats.shape
        keep, red = (1, h * w) if self.whole else (h, w)
        g = feats.reshape(n, c, keep, red)
        wts = self.weights.reshape(len(self.pools), c, keep)
        out = np.zeros((n, keep, red), np.float32)
        for k, kind in enumerate(self.pools):
            if kind == "mean":
                out += np.einsum("ncki,ck->nki", g, wts[k] / np.float32(red))
                continue
            top = g.argmax(axis=3)  # n x c x keep: where each pooled max comes from
            peak = np.take_along_axis(g, top[..., None], axis=3)[..., 0] * wts[k][None]
            for i in range(n):
                for kk in range(keep):
                    np.add.at(out[i, kk], top[i, :, kk], peak[i, :, kk])
        return out.reshape(n, h, w)


def _axes(node: Node, consts: dict[str, Any]) -> tuple[int, ...] | None:
    """The axes a pooling node reduces (attribute, or a constant second input), None when unknown."""
    if node.op_type.startswith("Global"):
        return (2, 3)
    if "axes" in node.ints:
        return tuple(node.ints["axes"])
    if len(node.inputs) > 1 and node.inputs[1] in consts:
        return tuple(int(x) for x in np.asarray(consts[node.inputs[1]]).reshape(-1))
    return None


def find_head(graph: Graph) -> Head | None:
    """The head of a graph of the form ... F -> pool(s) -> [Concat] -> [Flatten] -> Gemm -> [Sigmoid]; else None."""
    made = {o: n for n in graph.nodes for o in n.outputs}
    consts: dict[str, Any] = dict(graph.initializers)
    consts.update({n.outputs[0]: n.tensors["value"] for n in graph.nodes if n.op_type == "Constant" and "value" in n.tensors})
    node = made.get(graph.outputs[0]) if graph.outputs else None
    while node is not None and node.op_type in ("Sigmoid", "Flatten", "Reshape"):
        node = made.get(node.inputs[0])
    if node is None or node.op_type != "Gemm" or node.inputs[1] not in consts:
        return None
    trans_b = node.ints.get("transB", [0])[0]
    weights = np.asarray(consts[node.inputs[1]], np.float32)
    if weights.ndim != 2 or 1 not in weights.shape:
        return None  # one output: the defect logit
    w = (weights if trans_b else weights.T).reshape(-1)
    src = made.get(node.inputs[0])
    while src is not None and src.op_type in ("Flatten", "Reshape"):
        src = made.get(src.inputs[0])
    pools = [made.get(i) for i in src.inputs] if src is not None and src.op_type == "Concat" else [src]
    if any(p is None or p.op_type not in (*_MEAN, *_MAX) for p in pools):
        return None
    found = [(p.inputs[0], _axes(p, consts), "mean" if p.op_type in _MEAN else "max") for p in pools if p is not None]
    if len({f for f, _, _ in found}) != 1 or len({a for _, a, _ in found}) != 1 or found[0][1] not in ((3,), (2, 3)):
        return None
    return Head(found[0][0], w, tuple(k for _, _, k in found), whole=found[0][1] == (2, 3))


def with_feature_output(blob: bytes) -> tuple[bytes, Head] | None:
    """The model with its head's feature map as a second output, and the head; None when it has no such head."""
    head = find_head(read_graph(blob))
    if head is None:
        return None
    return add_float_output(blob, head.feature), head


def _centre(i: float, cells: int, samples: int) -> float:
    """Where cell ``i`` of ``cells`` lies along an input of ``samples``, as a fraction of it.

    The networks downsample with same-padded strided convolutions (station/teach/net.py), so cell i
    is centred on input sample i x stride, not on the middle of its stride.
    """
    return (i * samples / cells + 0.5) / samples


def grid_point(h: float, w: float, shape: tuple[int, int], unwrap: UnwrapSpec | None, size: int) -> tuple[float, float]:
    """A feature cell (row h, column w, fractional) in grid units: the crop spans -1..1 (x right, y down)."""
    rows, cols = shape
    if unwrap is None:  # a square network: the feature map lies over the crop (size x size)
        return _centre(w, cols, size) * 2.0 - 1.0, _centre(h, rows, size) * 2.0 - 1.0
    rho = _centre(h, rows, unwrap.rings) * unwrap.reach
    theta = _centre(w, cols, unwrap.angles) * 2.0 * math.pi * (1.0 + unwrap.overlap) - math.pi * unwrap.overlap
    return rho * math.cos(theta), rho * math.sin(theta)


def to_frame(g: tuple[float, float], circle: Circle, spec: PreprocessSpec) -> tuple[float, float]:
    """A point in grid units of the crop back in frame pixels (undoing the ellipse's stretch)."""
    half = circle.r * (1.0 + spec.margin)
    d = np.linalg.solve(rectify(circle), np.array(g, np.float64) * half)
    return float(circle.cx + d[0]), float(circle.cy + d[1])


@dataclass(frozen=True, eq=False)
class Evidence:
    """One part's evidence map (H x W cells) and the geometry that maps it back to its frame."""

    cells: FloatArray
    spec: PreprocessSpec
    unwrap: UnwrapSpec | None

    def where(self, circle: Circle) -> tuple[float, float] | None:
        """The frame point that drove the score: the centre of the cells holding at least half the most evidence; None
        where that is no point (cells so large that their sums overflow, from a broken or hostile graph).

        Averaged as points on the crop (not as ring and angle indices), so a defect that straddles
        two cells, or the seam at angle 0, lands between them.
        """
        cells = self.cells.astype(np.float64)
        if not np.all(np.isfinite(cells)):
            return None
        rows, cols = cells.shape
        weight = np.clip(cells - HALF * float(cells.max()), 0.0, None)
        gx = gy = 0.0
        for h, w in zip(*np.nonzero(weight), strict=True):
            px, py = grid_point(float(h), float(w), (rows, cols), self.unwrap, self.spec.size)
            gx, gy = gx + weight[h, w] * px, gy + weight[h, w] * py
        total = float(weight.sum())
        if total <= 0.0:  # no cell stands out (all equal): the most evidence is everywhere
            gx, gy, total = 0.0, 0.0, 1.0
        x, y = to_frame((gx / total, gy / total), circle, self.spec)
        return (round(x, 1), round(y, 1)) if math.isfinite(x) and math.isfinite(y) else None

    def picture(self, gray: npt.NDArray[np.uint8], circle: Circle) -> npt.NDArray[np.uint8]:
        """The part as the model saw it (its crop of ``gray``), in colour, with the evidence over it (red: most)."""
        import cv2

        crop = crop_square(gray, circle, self.spec)
        warm = heat(self.cells, crop.shape[0], self.unwrap)
        colour = cv2.applyColorMap((warm * 255).astype(np.uint8), cv2.COLORMAP_JET)
        base = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        alpha = (0.55 * warm)[:, :, None]
        return np.asarray(base * (1.0 - alpha) + colour * alpha, np.float32).clip(0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _cells(side: int, shape: tuple[int, int], unwrap: UnwrapSpec | None) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """For each pixel of a side x side square in grid units, its feature cell (flat index) and whether one covers it."""
    rows, cols = shape
    g = (np.arange(side, dtype=np.float64) + 0.5) / side * 2.0 - 1.0
    gx, gy = np.meshgrid(g, g)
    if unwrap is None:  # each pixel to the cell whose centre (_centre) is nearest
        r = np.clip(np.rint((gy + 1.0) / 2.0 * rows - 0.5 * rows / side), 0, rows - 1).astype(np.intp)
        c = np.clip(np.rint((gx + 1.0) / 2.0 * cols - 0.5 * cols / side), 0, cols - 1).astype(np.intp)
        return r * cols + c, np.ones_like(gx, dtype=bool)
    rho = np.hypot(gx, gy) / unwrap.reach
    turn = 2.0 * math.pi * (1.0 + unwrap.overlap)
    theta = np.mod(np.arctan2(gy, gx) + math.pi * unwrap.overlap, 2.0 * math.pi)
    r = np.clip(np.rint(rho * rows), 0, rows - 1).astype(np.intp)
    c = np.mod(np.rint(theta / turn * cols), cols).astype(np.intp)
    return r * cols + c, rho <= 1.0


def heat(ev: FloatArray, side: int, unwrap: UnwrapSpec | None) -> FloatArray:
    """The evidence painted over a side x side square in grid units (0 outside the sampled disc), scaled to [0, 1]."""
    index, covered = _cells(side, (ev.shape[0], ev.shape[1]), unwrap)
    top = float(ev.max())
    scaled = np.clip(ev / top, 0.0, 1.0) if top > 0 else np.zeros_like(ev)
    return np.where(covered, scaled.reshape(-1)[index], 0.0).astype(np.float32)
