"""What ``station teach`` was asked, typed once from its command line (``cli_args.teach_parser`` declares each option)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Asked:
    """The teach command's options, as the parser checked them; the gate's rates in percent, as given."""

    sources: tuple[str, ...]
    out: Path
    report: Path
    base: Path | None
    from_scratch: bool
    line: str
    max_escape_rate: float
    max_false_reject_rate: float
    seed: int
    folds: int
    epochs: int
    lr: float
    pits: float
    margin: float
    threads: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> Asked:
        """The options of a parsed ``teach`` command line."""
        return cls(
            sources=tuple(args.sources), out=Path(args.out), report=Path(args.report), base=args.base, from_scratch=args.from_scratch,
            line=args.line, max_escape_rate=args.max_escape_rate, max_false_reject_rate=args.max_false_reject_rate, seed=args.seed,
            folds=args.folds, epochs=args.epochs, lr=args.lr, pits=args.pits, margin=args.margin, threads=args.threads,
        )  # fmt: skip
