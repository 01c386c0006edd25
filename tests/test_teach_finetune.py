"""Teaching's crops: the station's own, turned and lit, and good parts painted with pits as defects."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from station.config import SHIPPED_MODEL, load_config
from station.model import Model
from station.preprocess import PreprocessSpec, locate_part
from station.stills import read_image
from station.teach.finetune import augmented
from station.teach.parts import Sample

from .conftest import MODEL, SAMPLE


def _good_samples(n: int) -> list[Sample]:
    out = []
    for path in sorted((SAMPLE / "ok_front").iterdir())[:n]:
        image = read_image(path).image
        assert image is not None
        circle = locate_part(image)
        assert circle is not None
        out.append(Sample(image, circle, 0, str(path)))
    return out


def test_good_parts_painted_with_pits_are_defects_the_shipped_network_sees() -> None:
    """The painted variants survive the station's crop: the network that learnt pits scores them far higher."""
    model, spec = Model(MODEL), Model(MODEL).info.spec
    samples = _good_samples(12)
    plain = np.stack([augmented(s, np.random.default_rng(i), spec) for i, s in enumerate(samples)])
    painted = np.stack([augmented(s, np.random.default_rng(i), spec, pits=True) for i, s in enumerate(samples)])
    before, after = model.score(plain), model.score(painted)
    assert np.median(before) < model.info.band[0]  # the good parts pass as they are
    assert np.sum(after > before) >= 10 and np.median(after) > 10 * np.median(before)


def test_an_augmented_crop_is_deterministic_for_a_seed() -> None:
    s, spec = _good_samples(1)[0], Model(MODEL).info.spec
    for pits in (False, True):
        a = augmented(s, np.random.default_rng(7), spec, pits)
        b = augmented(s, np.random.default_rng(7), spec, pits)
        assert np.array_equal(a, b)


