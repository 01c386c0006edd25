"""station/teach/net.py: the networks, their unwrap and their export (training-only code; needs PyTorch, the train extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="station.teach.net needs PyTorch (pip install -e '.[train]')")
from station.preprocess import PreprocessSpec  # noqa: E402
from station.teach import net as model_def  # noqa: E402
from station.unwrap import PolarUnwrap, polar_grid  # noqa: E402


def test_the_polar_network_takes_the_stations_square_crop() -> None:
    net = model_def.PolarNet(8, reach=1.0).eval()
    with torch.no_grad():
        p = net(torch.zeros(3, 1, 192, 192))
    assert p.shape == (3, 1) and bool(((p > 0) & (p < 1)).all())
    with pytest.raises(ValueError, match="multiples of 32"):
        model_def.PolarNet(8, reach=1.0, radii=80)


def test_the_training_grid_is_the_stations_to_the_last_bit_of_float32() -> None:
    spec = model_def.PolarNet(8, reach=1.12 / 1.16).unwrap
    assert np.abs(model_def._polar_grid(spec).numpy()[0] - polar_grid(spec)).max() <= 6e-8


def test_training_unwraps_as_the_station_does() -> None:
    """Train/serve parity: torch's grid_sample on the network's grid, against the station's numpy table."""
    net = model_def.build("polar", 8, PreprocessSpec(size=192, margin=0.16, mask_radius=1.12))
    crops = np.random.default_rng(3).normal(size=(2, 192, 192)).astype(np.float32)
    with torch.no_grad():
        trained = net.unwrapped(torch.from_numpy(crops)[:, None]).numpy()
    assert np.abs(PolarUnwrap(net.unwrap, 192)(crops) - trained).max() < 2e-4  # noise crops: the steepest case for 6e-8


def test_a_polar_network_exports_the_graph_after_its_unwrap(tmp_path: Path) -> None:
    import onnxruntime as ort

    net = model_def.PolarNet(8, reach=0.9).eval()
    unwrap = model_def.export(net, tmp_path / "p.onnx", 192)
    assert unwrap is not None and unwrap == net.unwrap
    sess = ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    assert inp.name == "polar" and inp.shape == ["n", 1, 96, 416]
    crops = np.random.default_rng(4).normal(size=(3, 192, 192)).astype(np.float32)
    served = sess.run(None, {"polar": PolarUnwrap(unwrap, 192)(crops)})[0]
    with torch.no_grad():
        trained = net(torch.from_numpy(crops)[:, None]).numpy()
    assert not net.training  # exporting leaves the network as it was
    assert np.abs(served - trained).max() < 1e-5  # the station's unwrap + the graph = the trained network


def test_a_square_network_exports_the_crop_as_its_input(tmp_path: Path) -> None:
    import onnxruntime as ort

    assert model_def.export(model_def.DefectNet(8).eval(), tmp_path / "s.onnx", 192) is None
    inp = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"]).get_inputs()[0]
    assert inp.name == "crop" and inp.shape == ["n", 1, 192, 192]


def test_the_wrapped_polar_network_has_no_seam() -> None:
    """polar-wrap: one turn, convolutions padded round the circle; turning the part by a multiple of
    the network's stride (32 angles) changes nothing at all, and it exports like the polar network."""
    net = model_def.build("polar-wrap", 8, PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)).eval()
    assert net.unwrap.angles == 384 and net.unwrap.overlap == 0.0
    polar = torch.from_numpy(np.random.default_rng(7).normal(size=(2, 1, 96, 384)).astype(np.float32))
    with torch.no_grad():
        p, turned = net.on_polar(polar), net.on_polar(torch.roll(polar, 32, dims=3))
    assert torch.equal(p, turned)
    with pytest.raises(ValueError, match="no overlap"):
        model_def.PolarNet(8, reach=0.9, angles=384, wrap=True)


def test_the_wrapped_network_exports_to_the_same_scores(tmp_path: Path) -> None:
    import onnxruntime as ort

    net = model_def.build("polar-wrap", 8, PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)).eval()
    unwrap = model_def.export(net, tmp_path / "w.onnx", 192)
    assert unwrap is not None and unwrap.angles == 384
    crops = np.random.default_rng(8).normal(size=(2, 192, 192)).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "w.onnx"), providers=["CPUExecutionProvider"])
    served = sess.run(None, {"polar": PolarUnwrap(unwrap, 192)(crops)})[0]
    with torch.no_grad():
        trained = net(torch.from_numpy(crops)[:, None]).numpy()
    assert np.abs(served - trained).max() < 1e-5


def test_an_ensemble_exports_the_mean_of_its_members(tmp_path: Path) -> None:
    import onnxruntime as ort

    spec = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)
    members = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        members.append(model_def.build("polar-wrap", 8, spec).eval())
    ensemble = model_def.Ensemble(members).eval()
    unwrap = model_def.export(ensemble, tmp_path / "e.onnx", 192)
    assert unwrap is not None and unwrap == members[0].unwrap
    crops = np.random.default_rng(9).normal(size=(3, 192, 192)).astype(np.float32)
    served = ort.InferenceSession(str(tmp_path / "e.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"polar": PolarUnwrap(unwrap, 192)(crops)}
    )[0]
    with torch.no_grad():
        each = [m(torch.from_numpy(crops)[:, None]).numpy() for m in members]
    assert np.abs(served - np.mean(each, axis=0)).max() < 1e-5
    assert np.abs(each[0] - each[1]).max() > 1e-3  # the members differ: the mean is not any one of them
