"""An image file's bytes before the station inspects them: the width and height its header claims, read before anything
is decoded; whether its data is whole; then its pixels, as OpenCV decodes them (:func:`decode`).

A file of a few kilobytes can claim 16000 x 16000 pixels of 16-bit colour, gigabytes once decoded:
the station refuses an image too large to inspect from its header, never after decoding it. The
still formats the station reads (``config.STILLS``): JPEG, PNG, BMP, TIFF, PGM/PNM and WebP, from
the whole file (a TIFF's size table often follows its pixels; a JPEG's frame header, its metadata).
A header this does not know (BigTIFF, another format, a truncated file) gives None, and the station
does not decode it (``sources.read_image``).

A JPEG whose data is damaged is decoded by OpenCV with a warning on stderr and grey where its data
ran out: it is decoded with libjpeg-turbo told to stop at its first warning instead (:func:`jpeg_as_read`,
the pixels OpenCV's would be), so that such a file is refused, not inspected with a band of invented grey. Two of
libjpeg's warnings are about a header field it then ignores (a JFIF version other than 1.x, scan
parameters of a progressive JPEG in a sequential one, which some phones and cameras write): the
pixels decode the same, so the check goes on past them (on a copy with the field as libjpeg reads
it, which OpenCV then decodes: no warning on stderr for every such photo) to any damage after them.
A PNG whose chunks do not add up (cut short, a critical chunk's checksum wrong) is refused by
:func:`png_damage` before libpng, which would refuse it too, with a line of its own on stderr; a
whole one is decoded from the chunks its pixels come from, without those libpng warns of and
ignores (a broken colour profile, text with a wrong checksum).
"""

from __future__ import annotations

import errno
import functools
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import numpy.typing as npt
import simplejpeg

Size = tuple[int, int]  # width, height
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_JPEG_BARE = set(range(0xD0, 0xDA)) | {0x01}  # markers without a length: RSTn, SOI, EOI, TEM
PNG = b"\x89PNG\r\n\x1a\n"  # a PNG file's signature
_PNM = re.compile(rb"^P[1-6](?:\s+|#[^\n]*\n)*(\d+)(?:\s+|#[^\n]*\n)+(\d+)")


def claimed_size(data: bytes) -> Size | None:
    """The width and height ``data``'s header claims; None when it is no header this knows."""
    try:
        for magic, read in _READERS:
            if data.startswith(magic):
                return read(data)
    except (struct.error, IndexError, ValueError):  # a header cut short
        return None
    return None


def _png(data: bytes) -> Size | None:
    if data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def _jpeg(data: bytes) -> Size | None:
    for marker, i in _headers(data):
        if marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        if marker == 0xDA:  # the scan begins before any frame header: not a JPEG to trust
            return None
    return None


