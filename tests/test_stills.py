"""station/stills.py: image files and folders as frames, and the images the station refuses to read or decode."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from structlog.testing import capture_logs

from station.errors import InputError
from station.frame_source import Grab
from station.stills import ImageFolderSource, beside_labels, files_below, read_image

from .conftest import SAMPLE, jpeg_ended_early


def _read_all(folder: Path) -> list[Grab]:
    """Every grab an image folder source hands on, to the end."""
    src = ImageFolderSource(folder, None)
    src.open()
    grabs = []
    while (g := src.read()) is not None:
        grabs.append(g)
    return grabs


def test_folder_reads_in_name_order_and_reports_bad_files(tmp_path: Path) -> None:
    good = sorted((SAMPLE / "ok_front").iterdir())[:2]
    shutil.copy(good[0], tmp_path / "b.jpeg")
    shutil.copy(good[1], tmp_path / "d.jpeg")
    (tmp_path / "a.jpeg").write_bytes(b"not a jpeg at all")
    (tmp_path / "c.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello")
    grabs = _read_all(tmp_path)
    assert [Path(g.name or "").name for g in grabs] == ["a.jpeg", "b.jpeg", "c.png", "d.jpeg"]
    assert grabs[0].image is None and "not a decodable image" in (grabs[0].error or "")
    assert grabs[2].image is None and "empty file" in (grabs[2].error or "")
    assert grabs[1].image is not None and grabs[3].image is not None


def test_a_folder_skips_hidden_files_and_names_the_folders_below_it_never_silently(tmp_path: Path) -> None:
    good = sorted((SAMPLE / "ok_front").iterdir())[0]
    shutil.copy(good, tmp_path / "a.jpeg")
    shutil.copy(good, tmp_path / ".a.jpeg.tmp.jpeg")  # a file being written
    (tmp_path / "sub").mkdir()
    shutil.copy(good, tmp_path / "sub" / "b.jpeg")
    src = ImageFolderSource(tmp_path, None)
    with capture_logs() as logs:
        src.open()
    assert src.frame_count == 1
    said = {(e["event"], Path(e.get("folder") or e.get("file") or "").name) for e in logs}
    assert said == {("folder_not_read", "sub"), ("file_not_an_image", ".a.jpeg.tmp.jpeg")}


@pytest.mark.parametrize(
    ("image", "why"),
    [
        (np.zeros((16, 16), np.uint8), "too small"),
        (np.zeros((300, 300, 3), np.uint8), None),  # colour is accepted, as grey
        (np.zeros((300, 300), np.uint16), None),  # 16-bit is accepted, scaled to 8-bit
        (np.zeros((100, 12001), np.uint8), "larger than 12000"),  # huge
    ],
)
def test_read_image_odd_formats(tmp_path: Path, image: np.ndarray, why: str | None) -> None:
    p = tmp_path / "x.png"
    cv2.imwrite(str(p), image)
    g = read_image(p)
    if why is None:
        assert g.image is not None and g.image.dtype == np.uint8 and g.image.ndim == 2
    else:
        assert g.image is None and why in (g.error or "")


@pytest.mark.parametrize(("side", "depth", "colour"), [(40000, 8, 0), (16000, 16, 6)])  # 1.6 gigapixels grey; 4 GB of RGBA16
def test_an_image_whose_header_claims_too_many_pixels_is_refused_before_it_is_decoded(
    tmp_path: Path, side: int, depth: int, colour: int
) -> None:
    """A file of a few kilobytes whose header claims gigabytes: refused from its header (OpenCV raised for the first, and
    the capture stage died; the second it decoded, 4 GB, before its size was checked)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, depth, colour, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    g = read_image(tmp_path / "bomb.png")
    assert g.image is None and g.error == f"{tmp_path / 'bomb.png'}: image is {side}x{side} px, larger than 12000 px"


