"""station/teach/weights.py: a model file back into a network that can learn, or a clear refusal."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from station.cli import main
from station.config import SHIPPED_MODEL, load_config
from station.errors import ModelError
from station.gate import admit
from station.model import META_TAUGHT
from station.teach.finetune import Recipe, plain, score

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


def test_a_taught_network_is_written_as_exactly_what_it_learnt(tmp_path: Path) -> None:
    from station.model import Model
    from station.teach.finetune import fit
    from station.teach.samples import collect
    from station.teach.weights import from_onnx, write_model

    base = Model(SHIPPED_MODEL)
    net = from_onnx(SHIPPED_MODEL, base)
    spec = replace(base.info.spec, rectify=True)
    samples = collect([SAMPLE], spec, load_config(None, [])).samples[::2]
    net = fit(net, samples, spec, Recipe(epochs=2), seed=1, desc="test")
    write_model(net, tmp_path / "t.onnx", replace(base.info, spec=spec), 0.5, (0.2, 0.5), {})
    written = Model(tmp_path / "t.onnx")
    crops = plain(samples, spec)
    assert written.info.spec == spec and written.info.band == (0.2, 0.5)
    assert np.allclose(written.score(crops), score(net, crops), atol=2e-4)  # ONNX Runtime and PyTorch round apart
    a, b = (np.clip(m.score(crops), 1e-6, 1 - 1e-6) for m in (written, base))
    assert np.abs(np.log(a / (1 - a)) - np.log(b / (1 - b))).max() > 0.05  # it did learn something (in log-odds)


def test_a_model_file_holding_the_mean_of_several_networks_is_no_base_for_more_teaching(tmp_path: Path) -> None:
    """Such a file (station teach --from-scratch wrote one until 2026-12-03) scores as its networks' mean, and is refused as a base."""
    from station.model import Model
    from station.teach.candidates import Candidate
    from station.teach.command import _write
    from station.teach.finetune import fit
    from station.teach.net import Ensemble
    from station.teach.samples import collect
    from station.teach.threshold import Outcome
    from station.teach.weights import from_onnx

    base = Model(SHIPPED_MODEL)
    spec = replace(base.info.spec, rectify=True)
    col = collect([SAMPLE], spec, load_config(None, []))
    start = from_onnx(SHIPPED_MODEL, base)
    nets = [fit(start, col.samples[k::2], spec, Recipe(epochs=1), seed=k, desc="test") for k in (0, 1)]
    labels = np.array([s.label for s in col.samples], np.int64)
    crops = plain(col.samples, spec)
    held = np.where(labels == 1, 0.9, 0.1)
    pick = Candidate("taught", spec, crops, held, Outcome(len(labels), int(labels.sum()), 0, 0), 0.5, (0.4, 0.5), col.samples)
    figures = {"line": "l", "counts": col.counts(), "held_out": pick.judged.as_dict(), "margin": 1.0,
               "gate": {"max_escape_rate": 0.0, "max_false_reject_rate": 0.03}}  # fmt: skip
    out = tmp_path / "ensemble.onnx"
    _write(out, Ensemble(nets).eval(), base, pick, figures, col, labels, seed=1)
    written = Model(out)
    assert np.allclose(written.score(crops), np.mean([score(n, crops) for n in nets], axis=0), atol=2e-4)
    import onnx

    assert json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}[META_TAUGHT])["networks"] == 2
    with pytest.raises(ModelError, match=r"mean of 2 networks.*teach again from the model it was taught from"):
        from_onnx(out, written)


@pytest.mark.parametrize("name", ["base.json", "base.txtpb", "base.onnxtxt"])
def test_a_base_model_whose_name_ends_like_a_text_format_is_read_and_relabelled_as_the_model_file_it_is(tmp_path: Path, name: str) -> None:
    """ONNX's loader picks its format by the file's suffix: a model file named base.json raised UnicodeDecodeError, a
    traceback from station teach (before 2026-12-07), where the station's gate runs the same file."""
    from station.model import Model
    from station.teach.weights import _initialisers, relabel

    base = tmp_path / name
    base.write_bytes(SHIPPED_MODEL.read_bytes())
    convs, _head = _initialisers(base)
    assert [w.shape for w, _ in convs] == [w.shape for w, _ in _initialisers(SHIPPED_MODEL)[0]]
    relabel(base, tmp_path / "set.json", 0.4, (0.3, 0.4), {})
    assert Model(tmp_path / "set.json").info.band == (0.3, 0.4)
