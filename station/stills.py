"""Still images as frames: one image file read as grey (:func:`read_image`), the files below a folder that may be
images (:func:`files_below`), and a folder of images (or one image) as a recording whose every frame is a part."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import structlog

from station.errors import CameraError, InputError, one_line
from station.files import read_bounded, why
from station.frame_source import Grab, QuickOpen
from station.imagesize import claimed_size, decode, several_images
from station.preprocess import to_gray
from station.source_kind import STILLS

MAX_IMAGE_BYTES = 256 * 1024 * 1024
MAX_IMAGE_SIDE = 12000  # px: a photo larger than this is no part's on a belt
IMAGE_SUFFIXES = set(STILLS)
GOOD, DEFECTIVE = "ok_front", "def_front"  # a labelled folder's two subfolders (the training photos' layout)
LABELLED = {GOOD: 0, DEFECTIVE: 1}  # each subfolder's label (0 good, 1 defective), good first: eval, teach, the gate, footage
log = structlog.get_logger()


def read_image(path: Path) -> Grab:
    """Decode one image file as 8-bit grey, or say why it cannot be (a dangling or looping link, a pipe, ...)."""
    try:
        raw = read_bounded(path, MAX_IMAGE_BYTES, "one image")
    except OSError as exc:  # a dangling or looping link, vanished, no permission, a pipe or a device, too large
        return Grab(None, f"{path}: {why(exc, 'cannot read file')}", str(path))
    return decoded(raw, str(path), str(path))


def decoded(raw: bytes, label: str, name: str | None) -> Grab:
    """One image file's bytes (a photo's, or a frame a Motion-JPEG video or stream carries) as 8-bit grey, or why not
    (``label``: the file or frame, for the message; ``name``: the Grab's). Damage libjpeg-turbo finds is refused, where
    FFmpeg would hide it (a frame cut short came out grey below the cut, and the parts on it went by unjudged)."""
    if not raw:
        return Grab(None, f"{label}: empty file", name)
    claimed = claimed_size(raw)  # never decoded when too large: a small file may claim gigabytes
    if claimed is None:  # OpenCV decodes by content (a GIF named .png too), each format with its own limits or none
        return Grab(None, f"{label}: not a decodable image (no JPEG, PNG, BMP, TIFF, PNM or WebP header that says its size)", name)
    if max(claimed) > MAX_IMAGE_SIDE:
        return Grab(None, f"{label}: image is {claimed[0]}x{claimed[1]} px, larger than {MAX_IMAGE_SIDE} px", name)
    if several_images(raw):
        return Grab(None, f"{label}: holds several images (pages or frames): one photo a part, each in a file of its own", name)
    try:  # OpenCV raises for a header that claims more pixels than it will decode (CV_IO_MAX_IMAGE_PIXELS)
        img, refused = decode(raw)
    except cv2.error as exc:
        return Grab(None, f"{label}: not a decodable image (OpenCV refused it: {one_line(str(exc.err or exc))} is false)", name)
    if img is None:
        return Grab(None, one_line(f"{label}: not a decodable image{refused}"), name)
    try:
        gray = to_gray(img)
    except (ValueError, cv2.error) as exc:
        return Grab(None, f"{label}: {exc}", name)
    if min(gray.shape) < 32:
        return Grab(None, f"{label}: image is {gray.shape[1]}x{gray.shape[0]} px, too small to inspect", name)
    if max(gray.shape) > MAX_IMAGE_SIDE:  # a header that claimed less than it held
        return Grab(None, f"{label}: image is {gray.shape[1]}x{gray.shape[0]} px, larger than {MAX_IMAGE_SIDE} px", name)
    return Grab(gray, None, name)


def files_below(folder: Path, strict: bool = False) -> list[tuple[Path, str | None]]:
    """Every entry below ``folder`` but its folders, in name order, each with why it is not an image to read (None: it may be).

    Named, never opened: an entry that is not a regular file (a link that leads nowhere, a pipe, a
    device), a name without an image extension, a hidden file, a linked folder (not followed: no loops), a hidden
    folder (``.thumbnails``, a NAS's ``@eaDir``: not read) and a folder that cannot be listed; with
    ``strict``, a folder that cannot be listed, or whose files cannot be looked at (``folder`` itself or one below it),
    is an InputError.
    """
    found: list[tuple[Path, str | None]] = []

    def unlistable(exc: OSError) -> None:
        name = Path(exc.filename) if exc.filename else folder
        why = f"{name}: cannot list folder: {exc.strerror or exc}"
        if strict:
            raise InputError(why)
        found.append((name, why))

    for top, dirs, files in os.walk(folder, followlinks=False, onerror=unlistable):
        here = Path(top)
        found += [(here / d, f"{here / d}: a linked folder, not followed") for d in dirs if (here / d).is_symlink()]
        found += [(here / d, f"{here / d}: a hidden folder, not read") for d in dirs if d.startswith((".", "@"))]
        dirs[:] = [d for d in dirs if not d.startswith((".", "@"))]
        for f in files:
            try:
                found.append((here / f, _not_an_image(here / f)))
            except OSError as exc:  # listed, but its files cannot be looked at (a folder readable, not searchable)
                if strict:
                    raise InputError(f"{here}: cannot read the files in it: {exc.strerror or exc}") from None
                found.append((here / f, f"{here / f}: cannot be read: {exc.strerror or exc}"))
    return sorted(found, key=lambda x: x[0])


def beside_labels(root: Path, used: tuple[str, ...] = ()) -> str | None:
    """One line naming what the labelled folder ``root`` holds beside its ``ok_front/`` and ``def_front/`` (and ``used``:
    what else the caller reads there) that is never read: photos at its top, a misnamed folder (``def_front_2/``), a video;
    None when there is nothing. A folder that cannot be listed is left to the reading of its label folders."""
    try:
        names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(root) if e.name not in (*LABELLED, *used))
    except OSError:
        return None
    if not names:
        return None
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{root}: not read, as not in {GOOD}/ or {DEFECTIVE}/: {shown} (a photo counts only inside one of them)"


def _not_an_image(p: Path) -> str | None:
    if p.name.startswith("."):  # a Mac's ._NAME.jpeg beside each photo copied from it holds no image
        return f"{p}: a hidden file, not read"
    if p.is_symlink() and not p.exists():
        return f"{p}: a link that leads nowhere (or to itself)"
    if not p.is_file():
        return f"{p}: not a regular file"
    return None if p.suffix.lower() in IMAGE_SUFFIXES else f"{p}: not an image file (by extension)"


class ImageFolderSource(QuickOpen):
    """Each image in a folder is one part, in name order. Other files are reported, not read."""

    live = False

    def __init__(self, folder: Path, fps: float | None) -> None:
        super().__init__()
        self.name = str(folder)
        self.fps = fps
        self._folder = folder
        self._files: list[Path] = []
        self._next = 0
        self.frame_count: int | None = None

    def open(self) -> None:
        if not self._folder.is_dir():
            raise CameraError(f"{self._folder}: not a folder")
        # every entry but a folder: a dangling or looping link named .jpg is a part whose image cannot be read
        self._files = []
        for p in sorted(self._folder.iterdir()):
            if p.is_dir():  # said, as classify and eval read below it: here its images would be missing without a word
                log.warning("folder_not_read", folder=str(p), reason="replay reads the images in the folder itself, not below it")
            elif p.name.startswith("."):  # a file being written (.name.tmp), a thumbnail: skipped as classify and eval do
                log.warning("file_not_an_image", file=str(p), reason="a hidden file; not a part")
            elif p.suffix.lower() not in IMAGE_SUFFIXES:
                log.warning("file_not_an_image", file=str(p), reason="extension is not an image type; not a part")
            else:
                self._files.append(p)
        if not self._files:
            raise CameraError(f"{self._folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it; folders in it are not read")
        self.frame_count = len(self._files)

    def read(self) -> Grab | None:
        if self._next >= len(self._files):
            return None
        path = self._files[self._next]
        self._next += 1
        return read_image(path)

    def close(self) -> None:
        self._files = []


class SingleImage(ImageFolderSource):
    """One image file as a one-part recording."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.parent, None)
        self._one = path

    def open(self) -> None:
        self._files = [self._one]
        self.frame_count = 1