def test_links_that_go_nowhere_and_pipes_in_a_folder_are_parts_with_a_reason(tmp_path: Path) -> None:

    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[0], tmp_path / "a.jpeg")
    (tmp_path / "b-dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "c-loop.jpg").symlink_to(tmp_path / "c-loop.jpg")
    os.mkfifo(tmp_path / "d-fifo.jpg")  # reading it would block for ever
    (tmp_path / "e-folder.jpg").mkdir()  # a folder is not a part
    grabs = _read_all(tmp_path)
    assert [Path(g.name or "").name for g in grabs] == ["a.jpeg", "b-dangling.jpg", "c-loop.jpg", "d-fifo.jpg"]
    assert grabs[0].image is not None
    assert "No such file" in (grabs[1].error or "")
    assert "symbolic links" in (grabs[2].error or "")
    assert "not a regular file" in (grabs[3].error or "")


def test_files_below_a_folder_come_in_name_order_each_with_why_it_is_not_an_image_to_read(tmp_path: Path) -> None:

    (tmp_path / "b").mkdir()
    for name in ("b/z.png", "a.jpg", "c.txt", "._a.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "d.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(tmp_path / "e.png")
    (tmp_path / "f").symlink_to(tmp_path / "b", target_is_directory=True)
    (tmp_path / ".thumbnails").mkdir()
    (tmp_path / ".thumbnails" / "t.png").write_bytes(b"x")
    found = [(p.relative_to(tmp_path).as_posix(), why and why.removeprefix(f"{p}: ")) for p, why in files_below(tmp_path)]
    assert found == [("._a.jpg", "a hidden file, not read"), (".thumbnails", "a hidden folder, not read"), ("a.jpg", None),
                     ("b/z.png", None),
                     ("c.txt", "not an image file (by extension)"), ("d.jpg", "a link that leads nowhere (or to itself)"),
                     ("e.png", "not a regular file"), ("f", "a linked folder, not followed")]  # fmt: skip


def test_a_folder_below_that_cannot_be_listed_is_named_or_with_strict_is_an_input_error(tmp_path: Path, monkeypatch: Any) -> None:

    (tmp_path / "locked").mkdir()
    (tmp_path / "a.jpg").write_bytes(b"x")
    scandir = os.scandir

    def denied(path: Any = ".") -> Any:  # these tests run as root, whom a chmod 000 folder does not stop: the OS's refusal is faked
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    why = f"{tmp_path / 'locked'}: cannot list folder: Permission denied"
    assert files_below(tmp_path) == [(tmp_path / "a.jpg", None), (tmp_path / "locked", why)]
    with pytest.raises(InputError, match="locked: cannot list folder: Permission denied"):
        files_below(tmp_path, strict=True)


def test_files_a_folder_lists_but_cannot_look_at_are_named_or_with_strict_stop_naming_the_folder(tmp_path: Path, monkeypatch: Any) -> None:
    """A folder readable but not searchable (mode 644): its names list, and looking at any of them is refused (faked: root
    is not refused). That was Python's own line for the first file, "[Errno 13] Permission denied: '...'"."""
    import station.stills as stills

    (tmp_path / "a.jpg").write_bytes(b"x")

    def denied(p: Path) -> str | None:
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(stills, "_not_an_image", denied)
    assert files_below(tmp_path) == [(tmp_path / "a.jpg", f"{tmp_path / 'a.jpg'}: cannot be read: Permission denied")]
    with pytest.raises(InputError, match=f"^{tmp_path}: cannot read the files in it: Permission denied$"):
        files_below(tmp_path, strict=True)


def test_what_a_labelled_folder_holds_beside_its_label_folders_is_named_in_one_line(tmp_path: Path) -> None:
    for sub in ("ok_front", "def_front", "review", "def_front_2"):
        (tmp_path / sub).mkdir()
    assert beside_labels(tmp_path, ("review", "def_front_2")) is None
    for name in ("a.jpg", "b.jpg", "line.avi", "line.csv", "labels.csv"):
        (tmp_path / name).write_bytes(b"x")
    assert beside_labels(tmp_path, ("review",)) == (
        f"{tmp_path}: not read, as not in ok_front/ or def_front/: a.jpg, b.jpg, def_front_2/, labels.csv, line.avi and 1 more "
        "(a photo counts only inside one of them)"
    )


def test_a_jpeg_whose_data_is_damaged_is_never_inspected(tmp_path: Path) -> None:

    path = tmp_path / "a.jpeg"
    path.write_bytes(jpeg_ended_early(sorted((SAMPLE / "ok_front").iterdir())[0].read_bytes()))
    grab = read_image(path)
    assert grab.image is None and "its JPEG data is damaged: Corrupt JPEG data: premature end of data segment" in (grab.error or "")


def test_a_file_of_another_format_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    """OpenCV decodes by content: a GIF named .png claiming 16000 x 16000 px took 2 GB and 11 s to be refused after."""
    path = tmp_path / "big.png"
    path.write_bytes(b"GIF89a" + (16000).to_bytes(2, "little") * 2 + b"\x00" * 64)
    grab = read_image(path)
    assert grab.image is None and "no JPEG, PNG, BMP, TIFF, PNM or WebP header that says its size" in (grab.error or "")


@pytest.mark.parametrize("ext", [".bmp", ".pgm"])
def test_an_image_opencv_cannot_decode_is_named_in_one_line_with_no_line_of_opencvs_own(
    ext: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A BMP or PGM cut short: OpenCV logged "[ERROR] ... imdecode_ ... Unexpected end of input stream" on stderr as well."""
    image = (np.random.default_rng(0).random((64, 80)) * 255).astype(np.uint8)
    whole = cv2.imencode(ext, image)[1].tobytes()
    (tmp_path / f"cut{ext}").write_bytes(whole[: len(whole) // 2])
    assert read_image(tmp_path / f"cut{ext}").error == f"{tmp_path / f'cut{ext}'}: not a decodable image"
    assert capfd.readouterr().err == ""
    (tmp_path / f"whole{ext}").write_bytes(whole)
    read = read_image(tmp_path / f"whole{ext}").image
    assert read is not None and np.array_equal(read, image)
