"""tools/train.py and tools/robustness.py: the training samples and the pin-hole views (no PyTorch needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from station.config import SHIPPED_MODEL
from station.locate import Circle
from station.model import Model
from station.preprocess import PreprocessSpec, locate_part
from station.stills import read_image
from station.teach.pits import paint_pin_holes
from tools import robustness, train

from .conftest import ROOT, SAMPLE, grey


def test_pin_hole_view_pairs_each_ok_photo_with_its_painted_twin() -> None:
    files = sorted((SAMPLE / "ok_front").glob("*.jp*g"))[:3] + sorted((SAMPLE / "def_front").glob("*.jp*g"))[:2]
    images = [grey(p) for p in files]
    spec = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)
    circles = [locate_part(im, spec) for im in images]
    robustness.SHARED.update(
        {"images": images, "circles": circles, "labels": np.array([0, 0, 0, 1, 1]), "va_idx": np.arange(5), "seed": 7, "spec": spec}
    )
    vc = robustness.view_crops("pin_holes_white_background")
    assert len(vc.crops) == 6 and vc.labels.tolist() == [0, 1, 0, 1, 0, 1]  # defective photos are not used
    assert all(c.shape == (192, 192) for c in vc.crops)
    painted_differs = [float(np.abs(vc.crops[k + 1] - vc.crops[k]).max()) for k in (0, 2, 4)]
    assert min(painted_differs) > 0.5  # each painted twin shows its pits
    again = robustness.view_crops("pin_holes_white_background")
    assert all(np.array_equal(a, b) for a, b in zip(vc.crops, again.crops, strict=True))  # seeded: the same every time


def _sample_photo(folder: str) -> tuple[npt.NDArray[np.uint8], Circle]:
    path = sorted((SAMPLE / folder).glob("*.jp*g"))[0]
    image = grey(path)
    circle = locate_part(image, train.SPEC)
    assert circle is not None
    return image, circle


def test_pit_map_marks_the_painted_pits_and_leaves_the_sample_unchanged() -> None:
    image, circle = _sample_photo("ok_front")
    for seed in range(6):
        crop, label, cells = train.make_sample(image, circle, 0, np.random.default_rng(seed), 1.0, (0.02, 0.05), pit_map=True)
        plain, plain_label, none = train.make_sample(image, circle, 0, np.random.default_rng(seed), 1.0, (0.02, 0.05))
        assert np.array_equal(crop, plain) and label == plain_label == 1 and none is None  # the map draws no random numbers
        assert cells is not None and cells.shape == (24, 24) and 1 <= cells.sum() <= 4 * 9  # 1-4 pits, each in a few cells


def test_pit_map_is_empty_without_pits_and_unknown_for_a_defective_photo() -> None:
    image, circle = _sample_photo("ok_front")
    _, label, cells = train.make_sample(image, circle, 0, np.random.default_rng(1), 0.0, (0.02, 0.05), pit_map=True)
    assert label == 0 and cells is not None and not cells.any()
    image, circle = _sample_photo("def_front")
    _, label, cells = train.make_sample(image, circle, 1, np.random.default_rng(1), 1.0, (0.02, 0.05), pit_map=True)
    assert label == 1 and cells is None  # where a real defect is, is not known


def test_a_larger_input_makes_larger_crops_with_the_same_pit_grid() -> None:
    image, circle = _sample_photo("ok_front")
    spec = PreprocessSpec(size=288, margin=0.16, mask_radius=1.12)
    crop, label, cells = train.make_sample(image, circle, 0, np.random.default_rng(3), 1.0, (0.02, 0.05), True, spec)
    small, _, small_cells = train.make_sample(image, circle, 0, np.random.default_rng(3), 1.0, (0.02, 0.05), True)
    assert crop.shape == (288, 288) and small.shape == (192, 192) and label == 1
    assert cells is not None and small_cells is not None and cells.shape == small_cells.shape == (24, 24)
    assert cells.any()  # the same pits, found on the larger crop's 12 x 12 px cells


def test_shallower_pits_darken_the_metal_less_at_the_same_places() -> None:
    image, circle = _sample_photo("ok_front")
    deep = paint_pin_holes(image, circle, np.random.default_rng(5), 3, (0.03, 0.05), (0.8, 0.8))
    faint = paint_pin_holes(image, circle, np.random.default_rng(5), 3, (0.03, 0.05), (0.2, 0.2))
    dark_deep = image.astype(np.int16) - deep.astype(np.int16)
    dark_faint = image.astype(np.int16) - faint.astype(np.int16)
    assert np.array_equal(dark_deep > 8, (dark_deep > 8) | (dark_faint > 8))  # the same spots, no new ones
    assert dark_faint.max() < 0.5 * dark_deep.max() and dark_faint.max() > 8


def test_the_eight_orientations_put_each_corner_of_the_crop_first_twice() -> None:
    crop = np.zeros((4, 4), np.float32)
    crop[0, 0], crop[0, 3], crop[3, 3], crop[3, 0] = 1, 2, 3, 4  # one value per corner
    scores = robustness.turned_scores(lambda cs: np.array([c[0, 0] for c in cs], np.float32), [crop])
    assert len(scores) == 8 and float(scores["as photographed"][0]) == 1.0
    firsts = sorted(float(s[0]) for s in scores.values())
    assert firsts == [1, 1, 2, 2, 3, 3, 4, 4]  # four turns, each also flipped: every corner, twice


def test_the_training_photos_are_read_as_the_station_reads_them_and_a_broken_one_stops_with_its_name(tmp_path: Path) -> None:
    for folder in ("ok_front", "def_front"):
        (tmp_path / folder).mkdir()
        for photo in sorted((SAMPLE / folder).glob("*.jp*g"))[:2]:
            shutil.copy(photo, tmp_path / folder / photo.name)
    paths, labels, images = train.load_images(tmp_path)
    assert labels.tolist() == [0, 0, 1, 1]  # good first, as LABELLED says
    station_reads = [read_image(p).image for p in paths]
    assert all(read is not None and np.array_equal(image, read) for read, image in zip(station_reads, images, strict=True))
    broken = tmp_path / "def_front" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a whole JPEG")
    with pytest.raises(SystemExit) as stop:
        train.load_images(tmp_path)
    assert str(stop.value).startswith(f"error: {broken}: not a decodable image") and "\n" not in str(stop.value)


def test_the_metadata_training_writes_is_what_the_station_reads_back_from_the_file(tmp_path: Path) -> None:
    shipped = Model(SHIPPED_MODEL).info
    path = tmp_path / "trained.onnx"
    shutil.copy(SHIPPED_MODEL, path)
    report = json.loads((ROOT / "models" / "training_report.json").read_text())
    train.write_metadata(path, report, shipped.fingerprint, shipped.spec, shipped.unwrap)
    read = Model(path).info
    assert (read.version, read.spec, read.unwrap, read.fingerprint) == (train.VERSION, shipped.spec, shipped.unwrap, shipped.fingerprint)
    assert (read.threshold, read.band) == (report["threshold"], tuple(report["uncertain_band"]))
    assert read.metrics == shipped.metrics and read.metrics["validation"] == report["validation"]
