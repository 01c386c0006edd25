"""Hostile variants of the shipped model: valid ONNX files with valid metadata whose scores lie.

Each wraps the shipped graph's output ``defect_probability`` (p) in a few more nodes:
- ``inverted``: 1 - p (every defect looks good);
- ``nan_above``: NaN where p > 0.5, else p (every defect scores NaN);
- ``inf_above``: +inf where p > 0.5, else p.
They load, describe themselves and have the right input shape, so only the model gate's
self-test (and the decision's finite-score rule) stand between them and the line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .conftest import MODEL

OUT = "defect_probability"


def _wrap(dst: Path, nodes: list[onnx.NodeProto], consts: dict[str, float]) -> Path:
    m = onnx.load(str(MODEL))
    for n in m.graph.node:  # the shipped output becomes an inner value: p
        n.output[:] = ["p" if o == OUT else o for o in n.output]
    for name, value in consts.items():
        m.graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return dst


def inverted(dst: Path) -> Path:
    return _wrap(dst, [helper.make_node("Sub", ["one", "p"], [OUT])], {"one": 1.0})


def _above(dst: Path, value: float) -> Path:
    nodes = [
        helper.make_node("Greater", ["p", "half"], ["high"]),
        helper.make_node("Where", ["high", "bad", "p"], [OUT]),
    ]
    return _wrap(dst, nodes, {"half": 0.5, "bad": value})


def nan_above(dst: Path) -> Path:
    return _above(dst, float("nan"))


def inf_above(dst: Path) -> Path:
    return _above(dst, float("inf"))
