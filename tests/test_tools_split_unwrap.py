"""tools/split_unwrap.py: a whole-graph polar model becomes the graph after its unwrap, same scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from station import model as meta
from station.errors import ModelError
from station.model import Model
from station.unwrap import UnwrapSpec, polar_grid
from tools import split_unwrap  # onnx itself is imported only where a model is cut

onnx = pytest.importorskip("onnx")

SIZE, MARGIN, MASK = 64, 0.16, 1.12
UNWRAP = UnwrapSpec(32, 96, MASK / (1 + MARGIN), 1 / 16)


def _whole(path: Path, grid: np.ndarray) -> Path:
    """A graph laid out as torch exported runs 20-24: GridSample of the crop on a constant grid, expanded over the batch."""
    h = onnx.helper
    t = onnx.TensorProto
    n = h.make_node
    nodes = [
        n("Constant", [], ["g"], value=onnx.numpy_helper.from_array(grid[None], "g")),
        n("Shape", ["crop"], ["shape"]),
        n("Gather", ["shape", "zero"], ["batch"], axis=0),
        n("Concat", ["batch", "tail"], ["grid_shape"], axis=0),
        n("Expand", ["g", "grid_shape"], ["grid"]),
        n("GridSample", ["crop", "grid"], ["polar"], mode="bilinear", padding_mode="zeros", align_corners=0),
        n("ReduceMean", ["polar"], ["m"], axes=[1, 2, 3], keepdims=0),  # opset 17, as the exporter wrote
        n("Sigmoid", ["m"], ["s"]),
        n("Unsqueeze", ["s", "one"], ["defect_probability"]),
    ]
    inits = [
        h.make_tensor("zero", t.INT64, [1], [0]),
        h.make_tensor("tail", t.INT64, [3], [UNWRAP.rings, UNWRAP.angles, 2]),
        h.make_tensor("one", t.INT64, [1], [1]),
    ]
    x = h.make_tensor_value_info("crop", t.FLOAT, ["n", 1, SIZE, SIZE])
    y = h.make_tensor_value_info("defect_probability", t.FLOAT, ["n", 1])
    m = h.make_model(h.make_graph(nodes, "whole", [x], [y], inits), opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    props = {
        meta.META_VERSION: "0.0.1",
        meta.META_CLASSES: json.dumps(["ok", "defect"]),
        meta.META_INPUT: json.dumps({"size": SIZE, "margin": MARGIN, "mask_radius": MASK}),
        meta.META_NORMALISATION: meta.NORMALISATION,
        meta.META_THRESHOLD: "0.5",
        meta.META_BAND: "[0.4, 0.6]",
    }
    for k, v in props.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))
    return path


def test_the_split_model_takes_the_unwrap_and_scores_the_same(tmp_path: Path) -> None:
    whole = Model(_whole(tmp_path / "w.onnx", polar_grid(UNWRAP)))
    assert whole.info.unwrap is None  # the graph takes the square crop
    assert split_unwrap.split(tmp_path / "w.onnx", tmp_path / "s.onnx", 1 / 16) == UNWRAP
    parts = Model(tmp_path / "s.onnx")
    assert parts.info.unwrap == UNWRAP and parts.info.input_shape() == [1, 32, 96]
    crops = np.random.default_rng(6).normal(size=(3, SIZE, SIZE)).astype(np.float32) + 0.3
    np.testing.assert_allclose(parts.score(crops), whole.score(crops), atol=1e-6)
    assert {n.op_type for n in onnx.load(str(tmp_path / "s.onnx")).graph.node} == {"ReduceMean", "Sigmoid", "Unsqueeze"}


def test_a_grid_that_is_not_the_stated_geometry_is_refused(tmp_path: Path) -> None:
    _whole(tmp_path / "w.onnx", polar_grid(UNWRAP) * 0.98)  # another reach
    with pytest.raises(SystemExit, match="is not UnwrapSpec"):
        split_unwrap.split(tmp_path / "w.onnx", tmp_path / "s.onnx", 1 / 16)
    assert not (tmp_path / "s.onnx").exists()


def test_a_model_already_split_is_refused(tmp_path: Path) -> None:
    split_unwrap.split(_whole(tmp_path / "w.onnx", polar_grid(UNWRAP)), tmp_path / "s.onnx", 1 / 16)
    with pytest.raises(SystemExit, match="nothing to split"):
        split_unwrap.split(tmp_path / "s.onnx", tmp_path / "t.onnx", 1 / 16)
    with pytest.raises(ModelError):  # and the station refuses a split graph that lost its unwrap metadata
        _strip_unwrap(tmp_path / "s.onnx")


def _strip_unwrap(path: Path) -> Model:
    m = onnx.load(str(path))
    keep = [(p.key, p.value) for p in m.metadata_props if p.key != meta.META_UNWRAP]
    del m.metadata_props[:]
    for k, v in keep:
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))
    return Model(path)
