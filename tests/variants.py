"""Model files for tests: the shipped network with another operating point or preprocessing, and a tiny graph made from
scratch."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import helper

from station import model as meta
from station.model import META_BAND, META_INPUT, META_THRESHOLD, META_VERSION

from .conftest import MODEL

STRICT = (0.0068, (0.0065, 0.0068))  # rejects good parts the shipped model passes (0.26): disagreements on purpose


def candidate(dst: Path, threshold: float, band: tuple[float, float], rectify: bool = False, version: str = "9.9.9") -> Path:
    """The shipped network as another model: its own threshold, band, version and (optionally) ellipse rectification."""
    m = onnx.load(str(MODEL))
    for p in m.metadata_props:
        if p.key == META_THRESHOLD:
            p.value = f"{threshold:.6f}"
        elif p.key == META_BAND:
            p.value = json.dumps(list(band))
        elif p.key == META_VERSION:
            p.value = version
        elif p.key == META_INPUT:
            p.value = json.dumps({**json.loads(p.value), "rectify": rectify})
    onnx.save(m, str(dst))
    return dst


def tiny_model(path: Path, size: int = 32, props: dict[str, str] | None = None, shape: list[str | int | None] | None = None,
               numbers: int = 1) -> Path:  # fmt: skip
    """A real ONNX graph: mean of the crop through a sigmoid, with the station's metadata; ``numbers`` of it for each crop
    (one: a score)."""
    x = helper.make_tensor_value_info("crop", onnx.TensorProto.FLOAT, shape or ["n", 1, size, size])
    y = helper.make_tensor_value_info("defect_probability", onnx.TensorProto.FLOAT, ["n", numbers])
    axes = helper.make_tensor("axes", onnx.TensorProto.INT64, [3], [1, 2, 3])
    nodes = [
        helper.make_node("ReduceMean", ["crop", "axes"], ["m"], keepdims=0),
        helper.make_node("Sigmoid", ["m"], ["s"]),
        helper.make_node("Unsqueeze", ["s", "one"], ["u"]),
        helper.make_node("Concat", ["u"] * numbers, ["defect_probability"], axis=1),
    ]
    one = helper.make_tensor("one", onnx.TensorProto.INT64, [1], [1])
    g = helper.make_graph(nodes, "tiny", [x], [y], initializer=[axes, one])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    base = {
        meta.META_VERSION: "0.0.1",
        meta.META_CLASSES: json.dumps(["ok", "defect"]),
        meta.META_INPUT: json.dumps({"size": size}),
        meta.META_NORMALISATION: meta.NORMALISATION,
        meta.META_THRESHOLD: "0.5",
        meta.META_BAND: "[0.4, 0.6]",
    }
    for k, v in {**base, **(props or {})}.items():
        if v is None:
            continue
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(m, str(path))
    return path
