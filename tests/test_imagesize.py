"""station/imagesize.py: an image's size from its header, for every still format the station reads."""

from __future__ import annotations

import errno
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import simplejpeg
from PIL import Image

from station import imagesize
from station.imagesize import claimed_size, decode, jpeg_damage, png_bytes, png_damage, several_images
from station.source_kind import STILLS
from station.stills import read_image

from .conftest import SAMPLE, jpeg_ended_early

IMAGE = (np.random.default_rng(0).random((37, 53)) * 255).astype(np.uint8)  # 53 wide, 37 high: the two never swapped


ONE_KIND = {(".pgm", "colour"), (".ppm", "grey"), (".ppm", "16-bit")}  # a PGM is grey only, a PPM colour only (OpenCV writes)
KINDS = {"grey": IMAGE, "colour": cv2.cvtColor(IMAGE, cv2.COLOR_GRAY2BGR), "16-bit": IMAGE.astype(np.uint16) * 257}


@pytest.mark.parametrize(
    ("suffix", "kind"), [(s, k) for s in sorted(set(STILLS) - {".jpeg", ".tiff"}) for k in KINDS if (s, k) not in ONE_KIND]
)
def test_each_still_format_gives_its_width_and_height_as_written(suffix: str, kind: str) -> None:
    ok, buf = cv2.imencode(suffix, KINDS[kind])  # 16 bits where the format holds them, else OpenCV writes 8
    assert ok and claimed_size(buf.tobytes()) == (53, 37)


@pytest.mark.parametrize("params", [[cv2.IMWRITE_JPEG_PROGRESSIVE, 1], [cv2.IMWRITE_WEBP_QUALITY, 101]])
def test_a_progressive_jpeg_and_a_lossless_webp_give_theirs_too(params: list[int]) -> None:
    ok, buf = cv2.imencode(".jpg" if params[0] == cv2.IMWRITE_JPEG_PROGRESSIVE else ".webp", IMAGE, params)
    assert ok and claimed_size(buf.tobytes()) == (53, 37)


def test_a_pnm_header_with_comments_is_read() -> None:
    assert claimed_size(b"P5\n# from a camera\n53 # wide\n37\n255\n") == (53, 37)


@pytest.mark.parametrize(
    "data", [b"", b"\x89PNG", b"\xff\xd8\xff", b"BM", b"II*\x00\xff\xff\xff\xff", b"P5\nx", b"RIFF0000WEBPVP8Z", b"GIF89a"]
)
def test_a_header_cut_short_or_unknown_gives_none(data: bytes) -> None:
    assert claimed_size(data) is None


def test_a_size_table_after_the_pixels_or_a_frame_header_after_large_metadata_is_found() -> None:
    """A TIFF's size table often follows its pixels, and a JPEG's frame header its metadata: read from the whole file."""
    import struct

    big = np.tile(IMAGE, (8, 8))  # 424 x 296: 125 KB of pixels before the TIFF's table
    ok, tif = cv2.imencode(".tif", big)
    assert ok and struct.unpack("<I", tif.tobytes()[4:8])[0] > 1 << 16 and claimed_size(tif.tobytes()) == (424, 296)
    ok, jpg = cv2.imencode(".jpg", IMAGE)
    app = b"\xff\xe1" + struct.pack(">H", 65535) + bytes(65533)  # one full metadata segment (EXIF, ICC, XMP) first
    assert ok and claimed_size(b"\xff\xd8" + app + app + jpg.tobytes()[2:]) == (53, 37)


def test_a_jpeg_whose_data_ends_early_is_damaged_though_opencv_decodes_it() -> None:
    whole = sorted((SAMPLE / "ok_front").iterdir())[0].read_bytes()
    assert jpeg_damage(whole) is None
    damaged = jpeg_ended_early(whole)
    assert cv2.imdecode(np.frombuffer(damaged, np.uint8), cv2.IMREAD_GRAYSCALE) is not None  # grey where the data ran out
    assert "premature end of data segment" in (jpeg_damage(damaged) or "")


