"""What the teaching tests share: a quick teaching of the bundled sample, and the model it writes (taught once a session)."""

from __future__ import annotations

from pathlib import Path

from station.cli import build_parser, main
from station.teach.options import Asked

from .conftest import SAMPLE

QUICK = ["--epochs", "1", "--folds", "2", "--seed", "3"]


def teach_sample(tmp_path: Path, *extra: str, source: Path = SAMPLE) -> tuple[int, Path, Path]:
    """``station teach`` of ``source`` (the bundled sample) with QUICK settings, those ``extra`` names in it replaced (an
    option is given once): its exit code, model and report paths."""
    out, report = tmp_path / "taught.onnx", tmp_path / "report"
    quick = [x for i in range(0, len(QUICK), 2) if QUICK[i] not in extra for x in QUICK[i : i + 2]]
    code = main(["teach", str(source), "--out", str(out), "--report", str(report), "--line", "test line", *quick, *extra])
    return code, out, report


def asked(*options: str) -> Asked:
    """The teach command's options for ``options``, as its own parser reads them (a source and --out given)."""
    return Asked.of(build_parser().parse_args(["teach", str(SAMPLE), "--out", "taught.onnx", *options]))
