"""How an archive lies on disk, for everyone who reads or writes it (the archive's thread, export, the review page):
``DIR/<day>/<kind>/<run>-<part>`` and the files of one part, listed without following a link out of the archive, and
a sidecar read strictly."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

from station.files import read_bounded

DAY, KIND, PART = r"[0-9]{4}-[0-9]{2}-[0-9]{2}", r"reject|pass", r"[0-9a-f]{1,64}-[0-9]{7,16}"  # <day>/<kind>/<run>-<part>


class Label(StrEnum):
    """An operator's label for an archived part: the review page's buttons, and where export sorts the part."""

    DEFECT = "defect"
    GOOD = "good"


LABELS = frozenset(label.value for label in Label)
STATION_LABELLER = "station"  # labels.csv's label_by for a part no operator labelled (its label is the station's verdict)
MAX_SIDECAR = 1 << 20  # bytes: the archive writes about 1 KB
CROP, FRAME, HEAT, SIDECAR = ".png", ".frame.png", ".heat.png", ".json"  # the files of one archived part
SUFFIXES = (FRAME, HEAT, CROP, SIDECAR)  # longest first (a frame's name ends as a crop's does), the sidecar last


def atomic_write(path: Path, data: bytes) -> None:
    """``data`` as ``path``, whole or not at all: a temp file of its own beside it, then a rename.

    Its own temp name, so two writers of one file (the archive thread, a review label) never share one.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise


def split_name(name: str) -> tuple[str, str | None]:
    """An archive file's name as the part's stem and which of its files it is (None: no file the archive writes)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return name, None


def kind_folders(root: Path, passed: Callable[[str], None] | None = None) -> Iterator[Path]:
    """``root``'s DAY/KIND folders, by name, links never followed: a linked folder leads out of the archive, where its
    quota would delete and the review page read and write. ``passed`` is told each folder passed over, and why."""
    for day in _folders(root, passed):
        yield from _folders(day, passed)


def _folders(at: Path, passed: Callable[[str], None] | None = None) -> list[Path]:
    """``at``'s folders but hidden ones (a desktop's .Trash-1000 on an archive disk: its parts are no longer archived) and
    links; ``passed`` is told of each of those, and of ``at`` when it cannot be listed."""
    entries = _entries(at, passed)
    if passed is not None:
        for e in entries:
            if why := _passed_over(e) or _not_a_folder(e):
                passed(f"{e.path}: {why}")
    return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]


def _entries(at: Path, passed: Callable[[str], None] | None) -> list[os.DirEntry[str]]:
    """``at``'s entries by name; none when it is not there yet, or cannot be listed (``passed`` is told of that)."""
    try:
        return sorted(os.scandir(at), key=lambda e: e.name)
    except OSError as exc:  # nothing archived there to count
        if passed is not None and at.exists():
            passed(f"{at}: cannot be listed ({exc.strerror or exc})")
        return []


def _passed_over(e: os.DirEntry[str]) -> str:
    """Why the archive's readers pass over this entry, when it is a folder they pass over (or a link to one)."""
    try:
        if e.is_symlink() and e.is_dir():
            return "a link to a folder, never followed (it may lead out of the archive)"
        if e.is_dir(follow_symlinks=False) and e.name.startswith("."):
            return "a hidden folder (a desktop's trash, say), not read as part of the archive"
    except OSError:  # a link that loops or cannot be looked through: no folder
        pass
    return ""


def _not_a_folder(e: os.DirEntry[str]) -> str:
    """Why an entry where the archive keeps its DAY and KIND folders is passed over when it is no folder; "" for one."""
    with contextlib.suppress(OSError):  # a link that loops: no folder
        if e.is_dir():
            return ""
    return "not a folder, where the archive keeps its DAY/KIND folders: not read"


def sidecars(root: Path, passed: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Every entry named as a sidecar in the archive at ``root`` but folders, folder by folder: :func:`read_sidecar` names
    what is none (a pipe, a link). ``passed`` is told each folder passed over, and why (:func:`kind_folders`), and each
    other entry of a KIND folder that is no part's (:func:`_stray`)."""
    for folder in kind_folders(root, passed):
        entries = _entries(folder, passed)
        sides = {e.name for e in entries if e.name.endswith(SIDECAR) and not e.is_dir(follow_symlinks=False)}
        parts = {name[: -len(SIDECAR)] for name in sides}
        for e in entries:
            if e.name in sides:
                yield Path(e.path)
            elif passed is not None and (why := _stray(e, parts)):
                passed(f"{e.path}: {why}")


def _stray(e: os.DirEntry[str], parts: set[str]) -> str:
    """Why an entry of a KIND folder that is no sidecar is passed over: a folder, a file of no part (its sidecar gone, or
    no file the archive writes); "" for one named as a part's crop, frame or heat map beside its sidecar (the sidecar's
    reading says what is wrong with it)."""
    stem, suffix = split_name(e.name)
    if suffix is not None and stem in parts:
        return ""
    if e.is_dir(follow_symlinks=False):
        return "a folder where the archive keeps a part's files, not read"
    return "no file the archive writes, not read" if suffix is None else "no sidecar beside it (the part's facts are gone), not exported"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is no number the archive writes")


def _finite(text: str) -> float:
    if not math.isfinite(value := float(text)):  # 1e999: a number too large for a float, read as inf
        raise ValueError(f"{text[:20]} is no number the archive writes")
    return value


def read_sidecar(side: Path) -> dict[str, Any]:
    """An archived part's sidecar as the archive wrote it (a JSON object in a regular file); ValueError saying why not.

    A pipe or a device named ``.json`` is never opened (the read would block), nor a link, nor a file far larger than a
    sidecar; NaN, Infinity and nesting deeper than Python's stack (a RecursionError) are no sidecar either.
    """
    try:
        meta = json.loads(read_bounded(side, MAX_SIDECAR, "a sidecar", follow=False), parse_constant=_no_constant, parse_float=_finite)
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        if isinstance(exc, RecursionError):
            exc = ValueError("nested too deep")
        raise ValueError(f"not a sidecar the archive wrote ({getattr(exc, 'strerror', None) or exc})") from None
    if not isinstance(meta, dict):
        raise ValueError("not a sidecar the archive wrote (not a JSON object)")
    return meta