def _headers(data: bytes) -> Iterator[tuple[int, int]]:
    """Each header segment's marker and offset in a JPEG, up to and with its first start of scan."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_BARE:
            i += 2
            continue
        yield marker, i
        if marker == 0xDA:
            return
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]


def _bmp(data: bytes) -> Size | None:
    header = struct.unpack("<I", data[14:18])[0]
    if header == 12:  # the old OS/2 header: 16-bit sizes
        w, h = struct.unpack("<HH", data[18:22])
    else:
        w, h = struct.unpack("<ii", data[18:26])
    return abs(int(w)), abs(int(h))  # a negative height: rows stored top down


def _tiff(data: bytes) -> Size | None:
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    n = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    found: dict[int, int] = {}
    for k in range(n):
        at = ifd + 2 + 12 * k
        tag, kind = struct.unpack(order + "HH", data[at : at + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4); named twice, OpenCV may read either
            value = struct.unpack(order + ("H" if kind == 3 else "I"), data[at + 8 : at + (10 if kind == 3 else 12)])[0]
            found[tag] = max(found.get(tag, 0), value)
    return (found[256], found[257]) if len(found) == 2 else None


def several_images(data: bytes) -> bool:
    """``data`` holds more than one image, of which OpenCV decodes the first alone: a TIFF of several pages (its first
    directory names a next), an animated WebP, an animated PNG. One photo is one part: a second page unseen is a part
    never inspected (a multi-page TIFF whose first page was good passed)."""
    try:
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            order = "<" if data[:2] == b"II" else ">"
            ifd = struct.unpack(order + "I", data[4:8])[0]
            n = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
            return bool(struct.unpack(order + "I", data[ifd + 2 + 12 * n : ifd + 6 + 12 * n])[0] != 0)
    except struct.error:  # a directory cut short: OpenCV's to refuse
        return False
    if data[8:16] == b"WEBPVP8X":
        return bool(data[20:21]) and bool(data[20] & 0x02)  # the extended header's animation flag (a header cut short: none)
    return data.startswith(PNG) and b"acTL" in data[: data.find(b"IDAT")]  # an animation control chunk before the image


def _pnm(data: bytes) -> Size | None:
    m = _PNM.match(data[:1024])
    return (int(m.group(1)), int(m.group(2))) if m else None


def _webp(data: bytes) -> Size | None:
    if data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14 bits each, minus one, after the signature byte
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: the canvas, 24 bits each, minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_READERS = (
    (PNG, _png),
    (b"\xff\xd8", _jpeg),
    (b"BM", _bmp),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
    (b"P", _pnm),
    (b"RIFF", _webp),
)


def jpeg_damage(data: bytes) -> str | None:
    """Why the JPEG ``data`` does not decode whole (libjpeg-turbo's first warning: "Corrupt JPEG data: premature end
    of data segment"); None when it does. A warning about a header field libjpeg ignores is no damage (``_IGNORED``)."""
    return jpeg_as_read(data)[1]


def jpeg_as_read(data: bytes) -> tuple[bytes, str | None, npt.NDArray[np.uint8] | None]:
    """The JPEG ``data`` as libjpeg reads it, why it does not decode whole (None when it does), and its pixels as OpenCV
    decodes them (None: left to OpenCV): with an end marker where some writers drop it, and a header field libjpeg warns
    of and ignores (``_IGNORED``) as it reads it. The same pixels, which OpenCV would decode without a warning of its own
    on stderr for every such photo. Grey and YCbCr JPEGs (photos, Motion JPEG frames) come out of this one decode as
    OpenCV's, pixel for pixel (both libjpeg-turbo, its exact integer transform and smooth upsampling: measured on our
    footage's frames, the training photos and 1080p frames of each chroma subsampling); others (CMYK, YCCK, RGB-coded),
    whose conversion OpenCV does its own way, it decodes again, as it does every JPEG where the two libraries installed do
    not decode alike (:func:`_opencv_alike`). A progressive JPEG without its end marker may lack its later scans (cut short
    between two): libjpeg decodes what it has, blurred, without a warning, so it is damage."""
    coded = data.rstrip(b"\0")  # zeros a writer padded it with, which libjpeg would take for coded data before the marker
    if not coded.endswith(b"\xff\xd9"):  # whole but for its end marker (some writers drop it): judged on its data
        if any(marker in _PROGRESSIVE for marker, _ in _headers(data)) and not _ends(data):  # (bytes after it are no matter)
            return data, "a progressive JPEG without its end marker: its later scans may be missing (cut short)", None
        data = (coded + b"\0" if coded.endswith(b"\xff") else coded) + b"\xff\xd9"  # a 0xFF byte's stuffed zero is its data
    passed: set[str] = set()
    while True:
        try:
            space = _AS_OPENCV.get(simplejpeg.decode_jpeg_header(data)[2]) if _opencv_alike() else None
            pixels = simplejpeg.decode_jpeg(data, colorspace=space or "GRAY", strict=True)
        except (ValueError, RuntimeError, MemoryError) as exc:
            why = str(exc).strip() or type(exc).__name__
            ignored = next((start for start in _IGNORED if why.startswith(start)), None)
            if ignored is None or ignored in passed:
                return data, why, None
            passed.add(ignored)
            data = _IGNORED[ignored](data)
            continue
        return data, None, (pixels[:, :, 0] if space == "GRAY" else pixels) if space else None


def _ends(data: bytes) -> bool:
    """Whether the JPEG ``data`` holds its end-of-image marker: found walking its segments from the first scan, and each
    scan's coded data (where a 0xFF byte is followed by 0x00, a restart marker or more 0xFF, unless a marker begins);
    what follows the marker (a trailer, padding) does not count."""
    i = next((at for marker, at in _headers(data) if marker == 0xDA), None)
    while i is not None and i + 4 <= len(data):
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]  # past this segment: a scan's coded data, or the next segment
        while (j := data.find(b"\xff", i)) >= 0 and j + 1 < len(data) and (data[j + 1] in _IN_SCAN or 0xD0 <= data[j + 1] <= 0xD7):
            i = j + 1 if data[j + 1] == 0xFF else j + 2
        if j < 0 or j + 1 >= len(data):
            return False
        if data[j + 1] == 0xD9:
            return True
        i = j  # another segment: tables, or the next scan
    return False


_IN_SCAN = {0x00, 0xFF}  # after 0xFF in a scan's coded data: a stuffed byte, or a fill byte before a marker
_AS_OPENCV = {"Gray": "GRAY", "YCbCr": "BGR"}  # a JPEG's colour space -> libjpeg-turbo's output that is OpenCV's decode
_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}  # the start-of-frame markers of progressive JPEGs


