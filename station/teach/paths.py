"""The files a teaching writes, checked before it starts: the taught model (``--out``) and its report (``--report``).

Teaching takes minutes; what would make it fail or destroy something at the end is refused at once: an ``--out``
that is the base model, the shipped one, a model or any other file the config names, a photo or ground truth it
reads, a place inside the report, a folder, a link or device, a file that is not a model (.onnx), or a name too long to be
written beside itself first.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from station.config import DEFAULTS, SHIPPED_MODEL, Config, read_with
from station.errors import InputError
from station.files import not_read, real, report_apart
from station.offline.evaluate import report_folder
from station.teach.report import REPORT_FILES
from station.teach.samples import read_by


def check_paths(args: argparse.Namespace, base: Path, cfg: Config) -> None:
    """Refuse at once what would only fail after minutes of teaching: an --out that cannot be written, or a file the
    station has: the base, the shipped model, the config's live or shadow model (a taught model goes live by a config
    edit, after its shadow run: docs/commissioning.md), any other file or folder the config names."""
    out = Path(args.out)
    if len(os.fsencode(part_path(out).name)) > _name_max(out.parent):  # .NAME.PID.part: known now, not after teaching
        raise InputError(f"{out}: --out's file name is too long for its folder (the model is written beside it first, "
                         f"as {part_path(out).name[:24]}...); give a shorter name")  # fmt: skip
    where = real(out)
    if where == real(base):
        raise InputError(f"{out}: --out is the base model itself; write the taught model to another file")
    taken = [(SHIPPED_MODEL, "the shipped model"), (cfg.model.path, "model.path, the model the station runs"),
             (cfg.model.shadow, "model.shadow, the model the station runs in shadow")]  # fmt: skip
    for path, what in taken:
        if path is not None and where == real(Path(path)):
            raise InputError(f"{out}: --out is {what}; write the taught model to a new file, then point the config at it")
    read = [DEFAULTS.parent, base, *(p for src in args.sources for p in read_by(Path(src))), *read_with(args.config, cfg)]
    not_read(out, "--out", read)  # a photo, a ground truth, the config, a file it names (a key, the review token, the archive)
    not_read(Path(args.report), "--report", read)
    report_apart(Path(args.report), REPORT_FILES, read)  # a config or model kept in the report folder under a report's name
    if out.is_dir():
        raise InputError(f"{out}: --out is a folder; give the taught model's file name (e.g. {out / 'line.onnx'})")
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise InputError(f"{out}: cannot write the model there (no such folder, or not writable)")
    if (out.exists() and not out.is_file()) or out.is_symlink():  # a device, a pipe or a link would be replaced by the model
        raise InputError(f"{out}: not a regular file; write the taught model to a new file or over an old model")
    if out.is_file() and out.suffix.lower() != ".onnx":  # a note, a photo, a settings file: teaching replaces only a model
        raise InputError(f"{out}: --out is a file that is not a model (.onnx); write the taught model to a new file or over an "
                         "old model")  # fmt: skip
    if where == real(Path(args.report)):
        raise InputError(f"{out}: --out and --report are the same path")
    if where.is_relative_to(real(Path(args.report))):  # the report's next writing would replace it, or delete it as a picture
        raise InputError(f"{out}: --out is inside --report {args.report}, which teaching rewrites; write the model elsewhere")
    report_folder(Path(args.report))


def part_path(out: Path) -> Path:
    """Where the taught model is written first, beside ``out``, until the station's gate has taken it."""
    return out.with_name(f".{out.name}.{os.getpid()}.part")


def _name_max(folder: Path) -> int:
    """The longest file name ``folder``'s file system takes, in bytes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