def test_a_jpeg_whole_but_for_its_end_marker_is_not_damaged() -> None:
    whole = sorted((SAMPLE / "ok_front").iterdir())[0].read_bytes()
    assert whole.endswith(b"\xff\xd9") and jpeg_damage(whole[:-2]) is None
    assert jpeg_damage(whole[:-2] + bytes(16)) is None  # padded with zeros where the marker was: "16 extraneous bytes" before


def test_a_progressive_jpeg_without_its_end_marker_is_damaged_for_its_later_scans_may_be_missing() -> None:
    """Cut between two scans, libjpeg decodes the scans it has, blurred, without a warning: the part would be judged on it.
    A baseline JPEG without its end marker (some writers drop it) is judged on its data, as above."""
    img = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, (96, 128, 3), np.uint8), (5, 5), 2)
    jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    scans = [i for i in range(len(jpeg) - 1) if jpeg[i : i + 2] == b"\xff\xda"]
    assert len(scans) > 2 and jpeg_damage(jpeg) is None
    for cut in (jpeg[: scans[2]], jpeg[:-2]):  # two scans of many; every scan, its end marker dropped
        assert "a progressive JPEG without its end marker" in (jpeg_damage(cut) or "")
        assert decode(cut)[0] is None
    for trailer in (b"ftypmp42" + bytes(range(1, 65)), b"\xff" * 8):  # after its end marker: a phone's video, padding
        (with_it, _), (without, _) = decode(jpeg + trailer), decode(jpeg)
        assert jpeg_damage(jpeg + trailer) is None and with_it is not None and without is not None
        assert np.array_equal(with_it, without)


def _field(jpeg: bytes, marker: bytes, at: int, value: int) -> bytes:
    """``jpeg`` with the byte ``at`` past the first ``marker`` (its two bytes) set to ``value``."""
    out = bytearray(jpeg)
    out[jpeg.index(marker) + at] = value
    return bytes(out)


def _jfif_2(jpeg: bytes) -> bytes:  # JFIF version 2.01: libjpeg warns "unknown JFIF revision number" and reads it the same
    return _field(jpeg, b"JFIF\0", 5, 2)


def _scan_al_1(jpeg: bytes) -> bytes:  # a sequential scan that names a successive approximation bit (Al 1): libjpeg ignores it
    scan = jpeg.index(b"\xff\xda")
    return _field(jpeg, b"\xff\xda", 2 + int.from_bytes(jpeg[scan + 2 : scan + 4], "big") - 1, 1)


@pytest.mark.parametrize("odd", [_jfif_2, _scan_al_1, lambda j: _jfif_2(_scan_al_1(j))], ids=["jfif-2", "scan-al-1", "both"])
def test_a_header_field_libjpeg_ignores_is_no_damage(odd: Callable[[bytes], bytes], tmp_path: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    photo = sorted((SAMPLE / "ok_front").iterdir())[0]
    odd_one = odd(photo.read_bytes())
    (tmp_path / photo.name).write_bytes(odd_one)
    assert odd_one != photo.read_bytes() and jpeg_damage(odd_one) is None
    read, original = read_image(tmp_path / photo.name), read_image(photo)
    assert read.error is None and read.image is not None and original.image is not None
    assert np.array_equal(read.image, original.image)  # the same pixels: the field changed nothing
    assert capfd.readouterr().err == ""  # OpenCV's libjpeg warned of the field on stderr for every such photo


@pytest.mark.parametrize("odd", [_jfif_2, _scan_al_1], ids=["jfif-2", "scan-al-1"])
def test_damage_after_a_header_field_libjpeg_ignores_is_still_found(odd: Callable[[bytes], bytes]) -> None:
    whole = sorted((SAMPLE / "ok_front").iterdir())[0].read_bytes()
    assert "premature end of data segment" in (jpeg_damage(jpeg_ended_early(odd(whole))) or "")


def _png_of(image: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".png", image)[1].tobytes())


