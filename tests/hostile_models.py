"""Hostile variants of the shipped model: valid ONNX files with valid metadata whose scores lie.

Each wraps the shipped graph's output ``defect_probability`` (p) in a few more nodes:
- ``inverted``: 1 - p (every defect looks good);
- ``nan_above``: NaN where p > 0.5, else p (every defect scores NaN);
- ``inf_above``: +inf where p > 0.5, else p;
- ``slow``: p, after ``layers`` matrix products on the input that add nothing (a model far slower than the shipped one);
- ``two_above``: [[0.001, p]] where p > 0.5, else [[p]] (an output whose shape changes with the input: a first number low);
- ``loops_above``: p, after a loop of two billion turns where p > 0.5 (a model that never finishes on defects);
- ``loops_on_bright``: the same on crops brighter than any the gate's self-test scores (a model that passes the gate);
- ``fails_on_blank``: p on any crop but an all-zero one (what the station warms a model up with), where it cannot run;
- ``rounded``: round(p), 0 or 1 (a hard decision: a defect in the uncertain band passes);
- ``as_integers``: round(p) as int64 or bool, the output's declared type (``elem``) too.
They load, describe themselves and have the right input shape, so only the model gate's
self-test (and the decision's finite-score rule) stand between them and the line.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

from .conftest import MODEL, SAMPLE

OUT = "defect_probability"


def _wrap(dst: Path, nodes: list[onnx.NodeProto], consts: dict[str, float | np.ndarray]) -> Path:
    """The shipped graph with ``nodes`` after it; ``consts``: numbers (float32) or arrays (kept as they are)."""
    m = onnx.load(str(MODEL))
    for n in m.graph.node:  # the shipped output becomes an inner value: p
        n.output[:] = ["p" if o == OUT else o for o in n.output]
    for name, value in consts.items():
        m.graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32) if isinstance(value, float) else value, name))
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return dst


def inverted(dst: Path) -> Path:
    return _wrap(dst, [helper.make_node("Sub", ["one", "p"], [OUT])], {"one": 1.0})


def rounded(dst: Path) -> Path:
    return _wrap(dst, [helper.make_node("Round", ["p"], [OUT])], {})


def as_integers(dst: Path, elem: int = onnx.TensorProto.INT64) -> Path:
    _wrap(dst, [helper.make_node("Round", ["p"], ["r"]), helper.make_node("Cast", ["r"], [OUT], to=elem)], {})
    m = onnx.load(str(dst))
    m.graph.output[0].type.tensor_type.elem_type = elem
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return dst


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


def two_above(dst: Path) -> Path:
    """[[p]] for a crop whose p is at most 0.5 (a good part: what a self-test sees), [[0.001, p]] above: (1, 2 - low)."""
    nodes = [
        helper.make_node("Concat", ["tiny", "p"], ["both"], axis=1),
        helper.make_node("LessOrEqual", ["p", "half"], ["low"]),
        helper.make_node("Cast", ["low"], ["low_i"], to=onnx.TensorProto.INT64),
        helper.make_node("Reshape", ["low_i", "axis0"], ["start"]),
        helper.make_node("Slice", ["both", "start", "end", "axis1"], [OUT]),
    ]
    ints = {"axis0": np.array([1], np.int64), "axis1": np.array([1], np.int64), "end": np.array([2], np.int64)}
    m = _wrap(dst, nodes, {"half": 0.5, "tiny": np.array([[0.001]], np.float32), **ints})
    model = onnx.load(str(m))
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "k"  # its second dimension: 1 or 2
    onnx.save(model, str(m))
    return m


def loops_above(dst: Path, above: float = 0.5) -> Path:
    """p, after a Loop of 2e9 turns where p > ``above``, of none elsewhere: a run that never ends on defects (on every
    crop with ``above`` -1)."""
    high = [helper.make_node("ReduceMax", ["p"], ["most"], keepdims=0), helper.make_node("Greater", ["most", "above"], ["high"])]
    return _loops(dst, high, {"above": above})


def loops_on_bright(dst: Path) -> Path:
    """p, after a Loop of 2e9 turns on a crop whose mean input is over -0.15 and not 0: none of the gate's self-test crops
    (-0.74 to -0.20) nor its blank crop (0), a bundled defect with a white disc painted on it (:func:`bright_parts`)."""
    high = [
        helper.make_node("ReduceMean", ["polar"], ["mean"], keepdims=0),
        helper.make_node("Greater", ["mean", "dim"], ["lit"]),
        helper.make_node("Abs", ["mean"], ["size"]),
        helper.make_node("Greater", ["size", "eps"], ["not_blank"]),
        helper.make_node("And", ["lit", "not_blank"], ["high"]),
    ]
    return _loops(dst, high, {"dim": -0.15, "eps": 1e-4})


def bright_parts(folder: Path, n: int = 3) -> Path:
    """``folder`` with the first ``n`` bundled defects, each with a white disc of radius 70 painted on its centre: parts
    the station still inspects, whose crops :func:`loops_on_bright` loops on."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in sorted((SAMPLE / "def_front").iterdir())[:n]:
        image = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        assert image is not None
        cv2.circle(image, (image.shape[1] // 2, image.shape[0] // 2), 70, 255, -1)
        cv2.imwrite(str(folder / f"{p.stem}.png"), image)
    return folder


def _loops(dst: Path, high: list[onnx.NodeProto], consts: dict[str, float]) -> Path:
    """p, after a Loop of 2e9 turns (each a product of a 4 x 4 matrix) where the nodes ``high`` say so, of none elsewhere."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["go"], ["go_on"]), helper.make_node("MatMul", ["h", "w"], ["h_next"])],
        "turn",
        [helper.make_tensor_value_info("i", onnx.TensorProto.INT64, []), helper.make_tensor_value_info("go", onnx.TensorProto.BOOL, []),
         helper.make_tensor_value_info("h", onnx.TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("go_on", onnx.TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_next", onnx.TensorProto.FLOAT, [4, 4])],
    )  # fmt: skip
    nodes = [
        *high,
        helper.make_node("Where", ["high", "turns", "none"], ["n"]),
        helper.make_node("Loop", ["n", "yes", "w"], ["h_end"], body=body),
        helper.make_node("ReduceMean", ["h_end"], ["h_mean"], keepdims=0),
        helper.make_node("Mul", ["h_mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["p", "nothing"], [OUT]),
    ]
    more: dict[str, float | np.ndarray] = {"zero": 0.0, "w": np.eye(4, dtype=np.float32), "yes": np.array(True),
            "turns": np.array(2_000_000_000, np.int64), "none": np.array(0, np.int64)}  # fmt: skip
    return _wrap(dst, nodes, {**consts, **more})


def slow(dst: Path, layers: int) -> Path:
    """p + 0 x (``layers`` times a 384 x 384 product of the polar crop's rows, each squashed by tanh): the same scores, slowly."""
    nodes = [helper.make_node("Reshape", ["polar", "rows"], ["h0"])]
    for k in range(layers):
        nodes += [helper.make_node("MatMul", [f"h{k}", "w"], [f"m{k}"]), helper.make_node("Tanh", [f"m{k}"], [f"h{k + 1}"])]
    nodes += [
        helper.make_node("ReduceMean", [f"h{layers}"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["p", "nothing"], [OUT]),
    ]
    w = (np.random.default_rng(0).standard_normal((384, 384)) / 20).astype(np.float32)
    return _wrap(dst, nodes, {"zero": 0.0, "rows": np.array([-1, 384], np.int64), "w": w})


def fails_on_blank(dst: Path) -> Path:
    """p reshaped to (-1, 2 - any), any: whether the input holds a pixel that is not 0; one score fits (-1, 1) alone."""
    nodes = [
        helper.make_node("Abs", ["polar"], ["size"]),
        helper.make_node("ReduceMax", ["size"], ["most"], keepdims=0),
        helper.make_node("Greater", ["most", "zero"], ["any"]),
        helper.make_node("Cast", ["any"], ["any_i"], to=onnx.TensorProto.INT64),
        helper.make_node("Sub", ["two", "any_i"], ["width"]),
        helper.make_node("Unsqueeze", ["width", "axis0"], ["width_1"]),
        helper.make_node("Concat", ["rows", "width_1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["p", "shape"], [OUT]),
    ]
    ints = {"two": np.array(2, np.int64), "axis0": np.array([0], np.int64), "rows": np.array([-1], np.int64)}
    return _wrap(dst, nodes, {"zero": 0.0, **ints})
