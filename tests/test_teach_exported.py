"""station/teach/exported.py: crops that ``station archive export`` wrote, used only where they hold their part."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.archive import CROP_MARGIN
from station.errors import InputError
from station.locate import Circle, GrayImage, u8
from station.preprocess import PreprocessSpec, preprocess
from station.sources import read_image
from station.teach.exported import inspect, read_labels

from .conftest import SAMPLE

SPEC = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)


def _photos() -> list[Path]:
    return [*sorted((SAMPLE / "ok_front").iterdir()), *sorted((SAMPLE / "def_front").iterdir())]


def _photo(path: Path) -> GrayImage:
    image = read_image(path).image
    assert image is not None
    return u8(image)


def _vignetted(side: int, rng: np.random.Generator) -> GrayImage:
    """A belt, brighter in the middle than in the corners by 50 grey levels (a lens's vignetting, a lamp's spot)."""
    yy, xx = np.mgrid[:side, :side].astype(np.float32) - side / 2
    fall = np.sqrt(xx * xx + yy * yy) / (side / 2 * np.sqrt(2))
    return u8(np.clip(90 - 50 * fall + rng.normal(0, 3, (side, side)), 0, 255))


def _crop_of(photo: GrayImage, scale: float = 1.0, dx: float = 0.0) -> GrayImage:
    """The square crop the archive keeps of ``photo``'s part, for a circle ``scale`` times the part's, ``dx`` radii off."""
    c = preprocess(photo, SPEC).circle
    assert c is not None
    r = round(c.r * scale * (1 + CROP_MARGIN))
    canvas = cv2.copyMakeBorder(photo, r, r, r, r, cv2.BORDER_REPLICATE)
    x, y = round(c.cx + dx * c.r), round(c.cy)
    return u8(canvas[y : y + 2 * r, x : x + 2 * r])


def test_a_crop_of_its_part_is_taught_with_the_circle_it_is_centred_on() -> None:
    crop = _crop_of(_photo(_photos()[-1]))
    pre, why = inspect(crop, SPEC, "defect")
    h, w = crop.shape
    assert why == "" and pre is not None and pre.circle == Circle(w / 2, h / 2, min(w, h) / 2 / (1 + CROP_MARGIN))


def test_every_crop_of_the_samples_parts_but_one_is_taught() -> None:
    """The bundled sample's parts, cropped as the archive crops them (one, whose rim is mostly lost in its light, is not)."""
    refused = [p.name for p in _photos() if inspect(_crop_of(_photo(p)), SPEC, "ok")[0] is None]
    assert len(refused) <= 1, refused


def test_a_square_image_with_no_part_or_a_part_elsewhere_or_of_another_size_is_never_taught() -> None:
    assert inspect(_vignetted(300, np.random.default_rng(5)), SPEC, "ok") == (None, "not_centred")  # a belt, brighter in the middle
    board = (np.kron(np.indices((38, 38)).sum(axis=0) % 2, np.ones((8, 8))) * 110 + 60).astype(np.uint8)[:300, :300]
    assert inspect(board, SPEC, "ok") == (None, "not_centred")  # strong edges everywhere, on no one ellipse
    for path in [*_photos()[:6], *_photos()[-6:]]:
        photo = _photo(path)
        for scale in (0.8, 1.2):  # centred, but the crop was made for a circle of another size
            assert inspect(_crop_of(photo, scale), SPEC, "ok") == (None, "not_centred"), (path.name, scale)
        assert inspect(_crop_of(photo, 1.0, dx=0.5), SPEC, "ok") == (None, "not_centred"), path.name  # half a radius off


def test_a_crop_of_a_part_the_station_could_not_inspect_is_not_taught() -> None:
    assert inspect(_crop_of(_photo(_photos()[0])), SPEC, "unable_to_inspect") == (None, "not inspectable on the line")


def test_the_station_reasons_are_read_by_file_name_and_labels_that_are_not_an_exports_are_refused(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text('file,reason,score\ndef_front/a.png,defect,0.9\n"ok_front/b,1.png",unable_to_inspect,\n')
    assert read_labels(tmp_path).reasons == {"a.png": "defect", "b,1.png": "unable_to_inspect"}
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbffile,reason\ndef_front/a.png,defect\n")  # a spreadsheet's BOM
    assert read_labels(tmp_path).reasons == {"a.png": "defect"}
    (tmp_path / "labels.csv").write_text("name,label\na.png,ok\n")
    with pytest.raises(InputError, match=r"labels\.csv: not an export's labels"):
        read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("")
    with pytest.raises(InputError, match=r"labels\.csv: not an export's labels"):
        read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("file,reason,score\ndef_front/a.png,defect,0.9\n,,\n,,,,\n")  # a spreadsheet's empty rows
    assert read_labels(tmp_path).reasons == {"a.png": "defect"}
    (tmp_path / "labels.csv").unlink()
    for odd in ("folder", "pipe"):  # a pipe would block the read for ever
        (tmp_path / "labels.csv").mkdir() if odd == "folder" else os.mkfifo(tmp_path / "labels.csv")
        with pytest.raises(InputError, match=r"labels\.csv: not a regular file"):
            read_labels(tmp_path)
        os.rmdir(tmp_path / "labels.csv") if odd == "folder" else (tmp_path / "labels.csv").unlink()


@pytest.mark.parametrize(
    ("rows", "named"),
    [("def_front/a.png,UNABLE_TO_INSPECT\n", r"line 2: reason 'UNABLE_TO_INSPECT' is not one of the station's"),
     ("def_front/a.png,defect\nok_front/a.png,unable_to_inspect\n", r"line 3: a\.png is listed again with another reason")],
    ids=["unknown-reason", "one-name-two-reasons"],
)  # fmt: skip
def test_export_labels_a_crop_could_be_wrongly_taught_by_are_refused_naming_the_line(tmp_path: Path, rows: str, named: str) -> None:
    (tmp_path / "labels.csv").write_text("file,reason\n" + rows)
    with pytest.raises(InputError, match=named):
        read_labels(tmp_path)