@pytest.mark.parametrize("kind", KINDS)
def test_a_whole_png_is_not_damaged(kind: str) -> None:
    assert png_damage(_png_of(KINDS[kind])) is None
    assert png_damage(_png_of(KINDS[kind]) + b"trailing bytes") is None  # past the end chunk: libpng never reads them


def test_a_png_cut_short_or_with_a_damaged_chunk_is_named_before_libpng_sees_it(tmp_path: Path) -> None:
    """libpng refuses each too, with a line of its own on stderr before the station's ("libpng error: ...")."""
    whole = _png_of(IMAGE)
    idat = whole.index(b"IDAT")
    flipped = whole[: idat + 10] + bytes([whole[idat + 10] ^ 1]) + whole[idat + 11 :]
    cases = {
        whole[: len(whole) * 2 // 3]: "its 'IDAT' chunk runs past the end of the file (cut short)",
        whole[:-12]: "it ends before its end chunk (cut short)",
        flipped: "its 'IDAT' chunk's checksum is wrong (damaged)",
    }
    iend = whole[:-1] + bytes([whole[-1] ^ 1])  # only the end chunk's checksum wrong: libpng warns, and decodes every pixel
    assert png_damage(iend) is None
    for damaged, why in cases.items():
        assert png_damage(damaged) == why
        assert cv2.imdecode(np.frombuffer(damaged, np.uint8), cv2.IMREAD_UNCHANGED) is None  # libpng would refuse it too
        (tmp_path / "p.png").write_bytes(damaged)
        assert read_image(tmp_path / "p.png").error == f"{tmp_path / 'p.png'}: not a decodable image (its PNG data is not whole: {why})"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_png_with_a_chunk_libpng_warns_of_and_ignores_is_taken_without_a_line_on_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A broken colour profile ("libpng warning: iCCP: known incorrect sRGB profile", as some exporters write) or text with a
    wrong checksum: libpng warned on stderr for every such photo, and OpenCV gave the same pixels."""
    whole = _png_of(IMAGE)
    header = 8 + 25  # the signature and IHDR
    odd = whole[:header] + _chunk(b"iCCP", b"bogus\0\0" + zlib.compress(b"no profile" * 20)) + whole[header:]
    odd = odd[:header] + _chunk(b"tEXt", b"Comment\0hello")[:-1] + b"\0" + odd[header:]  # its checksum wrong
    (tmp_path / "odd.png").write_bytes(odd)
    read = read_image(tmp_path / "odd.png")
    assert read.error is None and read.image is not None and np.array_equal(read.image, IMAGE)
    assert capfd.readouterr().err == ""


def _tiff(entries: list[tuple[int, int]], next_ifd: int = 0) -> bytes:
    """A little-endian TIFF header and one directory of LONG entries (tag, value), no pixels."""
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", next_ifd)


def test_a_tiff_that_names_its_size_twice_is_taken_at_the_larger() -> None:
    """OpenCV read the first of two sizes, the check the last: 24000 px claimed as 100 decoded to gigabytes."""
    assert claimed_size(_tiff([(256, 24000), (257, 24000), (256, 100), (257, 100)])) == (24000, 24000)
    assert claimed_size(_tiff([(256, 100), (257, 100), (256, 24000), (257, 24000)])) == (24000, 24000)


def test_a_file_of_several_images_is_refused_never_judged_on_its_first(tmp_path: Path) -> None:
    """A TIFF of two pages, the first a good part and the second a defective one, passed on its first page."""
    assert not several_images(_tiff([(256, 100), (257, 100)])) and several_images(_tiff([(256, 100), (257, 100)], next_ifd=64))
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00"
    assert several_images(webp + b"\x02" + bytes(9)) and not several_images(webp + b"\x00" + bytes(9))
    assert not several_images(webp[:17]) and not several_images(webp), "a header cut short: no flag, no IndexError"
    (tmp_path / "short.webp").write_bytes(webp[:17])
    assert "not a decodable image" in (read_image(tmp_path / "short.webp").error or "")
    pages = [np.asarray(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), np.uint8) for p in sorted((SAMPLE / "ok_front").iterdir())[:2]]
    assert cv2.imwritemulti(str(tmp_path / "two.tif"), pages)
    grab = read_image(tmp_path / "two.tif")
    assert grab.image is None and grab.error is not None and "holds several images" in grab.error
    assert cv2.imwrite(str(tmp_path / "one.tif"), pages[0]) and read_image(tmp_path / "one.tif").image is not None


@pytest.mark.parametrize("kind", ["gray", "420", "422", "444", "cmyk"])
def test_a_jpeg_decoded_once_is_opencvs_decode_pixel_for_pixel(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grey and YCbCr JPEGs come out of the damage check's one decode: the pixels OpenCV gives, so that every score stays
    as it was (train/serve parity); a CMYK one, which OpenCV converts its own way, is OpenCV's decode."""
    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 256, (120, 161, 3), np.uint8), (5, 5), 2)  # an odd width: chroma edges
    if kind == "gray":
        data = cv2.imencode(".jpg", img[:, :, 0])[1].tobytes()
    elif kind == "cmyk":
        out = io.BytesIO()
        Image.fromarray(img).convert("CMYK").save(out, "JPEG")
        data = out.getvalue()
    else:
        data = simplejpeg.encode_jpeg(img, quality=90, colorsubsampling=kind)
    opencv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    imdecode, calls = cv2.imdecode, []

    def counted(*args: Any) -> Any:
        calls.append(args)
        return imdecode(*args)

    monkeypatch.setattr(cv2, "imdecode", counted)
    pixels, why = decode(data)
    assert len(calls) == (kind == "cmyk")
    assert why == "" and pixels is not None and opencv is not None
    assert pixels.shape == opencv.shape and np.array_equal(pixels, opencv)