@functools.cache
def _opencv_alike() -> bool:
    """Whether simplejpeg's libjpeg-turbo decodes as OpenCV's does, here: a grey and a progressive 4:2:0 colour JPEG made
    now, each decoded by both. Both wheels bundle their own libjpeg-turbo, and a release may change a decoder's pixels
    (3.0.1 changed block smoothing): where they differ, OpenCV decodes every JPEG, so that no score moves."""
    img = (np.indices((37, 53, 3)).sum(axis=0) * 7 % 256).astype(np.uint8)  # an odd size: edges of blocks and of chroma
    try:
        for probe in (img[:, :, 0], img):
            jpeg = cv2.imencode(".jpg", probe, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
            opencv = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
            ours = simplejpeg.decode_jpeg(jpeg, colorspace="GRAY" if probe.ndim == 2 else "BGR", strict=True)
            if opencv is None or not np.array_equal(ours.reshape(opencv.shape), opencv):
                return False
    except Exception:  # the probe failed (out of memory, say): OpenCV decodes, never a photo's damage
        return False
    return True


def _jfif_1(data: bytes) -> bytes:
    """``data`` with its JFIF version 1.x (libjpeg warns of another major version, and reads the segment the same)."""
    out = bytearray(data)
    for marker, i in _headers(data):
        if marker == 0xE0 and data[i + 4 : i + 10].startswith(b"JFIF\0") and i + 9 < len(data):
            out[i + 9] = 1
    return bytes(out)


def _scans_sequential(data: bytes) -> bytes:
    """``data`` with every scan's progressive parameters as a sequential JPEG's (libjpeg warns of others, and ignores them)."""
    out = bytearray(data)
    first = next((i for marker, i in _headers(data) if marker == 0xDA), None)
    i = first
    while i is not None and 0 <= i <= len(data) - 4:  # later scans: in the coded data 0xFF is followed by 0x00 or a marker
        end = i + 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
        if i + 7 <= end <= len(data):  # a whole segment: its last three bytes are Ss, Se, Ah and Al
            out[end - 3 : end] = b"\x00\x3f\x00"
        i = data.find(b"\xff\xda", end)
    return bytes(out)


_IGNORED: dict[str, Callable[[bytes], bytes]] = {  # libjpeg-turbo's warnings about a field it ignores: its pixels as without it
    "Warning: unknown JFIF revision number": _jfif_1,
    "Invalid SOS parameters for sequential JPEG": _scans_sequential,
}


def png_damage(data: bytes) -> str | None:
    """Why the PNG ``data`` is not whole: a chunk that runs past the end, a critical chunk (IHDR, PLTE, IDAT) whose
    checksum is wrong, no end chunk; None when it is whole (what follows the end chunk is not read, as libpng reads it)."""
    return png_as_read(data)[1]


def png_as_read(data: bytes) -> tuple[bytes, str | None]:
    """The PNG ``data`` with the chunks OpenCV decodes its pixels from (the critical ones, and tRNS: transparency), and why
    it is not whole (None when it is). The others (a colour profile, text, gamma) change no pixel OpenCV gives, and libpng
    warns on stderr of one it finds wrong ("libpng warning: iCCP: known incorrect sRGB profile") for every such photo."""
    kept, i = [data[:8]], 8
    while i + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        end = i + 12 + length
        if end > len(data):
            return data, f"its {kind.decode('latin-1')!r} chunk runs past the end of the file (cut short)"
        checked = kind[:1].isupper() and kind != b"IEND"  # libpng only warns of the end chunk's checksum, and of an ancillary one
        if checked and zlib.crc32(data[i + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return data, f"its {kind.decode('latin-1')!r} chunk's checksum is wrong (damaged)"
        if kind[:1].isupper() or kind == b"tRNS":
            kept.append(data[i:end])
        if kind == b"IEND":
            return b"".join(kept), None
        i = end
    return data, "it ends before its end chunk (cut short)"


_DECODING = threading.Lock()  # OpenCV's log level is the process's: one decode at a time lowers and restores it


def decode(data: bytes) -> tuple[npt.NDArray[np.generic] | None, str]:
    """An image file's ``data`` decoded by OpenCV as it is stored, or None and why (" (its JPEG data is damaged: ...)",
    or "" when OpenCV alone refused it). OpenCV logs a file it cannot decode ("[ERROR] imdecode_ ... Unexpected end of
    input stream" for a BMP cut short) as well as answering None: held back, so that the station's one line names it.
    cv2.error for a header that claims more pixels than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS)."""
    if data.startswith(b"\xff\xd8"):
        data, damage, pixels = jpeg_as_read(data)
        if damage:
            return None, f" (its JPEG data is damaged: {damage})"
        if pixels is not None:  # decoded as OpenCV would, once (docs/benchmarks.md: 13.0 ms for a 1080p frame decoded twice, 4.8 once)
            return pixels, ""
    if data.startswith(PNG):
        data, damage = png_as_read(data)
        if damage:
            return None, f" (its PNG data is not whole: {damage})"
    with _DECODING:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), ""
        finally:
            cv2.utils.logging.setLogLevel(level)


def png_bytes(image: npt.NDArray[np.uint8], name: str) -> bytes:
    """``image`` as a PNG file's bytes; OSError saying ``name`` cannot be encoded where OpenCV refuses it (an empty crop, a
    picture of no size: by raising or by returning False), never a half-written file or a silent skip."""
    try:
        ok, buf = cv2.imencode(".png", image)
    except cv2.error as exc:
        raise OSError(errno.EINVAL, f"{name}: cannot be encoded as PNG ({str(exc).strip().splitlines()[-1]})") from None
    if not ok:
        raise OSError(errno.EINVAL, f"{name}: cannot be encoded as PNG")
    return bytes(buf.tobytes())
