"""station/teach/exported.py: crops that ``station archive export`` wrote, used only where they hold their part."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from station.archive import CROP_MARGIN
from station.errors import InputError
from station.locate import Circle, GrayImage, u8
from station.preprocess import PreprocessSpec, preprocess
from station.sources import read_image
from station.teach.exported import agree, inspect, station_reasons

from .conftest import SAMPLE

SPEC = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)


def _vignetted(side: int, rng: np.random.Generator) -> GrayImage:
    """A belt, brighter in the middle than in the corners by 50 grey levels (a lens's vignetting, a lamp's spot)."""
    yy, xx = np.mgrid[:side, :side].astype(np.float32) - side / 2
    fall = np.sqrt(xx * xx + yy * yy) / (side / 2 * np.sqrt(2))
    return u8(np.clip(90 - 50 * fall + rng.normal(0, 3, (side, side)), 0, 255))


def _crop_of(photo: GrayImage, scale: float = 1.0) -> GrayImage:
    """The square crop the archive keeps of ``photo``'s part, for a circle ``scale`` times the part's."""
    c = preprocess(photo, SPEC).circle
    assert c is not None
    r = round(c.r * scale * (1 + CROP_MARGIN))
    canvas = cv2.copyMakeBorder(photo, r, r, r, r, cv2.BORDER_REPLICATE)
    x, y = round(c.cx), round(c.cy)
    return u8(canvas[y : y + 2 * r, x : x + 2 * r])


def test_a_crop_of_its_part_is_taught_with_the_circle_it_is_centred_on() -> None:
    photo = read_image(sorted((SAMPLE / "def_front").iterdir())[0]).image
    assert photo is not None
    crop = _crop_of(photo)
    pre, why = inspect(crop, SPEC, "defect")
    h, w = crop.shape
    assert why == "" and pre is not None and pre.circle == Circle(w / 2, h / 2, min(w, h) / 2 / (1 + CROP_MARGIN))


def test_a_square_image_with_no_part_or_a_part_of_another_size_is_never_taught() -> None:
    rng = np.random.default_rng(5)
    belt = _vignetted(300, rng)  # nothing on it: painting outside the disc draws a ring there, which must not pass for a rim
    assert inspect(belt, SPEC, None)[0] is None
    photo = read_image(sorted((SAMPLE / "ok_front").iterdir())[0]).image
    assert photo is not None
    for scale in (0.75, 1.3):  # centred, but the crop was made for a circle of another size
        pre, why = inspect(_crop_of(photo, scale), SPEC, None)
        assert pre is None and why in {"no_part", "not_centred"}, (scale, why)


def test_a_crop_of_a_part_the_station_could_not_inspect_is_not_taught() -> None:
    photo = read_image(sorted((SAMPLE / "ok_front").iterdir())[0]).image
    assert photo is not None
    assert inspect(_crop_of(photo), SPEC, "unable_to_inspect") == (None, "not inspectable on the line")


def test_a_circle_larger_than_the_part_by_the_crops_margin_is_the_painted_edge_not_the_rim() -> None:
    centred = Circle(100, 100, 100)
    assert agree(Circle(102, 99, 94), centred) and agree(Circle(100, 100, 101), centred)
    assert not agree(Circle(100, 100, 100 * (1 + CROP_MARGIN)), centred) and not agree(Circle(120, 100, 100), centred)


def test_the_station_reasons_are_read_by_file_name_and_labels_that_are_not_an_exports_are_refused(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text('file,reason,score\ndef_front/a.png,defect,0.9\n"ok_front/b,1.png",unable_to_inspect,\n')
    assert station_reasons(tmp_path) == {"a.png": "defect", "b,1.png": "unable_to_inspect"}
    (tmp_path / "labels.csv").write_text("name,label\na.png,ok\n")
    with pytest.raises(InputError, match=r"labels\.csv: not an export's labels"):
        station_reasons(tmp_path)
