"""What a ``camera.source`` string names: a camera, a stream, a pipeline, an image folder, an image or a video file,
by its prefix, or as a path by what is there and its suffix."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

USB = ("usb:", "/dev/video")  # camera.source prefixes, by kind (sources.source_for)
NETWORK = ("rtsp://", "rtsps://", "http://", "https://")
STILLS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".pnm", ".webp")  # camera.source suffixes of a single image


class SourceKind(StrEnum):
    """What a ``camera.source`` string names, by its prefix, or as a path by what is there and its suffix; declared once for
    the source it opens (``sources.source_for``), the settings it takes, and the keys it reads (``config_warnings``)."""

    USB = "a USB camera"
    GIGE = "a GigE camera"
    NETWORK = "a network stream"
    PIPELINE = "a GStreamer pipeline"
    FOLDER = "an image folder"
    STILL = "an image"
    VIDEO = "a video file"


def host_of(url: str) -> str | None:
    """The host a stream's URL names (None: none, or no URL Python can read: ``https://[::1``, a port out of range)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    return parts.hostname


def source_kind(src: str) -> SourceKind:
    prefixes = ((USB, SourceKind.USB), (("gige:",), SourceKind.GIGE), (NETWORK, SourceKind.NETWORK), (("gst:",), SourceKind.PIPELINE))
    for prefix, kind in prefixes:
        if src.startswith(prefix):
            return kind
    path = Path(src)
    with contextlib.suppress(OSError):  # a name too long for the file system: no folder, and opening it says why
        if path.is_dir():
            return SourceKind.FOLDER
    return SourceKind.STILL if path.suffix.lower() in STILLS else SourceKind.VIDEO


LIVE = (SourceKind.USB, SourceKind.GIGE, SourceKind.NETWORK, SourceKind.PIPELINE)
IMAGES = (SourceKind.FOLDER, SourceKind.STILL)  # read as an image folder (stills.ImageFolderSource)
