"""``station classify``: images in, one JSON line each, through the daemon's own stage handlers."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from station.errors import InputError, one_line
from station.files import append_line, inputs_apart, open_append
from station.messages import Frame, Part, Reason, Verdict
from station.metrics import Metrics
from station.model import Model
from station.reload import ModelSlot
from station.stages.decision import DecisionStage
from station.stages.inference import InferenceStage
from station.stages.preprocess import PreprocessStage
from station.stills import IMAGE_SUFFIXES, files_below, read_image


def iter_images(paths: list[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each file to classify, or a reason it is not one; folders are searched recursively."""
    for p in paths:
        if p.is_dir():
            yield from files_below(p)
        elif p.exists() or p.is_symlink():
            yield p, None  # read_image says why a link, a pipe or an unreadable file cannot be classified
        else:
            yield p, f"{p}: no such file or folder"


class Classifier:
    """Frame-mode inspection of single images with the daemon's preprocess, model and decision."""

    def __init__(self, model: Model, metrics: Metrics | None = None) -> None:
        m = metrics or Metrics()
        slot = ModelSlot(model)
        self.crop = PreprocessStage(slot, m)
        self.infer = InferenceStage(slot, m)
        self.decide = DecisionStage(model.info, m)

    def verdict(self, path: Path, part_id: int = 0) -> tuple[Verdict | None, str | None]:
        grab = read_image(path)
        if grab.image is None:
            return None, grab.error
        return self.judge(grab.image, str(path), part_id), None

    def judge(self, image: npt.NDArray[np.uint8], name: str, part_id: int = 0) -> Verdict:
        """The verdict on one image already read (``name``: its file, for the verdict)."""
        part = Part(part_id, Frame(0, image, time.monotonic(), time.time(), name=name))
        return self.decide(self.infer(self.crop(part)[0])[0])[0]


def classify_paths(paths: list[Path], model: Model, out_path: Path | None, read: Sequence[Path] = ()) -> int:
    """Exit 0 when images were classified (files that could not be, each reported on stderr); 2 when none."""
    clf = Classifier(model)
    if out_path is not None:  # opened for writing first: an image given would be emptied before it is read
        inputs_apart(out_path, "--out", paths, IMAGE_SUFFIXES, [model.path, *read])  # read: its config and what it names
    try:
        out: IO[str] = open_append(out_path, truncate=True) if out_path else sys.stdout  # a pipe nothing reads: refused
    except OSError as exc:
        raise InputError(f"{out_path}: cannot write the verdicts there (--out): {exc.strerror or exc}") from None
    unreadable = classified = 0
    try:
        for n, (path, why) in enumerate(iter_images(paths)):
            v, err = (None, why) if why else clf.verdict(path, n)
            if v is None:
                unreadable += 1
                print(one_line(f"station: skipped {err}"), file=sys.stderr)
                continue
            classified += 1
            row: dict[str, object] = {"path": str(path), "verdict": v.verdict, "reason": v.reason.value, "score": v.score}
            if v.where is not None:
                row["where"] = list(v.where)
            if v.reason is not Reason.OK:
                row["detail"] = v.detail
            try:
                append_line(out, json.dumps(row) + "\n")
            except OSError as exc:  # a full disk: nothing after it could be written either; no torn line left
                where = f"{out_path} (--out)" if out_path else "standard output"
                raise InputError(f"{where}: cannot write: {exc.strerror or exc}; stopped after {classified - 1} "
                                   f"images classified, {path} and those after it not") from None  # fmt: skip
    finally:
        if out_path:
            with contextlib.suppress(OSError):  # the last flush on a full disk: said above
                out.close()
    if unreadable:
        print(f"station: classified {classified} images, skipped {unreadable} files", file=sys.stderr)
    elif not classified:  # an empty folder: exit 2 says nothing by itself
        print(one_line(f"station: error: no image files in {', '.join(map(str, paths))}"), file=sys.stderr)
    return 0 if classified else 2
