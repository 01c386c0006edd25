"""The command line's arguments: the parser (a bad command line is one line, an option given once), the options common
to the commands, argparse types that make a bad value a usage error (exit 2) naming the option, and the ``teach``
command's many options."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from station.errors import one_line


class _Once(argparse._StoreAction):
    """An option that takes one value, given once: argparse kept the last of ``-c a.yaml -c b.yaml`` without a word."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None) -> None:
        seen = f"_given_{self.dest}"
        if getattr(namespace, seen, False):
            raise argparse.ArgumentError(self, "given twice: give it once")
        setattr(namespace, seen, True)
        super().__call__(parser, namespace, values, option)


class Parser(argparse.ArgumentParser):
    """A bad command line is one line, as any bad input is (argparse printed its usage block above it); ``--help`` shows
    the usage. Its subcommands' parsers are of this class too (argparse makes them of their parent's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _Once)  # every option that stores one value
        self.register("action", "store", _Once)

    def error(self, message: str) -> NoReturn:
        self.exit(2, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def common(p: argparse.ArgumentParser) -> None:
    """The options every command that reads the config takes: -c and --set."""
    p.add_argument("-c", "--config", type=Path, help="config file (default: the packaged station/defaults/station.yaml)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key (dotted path, YAML value)"
    )


def at_least(low: float, kind: type[int] | type[float], high: float | None = None) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` in [low, high]; anything else is a usage error (exit 2) naming it."""

    def parse(text: str) -> float:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not math.isfinite(v) or v < low or (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"{text} is out of range ({low} to {high if high is not None else 'any'})")
        return v

    return parse


MOST_EPOCHS = 1000  # passes over the parts: the default is 60; more than this would teach for days, not minutes
SEED = at_least(0, int, 2**32 - 1)  # what NumPy's and PyTorch's generators both take


def report_folder(text: str) -> str:
    """An argparse type: a report folder's path; an empty one (Path("") is the working directory) is a usage error."""
    if not text:
        raise argparse.ArgumentTypeError("give the report's folder (an empty path would write it into the working directory)")
    return text


def key_folder(text: str) -> str:
    """An argparse type: the folder a key pair is written to; an empty one (an unset ``$KEYDIR``) would be the working
    directory, where a secret key does not belong unasked: a usage error ('.' asks for it)."""
    if not text:
        raise argparse.ArgumentTypeError("give the keys' folder (an empty path would write the secret key into the working directory)")
    return text


def model_file(text: str) -> Path:
    """An argparse type: a model file's path; one with no file name ("", ".", "/", "..") is a usage error."""
    if Path(text).name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} names no file: give the taught model's file name (e.g. line.onnx)")
    return Path(text)


MAX_LINE_NAME = 100  # characters: a name, shown in the teaching report and the model's teach record


def line_name(text: str) -> str:
    """An argparse type: a line's name, one short line of printable characters (a newline would break the one-line logs
    it is quoted in; a page of text is no name), told before minutes of teaching, not when the model is written."""
    if len(text) > MAX_LINE_NAME or not text.isprintable():
        raise argparse.ArgumentTypeError(f"a line's name is up to {MAX_LINE_NAME} printable characters, on one line (e.g. 'line 3')")
    return text