def test_batch_norm_statistics_stay_the_base_models_unless_the_recipe_lets_them_learn() -> None:
    """A few hundred parts cannot re-estimate them (measured: learnt, they multiplied a tilted line's false rejects)."""
    torch = pytest.importorskip("torch", reason="fine-tuning needs PyTorch (pip install -e '.[train]')")
    from station.teach.finetune import Recipe, fit
    from station.teach.weights import from_onnx

    base = Model(MODEL)
    start = from_onnx(MODEL, base)
    samples = _good_samples(8) + [replace(s, label=1) for s in _good_samples(16)[8:]]

    def norms(net: Any) -> list[Any]:
        return [m.running_mean.clone() for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]

    kept = fit(start, samples, base.info.spec, Recipe(epochs=1, batch=8), 3, "kept")
    learnt = fit(start, samples, base.info.spec, Recipe(epochs=1, batch=8, learn_norms=True), 3, "learnt")
    assert norms(start) and all(torch.equal(a, b) for a, b in zip(norms(start), norms(kept), strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(norms(start), norms(learnt), strict=True))


def test_rehearsal_adds_base_line_parts_half_of_each_class_to_every_batch() -> None:
    from station.teach.finetune import Recipe, _Batches

    spec = Model(MODEL).info.spec
    line = _good_samples(4) + [replace(s, label=1) for s in _good_samples(8)[4:]]
    old = [replace(s, label=1, origin=f"old{i}") for i, s in enumerate(_good_samples(3))] + [replace(_good_samples(1)[0], origin="old-ok")]
    batches = list(_Batches(line, old, spec, Recipe(batch=4, rehearse=4), np.random.default_rng(0)).epoch())
    assert len(batches) == 2
    for x, y, w in batches:
        assert x.shape[0] == y.shape[0] == w.shape[0] == 8
        assert list(y[4:]) == [0.0, 1.0, 0.0, 1.0] and list(w[4:]) == [1.0] * 4
    for lacking in (old[:3], []):  # one class only, or none given: refused, never the plain recipe in disguise
        with pytest.raises(ValueError, match="both classes"):
            _Batches(line, lacking, spec, Recipe(batch=4, rehearse=4), np.random.default_rng(0))


def test_the_recipes_jitter_moves_the_crops_the_network_learns_from() -> None:
    from station.teach.finetune import Recipe, _Batches

    spec = Model(MODEL).info.spec
    line = _good_samples(2) + [replace(s, label=1) for s in _good_samples(4)[2:]]

    def first_batch(jitter: float) -> np.ndarray:
        return next(_Batches(line, (), spec, Recipe(batch=4, jitter=jitter), np.random.default_rng(5)).epoch())[0]

    assert np.array_equal(first_batch(0.0), first_batch(0.0))
    assert not np.allclose(first_batch(0.0), first_batch(0.1), atol=0.05)  # same turns and light, the crop circle moved


def test_a_squash_flattens_the_part_and_none_draws_nothing_more() -> None:
    """Recipe.squash (measured and dropped: docs/teaching-measured.md) shows each part flattened along a random axis."""
    s, spec = _good_samples(1)[0], Model(MODEL).info.spec
    plain, rng = augmented(s, np.random.default_rng(3), spec, jitter=0.0), np.random.default_rng(3)
    assert np.array_equal(plain, augmented(s, rng, spec, jitter=0.0, squash=0.0))  # the default: the variants as they were
    flat = augmented(s, np.random.default_rng(3), spec, jitter=0.0, squash=0.3)
    assert flat.shape == plain.shape and not np.allclose(flat, plain, atol=0.05)


def test_without_rehearsal_the_batches_are_those_of_the_recipe_before_it() -> None:
    """Recipe.rehearse 0 draws nothing more from the generator: the default recipe trains as it did."""
    from station.teach.finetune import Recipe, _Batches

    spec = Model(MODEL).info.spec
    line = _good_samples(4) + [replace(s, label=1) for s in _good_samples(8)[4:]]
    old = _good_samples(2) + [replace(s, label=1) for s in _good_samples(4)[2:]]
    given = list(_Batches(line, old, spec, Recipe(batch=4, pits=0.5), np.random.default_rng(0)).epoch())
    none = list(_Batches(line, [], spec, Recipe(batch=4, pits=0.5), np.random.default_rng(0)).epoch())
    assert len(given) == len(none) == 2
    for a, b in zip(given, none, strict=True):
        assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_the_anchor_keeps_the_weights_near_the_base() -> None:
    pytest.importorskip("torch", reason="fine-tuning needs PyTorch (pip install -e '.[train]')")
    from station.teach.finetune import Recipe, fit
    from station.teach.weights import from_onnx

    base = Model(MODEL)
    start = from_onnx(MODEL, base)
    samples = _good_samples(8) + [replace(s, label=1) for s in _good_samples(16)[8:]]

    def moved(net: Any) -> float:
        before = dict(start.named_parameters())
        return sum(float(((p - before[n]) ** 2).sum().detach()) for n, p in net.named_parameters())

    free = fit(start, samples, base.info.spec, Recipe(epochs=4, batch=8, lr=1e-2, anchor=0.0), 3, "free")
    held = fit(start, samples, base.info.spec, Recipe(epochs=4, batch=8, lr=1e-2, anchor=100.0), 3, "held")
    assert 0.0 < moved(held) < 0.5 * moved(free)


def test_a_network_that_diverges_scores_no_part_and_never_raises(capsys: pytest.CaptureFixture[str]) -> None:
    """Its outputs no numbers (a rate far too high): before, PyTorch's loss raised, and teaching ended in a traceback."""
    torch = pytest.importorskip("torch", reason="fine-tuning needs PyTorch (pip install -e '.[train]')")
    from station.teach.finetune import Recipe, fit, plain, score
    from station.teach.weights import from_onnx

    base = Model(MODEL)
    start = from_onnx(MODEL, base)
    with torch.no_grad():
        next(iter(start.parameters())).fill_(float("inf"))  # as a step too large leaves it
    samples = _good_samples(4) + [replace(s, label=1) for s in _good_samples(8)[4:]]
    net = fit(start, samples, base.info.spec, Recipe(epochs=2, batch=4), 3, "fold 1")
    assert np.isnan(score(net, plain(samples, base.info.spec))).all()
    assert "station teach: fold 1: the network diverged (its outputs were no numbers): its parts get none" in capsys.readouterr().err


def test_a_network_taught_from_scratch_cannot_be_anchored() -> None:
    pytest.importorskip("torch", reason="fine-tuning needs PyTorch (pip install -e '.[train]')")
    from station.teach.finetune import Recipe, fit
    from station.teach.weights import from_onnx

    base = Model(MODEL)
    with pytest.raises(ValueError, match="anchor must be 0"):
        fit(from_onnx(MODEL, base), _good_samples(2), base.info.spec, Recipe(epochs=1, batch=2), 3, "fresh", fresh=True)


def test_with_a_layer_decay_the_first_layers_learn_slowest_and_the_head_at_the_full_rate() -> None:
    pytest.importorskip("torch", reason="fine-tuning needs PyTorch (pip install -e '.[train]')")
    from station.teach.finetune import Recipe, _by_depth
    from station.teach.weights import from_onnx

    net = from_onnx(MODEL, Model(MODEL))
    groups = _by_depth(net, Recipe(lr=1e-3, layer_decay=0.5))
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(net.named_parameters())
    assert len(rate) == len(named)  # every parameter learns, once
    blocks = sorted({int(n.split(".")[1]) for n in named if n.startswith("features.")})
    assert [rate[id(named[f"features.{i}.1.weight"])] for i in blocks] == [1e-3 * 0.5 ** (len(blocks) - i) for i in blocks]
    assert rate[id(named["head.1.weight"])] == 1e-3


def test_the_soup_is_one_network_with_the_mean_of_the_networks_weights() -> None:
    import torch

    from station.teach.finetune import soup
    from station.teach.net import build

    spec = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)
    nets = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        nets.append(build("polar-wrap", 8, spec))
    mean = soup(nets)
    assert not mean.training and type(mean) is type(nets[0])
    for (name, p), a, b in zip(mean.state_dict().items(), nets[0].state_dict().values(), nets[1].state_dict().values(), strict=True):
        if p.is_floating_point():
            assert torch.allclose(p, (a + b) / 2), name
    assert not torch.equal(nets[0].state_dict()["head.1.weight"], nets[1].state_dict()["head.1.weight"])  # the mean is neither
    quarter = soup(nets, (0.75, 0.25)).state_dict()  # a quarter of the way from the first to the second
    for wrong in ((0.5,), (0.5, 0.6)):
        with pytest.raises(ValueError, match="one each, summing to 1"):
            soup(nets, wrong)
    for name, a in nets[0].state_dict().items():
        if a.is_floating_point():
            assert torch.allclose(quarter[name], 0.75 * a + 0.25 * nets[1].state_dict()[name], atol=1e-6), name