def test_where_the_two_libjpeg_turbos_decode_unlike_opencv_decodes_every_jpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each wheel bundles its own libjpeg-turbo: a release that moved pixels would move scores. Measured at the first
    decode; here they agree."""
    assert imagesize._opencv_alike()
    data = simplejpeg.encode_jpeg(np.full((40, 60, 3), 90, np.uint8), quality=90)
    calls: list[object] = []
    imdecode = cv2.imdecode

    def counted(*args: Any) -> Any:
        calls.append(args)
        return imdecode(*args)

    monkeypatch.setattr(imagesize, "_opencv_alike", lambda: False)
    monkeypatch.setattr(cv2, "imdecode", counted)
    pixels, why = decode(data)
    assert why == "" and pixels is not None and len(calls) == 1


def test_a_probe_that_fails_leaves_every_jpeg_to_opencv_never_a_photos_damage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe runs inside a photo's damage check: its own failure (out of memory) was that photo's damage."""
    data = simplejpeg.encode_jpeg(np.full((40, 60, 3), 90, np.uint8), quality=90)
    decode_jpeg = simplejpeg.decode_jpeg

    def failing(jpeg: bytes, *args: Any, **kwargs: Any) -> Any:
        if len(jpeg) != len(data):  # the probe's own JPEGs
            raise MemoryError("out of memory")
        return decode_jpeg(jpeg, *args, **kwargs)

    imagesize._opencv_alike.cache_clear()
    monkeypatch.setattr(simplejpeg, "decode_jpeg", failing)
    try:
        assert jpeg_damage(data) is None and not imagesize._opencv_alike()
        pixels, why = decode(data)
        assert why == "" and pixels is not None
    finally:
        imagesize._opencv_alike.cache_clear()


def test_a_picture_opencv_cannot_encode_is_an_os_error_naming_it() -> None:
    """An empty crop makes OpenCV raise (where another picture makes it return False): either way one OSError, the name."""
    with pytest.raises(OSError, match=r"^\[Errno 22\] crop\.png: cannot be encoded as PNG \(") as err:
        png_bytes(np.zeros((0, 0), np.uint8), "crop.png")
    assert err.value.errno == errno.EINVAL
    assert png_bytes(np.zeros((4, 4), np.uint8), "crop.png").startswith(b"\x89PNG")
