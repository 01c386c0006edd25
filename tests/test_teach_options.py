"""station/teach/options.py: the teach command's options, typed once from its parser."""

from __future__ import annotations

from pathlib import Path

from station.teach.options import Asked

from .conftest import SAMPLE
from .teaching import asked


def test_the_options_are_typed_as_the_parser_checked_them_with_its_defaults() -> None:
    got = asked("--folds", "8", "--max-escape-rate", "1.5", "--base", "base.onnx", "--report", "r")
    assert got == Asked(
        sources=(str(SAMPLE),), out=Path("taught.onnx"), report=Path("r"), base=Path("base.onnx"), from_scratch=False, line="",
        max_escape_rate=1.5, max_false_reject_rate=3.0, seed=1, folds=8, epochs=60, lr=0.001, pits=0.0, margin=1.0, threads=2,
    )  # fmt: skip
    assert all(type(getattr(got, k)) is int for k in ("seed", "folds", "epochs", "threads"))
    assert all(type(getattr(got, k)) is float for k in ("max_escape_rate", "max_false_reject_rate", "lr", "pits", "margin"))