def test_the_recipes_defect_weight_is_a_defective_parts_loss_weight_against_a_good_parts() -> None:
    from station.teach.finetune import Recipe, _Batches

    spec = Model(MODEL).info.spec
    line = _good_samples(2) + [replace(s, label=1) for s in _good_samples(4)[2:]]  # balanced: a good part weighs 1
    for weight in (1.5, 3.0):
        _, y, w = next(_Batches(line, (), spec, Recipe(batch=4, defect_weight=weight), np.random.default_rng(0)).epoch())
        assert list(w[y == 1]) == [weight] * 2 and list(w[y == 0]) == [1.0] * 2


def test_a_focused_loss_weighs_a_part_already_learnt_less_and_without_focus_is_the_plain_one() -> None:
    import torch

    from station.teach.finetune import _loss

    p, y, w = torch.tensor([[0.9], [0.4]]), torch.tensor([[1.0], [1.0]]), torch.tensor([[1.0], [2.0]])
    plain = torch.nn.functional.binary_cross_entropy(p, y, weight=w)
    assert torch.allclose(_loss(p, y, w, 0.0), plain)
    one = [(p[i : i + 1], y[i : i + 1], w[i : i + 1]) for i in (0, 1)]
    learnt, missed = (_loss(*part, 2.0) / _loss(*part, 0.0) for part in one)
    assert torch.isclose(learnt, torch.tensor(0.1**2)) and torch.isclose(missed, torch.tensor(0.6**2))  # (1 - p_true) ** focus
    assert torch.isclose(_loss(torch.tensor([[0.1]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), 2.0),
                         _loss(torch.tensor([[0.9]]), torch.tensor([[1.0]]), torch.tensor([[1.0]]), 2.0))  # fmt: skip


def test_fewer_parts_than_a_batch_are_one_batch_of_them_all_each_epoch_not_none() -> None:
    from station.teach.finetune import Recipe, _Batches

    spec = Model(MODEL).info.spec
    line = _good_samples(3) + [replace(s, label=1) for s in _good_samples(5)[3:]]
    batches = list(_Batches(line, (), spec, Recipe(batch=16), np.random.default_rng(0)).epoch())
    assert [x.shape[0] for x, _, _ in batches] == [5] and sorted(batches[0][1]) == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert [x.shape[0] for x, _, _ in _Batches(line, (), spec, Recipe(batch=2), np.random.default_rng(0)).epoch()] == [2, 2]


def test_fine_tuning_is_deterministic_for_a_seed() -> None:
    pytest.importorskip("torch", reason="fine-tuning needs PyTorch (pip install -e '.[train]')")
    from station.teach.command import cross_fit
    from station.teach.finetune import Recipe, fit, plain, score
    from station.teach.samples import collect
    from station.teach.weights import from_onnx

    base = Model(SHIPPED_MODEL)
    start = from_onnx(SHIPPED_MODEL, base)
    samples = collect([SAMPLE], base.info.spec, load_config(None, [])).samples
    crops = plain(samples, base.info.spec)
    fold = np.arange(len(samples)) % 2

    def train(part: list[Sample], seed: int, desc: str) -> Any:
        return fit(start, part, base.info.spec, Recipe(epochs=1), seed, desc)

    runs = [cross_fit(samples, crops, fold, train, score, 5) for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])
