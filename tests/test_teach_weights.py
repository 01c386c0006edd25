"""station/teach/weights.py: a model file back into a network that can learn, or a clear refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from station.cli import main
from station.config import SHIPPED_MODEL
from station.errors import ModelError
from station.gate import admit

from .conftest import SAMPLE

pytest.importorskip("torch", reason="station teach needs PyTorch (pip install -e '.[train]')")


def _weights_as_a_constant_node(path: Path) -> Path:
    """The shipped model with its first convolution's weights made by a Constant node: the same numbers, another graph."""
    import onnx
    from onnx import helper

    m = onnx.load(str(SHIPPED_MODEL))
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    init = next(i for i in m.graph.initializer if i.name == conv.input[1])
    m.graph.initializer.remove(init)
    m.graph.node.insert(0, helper.make_node("Constant", [], [init.name], value=init))
    out = path / "constant.onnx"
    onnx.save(m, str(out))
    return out


def test_a_base_whose_weights_are_not_stored_constants_is_refused_before_its_parts_are_collected(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from station.teach.weights import _initialisers

    base = _weights_as_a_constant_node(tmp_path)
    model = admit(base)  # it runs, and judges as the shipped model does
    crops = np.random.default_rng(0).normal(0, 1, (2, model.info.spec.size, model.info.spec.size)).astype(np.float32)
    assert np.allclose(model.score(crops), admit(SHIPPED_MODEL).score(crops), atol=1e-5)
    with pytest.raises(ModelError, match="a Conv whose weights or bias are not stored constants"):
        _initialisers(base)
    code = main(["teach", str(SAMPLE), "--base", str(base), "--out", str(tmp_path / "t.onnx"), "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "not stored constants" in err and "Traceback" not in err
    assert "parts to learn from" not in err  # refused before the line's parts were collected
