"""An image file's width and height as its header claims them, read before anything is decoded.

A file of a few kilobytes can claim 16000 x 16000 pixels of 16-bit colour, gigabytes once decoded:
the station refuses an image too large to inspect from its header, never after decoding it. The
still formats the station reads (``config.STILLS``): JPEG, PNG, BMP, TIFF, PGM/PNM and WebP, from
the whole file (a TIFF's size table often follows its pixels; a JPEG's frame header, its metadata).
A header this does not know (BigTIFF, another format, a truncated file) gives None, and the station
does not decode it (``sources.read_image``).

A JPEG whose data is damaged is decoded by OpenCV with a warning on stderr and grey where its data
ran out: :func:`jpeg_damage` decodes it once more with libjpeg-turbo told to stop at its first
warning, so that such a file is refused, not inspected with a band of invented grey.
"""

from __future__ import annotations

import re
import struct

import simplejpeg

Size = tuple[int, int]  # width, height
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_JPEG_BARE = set(range(0xD0, 0xDA)) | {0x01}  # markers without a length: RSTn, SOI, EOI, TEM
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
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_BARE:
            i += 2
            continue
        if marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        if marker == 0xDA:  # the scan begins before any frame header: not a JPEG to trust
            return None
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


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
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), data[at + 8 : at + (10 if kind == 3 else 12)])[0]
    return (found[256], found[257]) if len(found) == 2 else None


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
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8", _jpeg),
    (b"BM", _bmp),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
    (b"P", _pnm),
    (b"RIFF", _webp),
)


def jpeg_damage(data: bytes) -> str | None:
    """Why the JPEG ``data`` does not decode whole (libjpeg-turbo's first warning: "Corrupt JPEG data: premature end
    of data segment"); None when it does."""
    if not data.rstrip(b"\0").endswith(b"\xff\xd9"):  # whole but for its end marker (some writers drop it): judged on its data
        data += b"\xff\xd9"
    try:
        simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True)
    except (ValueError, RuntimeError, MemoryError) as exc:
        return str(exc).strip() or type(exc).__name__
    return None
