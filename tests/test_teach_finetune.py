"""Teaching's crops: the station's own, turned and lit, and good parts painted with pits as defects."""

from __future__ import annotations

import numpy as np

from station.model import Model
from station.preprocess import locate_part
from station.sources import read_image
from station.teach.finetune import augmented
from station.teach.samples import Sample

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