def teach_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """The ``teach`` command's parser, added to ``sub``."""
    from station.teach.finetune import Recipe
    from station.teach.threshold import FOLDS, MARGIN, MOST_MARGIN, Gate

    p = sub.add_parser("teach", help="fine-tune the model on a line's labelled parts, qualify it on held-out parts, write it")
    kinds = "a labelled folder (ok_front/, def_front/, as archive export writes), or a VIDEO with VIDEO.csv beside it"
    p.add_argument("sources", nargs="+", metavar="SOURCE", help=kinds)
    p.add_argument("--out", required=True, type=model_file, help="the taught model file (written only if it qualifies)")
    common(p)
    p.add_argument("--base", type=Path, help="start from this model (default: model.path of the config)")
    p.add_argument("--from-scratch", action="store_true", help="a new network on the samples alone (a new part type, many samples)")
    p.add_argument("--line", default="", type=line_name, help="the line's name, kept in the model file")
    p.add_argument("--report", type=report_folder, default="teach-report", help="folder for the teaching report (default %(default)s)")
    gate = "qualification: the most held-out %s allowed, %%%% (default %g)"
    pct, defaults = at_least(0.0, float, 100.0), Gate()
    escapes, false_rejects = 100 * defaults.max_escape_rate, 100 * defaults.max_false_reject_rate
    p.add_argument("--max-escape-rate", type=pct, default=escapes, metavar="PCT", help=gate % ("defective parts passed", escapes))
    too_many = "; the threshold rejects no more, even if a defect then passes"
    p.add_argument("--max-false-reject-rate", type=pct, default=false_rejects, metavar="PCT",
                   help=gate % ("good parts rejected", false_rejects) + too_many)  # fmt: skip
    p.add_argument("--seed", type=SEED, default=1, help="the same seed, parts and machine teach the same model (default %(default)s)")
    p.add_argument(
        "--folds",
        type=at_least(2, int),
        default=FOLDS,
        help="cross-fitting folds: each part's held-out score comes from a network taught on the others (default %(default)s)",
    )
    epochs = at_least(1, int, MOST_EPOCHS)
    p.add_argument("--epochs", type=epochs, default=Recipe.epochs, help="passes over the parts (default %(default)s)")
    p.add_argument("--lr", type=at_least(1e-9, float, 1.0), default=Recipe.lr, help="learning rate (default %(default)s)")
    p.add_argument(
        "--pits", type=at_least(0.0, float, 1.0), default=Recipe.pits, metavar="SHARE",
        help=f"share of good parts also shown with painted pits, as defective (default {Recipe.pits:g}: none; docs/teaching-measured.md)",
    )  # fmt: skip
    p.add_argument(
        "--margin",
        type=at_least(0.0, float, MOST_MARGIN),
        default=MARGIN,
        help="log-odds between the threshold and the held-out part that sets it (the lowest defect, or the good part that must "
        "pass; default %(default)s)",
    )
    cpus = max(Recipe.threads, os.cpu_count() or 1)  # more PyTorch threads than CPUs only slow it, or fail to start
    p.add_argument(
        "--threads",
        type=at_least(1, int, cpus),
        default=Recipe.threads,
        help=f"PyTorch's threads (1 to {cpus}, the CPUs; default %(default)s; 1 leaves a CPU to a station running beside it)",
    )
    return p


def tool_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> tuple[argparse.ArgumentParser, ...]:
    """The gateway's, the archive export's and the key maker's parsers: commands beside the station's own."""
    gateway = sub.add_parser(
        "gateway", help="reference PLC gateway: follow the station, fire reject or pass per part, hold a healthy output"
    )
    common(gateway)
    one = gateway.add_mutually_exclusive_group()  # the check decides no part: an --out with it would be ignored
    one.add_argument("--out", type=Path, help="append one JSON line per part here (default: stdout)")
    one.add_argument("--check-plc", action="store_true",
                     help="read the PLC's coils and registers once, time them, write nothing (but with --write-back), and exit (0: passed, "
                          "1: failed)")  # fmt: skip
    gateway.add_argument("--write-back", action="store_true",
                         help="with --check-plc: then write each address back with the value it holds, as the gateway writes it "
                              "(function 16 for a decision block): write access tried, no value changed")  # fmt: skip
    gateway.add_argument("--test-reject", type=at_least(1, int, 1000), default=0, metavar="N",
                         help="commissioning: reject each part whose id N divides where it would pass (reason test_reject), to "
                              "time the actuator; never in service")  # fmt: skip
    archive = sub.add_parser("archive", help="archive tools: export ARCHIVE OUT packs a labelled set for retraining")
    archive.add_argument("action", choices=["export"])
    archive.add_argument("archive", help="the archive folder (archive.dir)")
    archive.add_argument("out", help="output folder: def_front/, ok_front/, review/ and labels.csv")
    archive.add_argument("--reviewed-only", action="store_true", help="only the parts an operator labelled on the review page")
    keys = sub.add_parser("keys", help="make a CURVE key pair (NAME.key public, NAME.key_secret secret) in FOLDER")
    keys.add_argument("folder", type=key_folder)
    keys.add_argument("--name", default="station", help="file name stem (station, or the gateway's name)")
    return gateway, archive, keys
