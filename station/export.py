"""``station archive export``: the archive's crops as a labelled folder that ``station eval`` and ``station teach`` read.

def_front/ and ok_front/ by the operator's label (the review page) or else the station's own verdict, review/ for the
rest, and ``labels.csv`` beside them: each crop's file, the station's reason and score, who labelled it, and its pixels'
digest, by which teaching knows a crop the export wrote from a file put there under its name.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.archive_layout import CROP, STATION_LABELLER, Label, read_sidecar, sidecars
from station.errors import InputError
from station.files import read_bounded, replace_file, to_cell
from station.imagesize import PNG, png_damage
from station.stills import DEFECTIVE, GOOD, MAX_IMAGE_BYTES
from station.wire import REASONS, Reason

LABEL_FOLDERS = {Label.DEFECT.value: DEFECTIVE, Label.GOOD.value: GOOD}  # an operator's label -> where export puts the part
REASON_LABELS = {Reason.DEFECT.value: Label.DEFECT.value, Reason.OK.value: Label.GOOD.value}  # the station's own reason, unlabelled


@dataclass
class Exported:
    """What ``export`` wrote, by folder, and each archived part it could not use, with why."""

    counts: dict[str, int]
    skipped: list[str]
    archived: int = 0  # parts found in the archive (sidecars), exported or not


def export(archive: Path, out: Path, reviewed_only: bool = False) -> Exported:
    """Copy the archive's crops into a training layout: def_front/, ok_front/, and review/ for the rest.

    A part an operator labelled (the sidecar's ``review``) goes where the operator put it; an
    unlabelled one goes by the station's own reason (defect, ok), the rest to review/. With
    ``reviewed_only`` only the operator-labelled parts are written: the folder ``station eval`` and
    ``station teach`` can trust. A part the station located nowhere (the trigger refused it: too
    large, never seen whole; or no rim found) was kept as the trigger's box round it or its whole
    frame, parts of others in it, centred on no rim: review/ whatever its label. ``out`` must be new
    or empty (an earlier export left in it could put one part under both labels); InputError naming
    it otherwise. A part whose sidecar or crop cannot be read is skipped and named, never silently.
    ``labels.csv`` has a row for each crop written (:data:`COLUMNS`).

    The export is made in a folder beside ``out`` and renamed to it once whole: one stopped or failed partway (a stop, a
    full disk) leaves nothing at ``out`` and is removed. (Before 2026-12-07 it left crops sorted by the station's own
    verdict and no ``labels.csv``, or one cut short, which said nothing of them: teach then took them as an operator's.)
    """
    whole = Path(os.path.abspath(out))  # "." has no name to make a folder beside
    if whole == Path.cwd():
        raise InputError(f"{out}: the current folder; export into a new folder (it is made beside it, then renamed to it)")
    made = not out.exists()
    _empty_folder(out, ())
    stage = whole.with_name(f".{whole.name}.{os.getpid()}.export")
    try:
        done = _export_into(archive, stage, out, reviewed_only)
        os.replace(stage, whole)  # over the empty folder checked above: from here the export is whole, whatever comes
    except BaseException:
        if stage.exists():  # not renamed: nothing of it may stay
            shutil.rmtree(stage, ignore_errors=True)
            if made:
                with contextlib.suppress(OSError):
                    out.rmdir()
        raise
    return done


def _export_into(archive: Path, out: Path, final: Path, reviewed_only: bool) -> Exported:
    """:func:`export`'s work, into the new folder ``out``, renamed ``final`` once whole (named in what goes wrong)."""
    _empty_folder(out, (DEFECTIVE, GOOD))  # even empty: a labelled folder, which teach and eval count
    done = Exported({DEFECTIVE: 0, GOOD: 0, "review": 0}, [])
    rows = [list(COLUMNS)]
    for side in sidecars(archive, done.skipped.append):  # links never followed, each folder passed over named
        done.archived += 1
        try:
            meta, review = _sidecar(side)
        except ValueError as exc:
            done.skipped.append(f"{side}: {exc}")
            continue
        crop = side.with_suffix(CROP)
        if reviewed_only and review is None:
            continue
        label = review["label"] if review is not None else REASON_LABELS.get(str(meta.get("reason")))
        nowhere = "circle" in meta and meta["circle"] is None  # no rim located: the crop is a box or the frame
        folder = "review" if nowhere else LABEL_FOLDERS.get(str(label), "review")
        dest = out / folder / crop.name
        try:
            data = _crop(crop, dest)
            _write(dest, data)
            digest = hashlib.sha256(data).hexdigest()
        except OSError as exc:
            done.skipped.append(f"{crop}: {getattr(exc, 'strerror', None) or exc}")
            continue
        done.counts[folder] += 1
        rows.append(_row(f"{folder}/{crop.name}", meta, review["by"] if review is not None else STATION_LABELLER, digest))
    text = io.StringIO(newline="")
    csv.writer(text).writerows([[to_cell(c) for c in row] for row in rows])
    try:
        replace_file(out / "labels.csv", text.getvalue().encode("utf-8", "backslashreplace"))  # a sidecar's odd text
    except OSError as exc:
        raise InputError(f"{final / 'labels.csv'}: cannot write: {exc.strerror or exc}") from None
    return done


COLUMNS = ("file", "reason", "score", "model", "captured_at", "label_by", "part_id", "frame", "image", "captured", "circle", "sha256")


def _row(file: str, meta: dict[str, Any], by: str, digest: str) -> list[str]:
    """A crop's row of labels.csv: the sidecar's facts (empty where it has none), who labelled it, the capture time in UTC
    (to find the part in the line's own records), the circle it was inspected on (``null``: located nowhere, its crop a
    box or a frame; empty: a sidecar from before circles were kept) and the SHA-256 of the crop file as written, by which
    teaching knows it."""

    def text(key: str) -> str:
        value = meta.get(key)
        return "" if value is None else str(value)

    return [file, text("reason"), text("score"), text("model"), text("captured_at"), by, text("part_id"), text("frame"),
            text("image"), _utc(meta.get("captured_at")), json.dumps(meta["circle"]) if "circle" in meta else "", digest]  # fmt: skip


def _utc(at: object) -> str:
    """A sidecar's epoch time as ISO 8601 in UTC; empty for anything that is no time (a hostile sidecar's too)."""
    if isinstance(at, bool) or not isinstance(at, int | float):
        return ""
    try:
        return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return ""


def _write(dest: Path, data: bytes) -> None:
    """``data`` written to the new file ``dest``, or OSError and no file: one written in part (a full disk) is removed, so
    that no crop cut short lies in a label folder."""
    dest.parent.mkdir(exist_ok=True)
    try:
        dest.write_bytes(data)
    except OSError:
        with contextlib.suppress(OSError):  # never made, or its folder unwritable: nothing of it to remove
            dest.unlink(missing_ok=True)
        raise


def _empty_folder(out: Path, below: tuple[str, ...]) -> None:
    """``out``, new or empty, with the folders ``below`` made in it; InputError naming it otherwise."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if any(out.iterdir()):
            raise InputError(f"{out}: not empty; export into a new folder (an earlier export in it could label a part twice)")
        for name in below:
            (out / name).mkdir()
    except OSError as exc:
        raise InputError(f"{out}: cannot make the export folder: {exc.strerror or exc}") from None


def _crop(crop: Path, dest: Path) -> bytes:
    """The bytes of the archived ``crop`` to export to ``dest``; OSError saying why it is none: a link (it could lead
    anywhere), not a PNG file, a PNG not whole (cut short as the disk filled: teach and eval would refuse it, unlabelled
    by then), or a name another part exported already has."""
    if crop.is_symlink() or not crop.is_file():
        raise OSError("no crop beside it (or a link, or not a file)")
    data = read_bounded(crop, MAX_IMAGE_BYTES, "a crop", follow=False)
    if not data.startswith(PNG):
        raise OSError("the crop is not a PNG image")
    if damage := png_damage(data):
        raise OSError(f"the crop's PNG data is not whole: {damage}")
    if dest.exists():
        raise OSError(f"a crop of that name was exported already ({dest}): two archives' parts share a name")
    return data


def _sidecar(side: Path) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The sidecar's fields and the operator's review (None: not reviewed); ValueError saying why it cannot be used."""
    meta = read_sidecar(side)
    reason = meta.get("reason")
    if not isinstance(reason, str) or reason not in REASONS:  # as labels.csv is read, as strictly (a list: unhashable)
        raise ValueError(f"its reason {json.dumps(reason)[:40]} is not one of the station's")
    review = meta.get("review")
    if review is None:
        return meta, None
    label = review.get("label") if isinstance(review, dict) else None
    if not isinstance(label, str) or label not in LABEL_FOLDERS or not isinstance(review.get("by"), str):
        raise ValueError(f"its review is not {{label: defect|good, by, at}}: {json.dumps(review)[:80]}")
    return meta, review
