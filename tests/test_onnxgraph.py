"""Reading an ONNX graph from its protobuf without the onnx package, checked against the onnx package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from station.onnxgraph import add_float_output, read_graph

from .conftest import MODEL
from .hostile_models import inverted


def test_the_graph_reads_as_the_onnx_package_reads_it() -> None:
    ref = onnx.load(str(MODEL)).graph
    g = read_graph(MODEL.read_bytes())
    assert [n.op_type for n in g.nodes] == [n.op_type for n in ref.node]
    assert [n.inputs for n in g.nodes] == [list(n.input) for n in ref.node]
    assert g.outputs == [o.name for o in ref.output]
    for t in ref.initializer:
        assert np.array_equal(g.initializers[t.name], numpy_helper.to_array(t)), t.name
    gemm = next(n for n in g.nodes if n.op_type == "Gemm")
    assert gemm.ints["transB"] == [1]


def test_an_added_output_is_the_only_change(tmp_path: Path) -> None:
    import onnxruntime as ort

    blob = MODEL.read_bytes()
    g = read_graph(blob)
    name = next(n for n in g.nodes if n.op_type == "ReduceMean").inputs[0]
    out = add_float_output(blob, name)
    m = onnx.load_from_string(out)
    assert [o.name for o in m.graph.output] == [*g.outputs, name]
    m.graph.output.pop()
    assert m.SerializeToString() == onnx.load_from_string(blob).SerializeToString(), "nothing else moved"
    sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(2, *sess.get_inputs()[0].shape[1:])).astype(np.float32)
    plain = ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, {sess.get_inputs()[0].name: x})[0]
    prob, feats = sess.run(None, {sess.get_inputs()[0].name: x})
    assert np.array_equal(prob, plain) and feats.ndim == 4


def test_a_graph_without_the_head_reads_and_has_none(tmp_path: Path) -> None:
    from station.evidence import find_head

    g = read_graph(inverted(tmp_path / "inv.onnx").read_bytes())
    assert g.nodes and find_head(g) is None
