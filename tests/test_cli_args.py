"""The command line's numeric options: out of range is a usage error (exit 2) naming the option, never a traceback."""

from __future__ import annotations

import pytest

from station.cli import build_parser, main


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["demo", "--seed", "-1"], "--seed"),
        (["demo", "--parts", "0"], "--parts"),
        (["demo", "--parts", "many"], "--parts"),
        (["teach", "x", "--out", "y", "--seed", "-5"], "--seed"),
        (["teach", "x", "--out", "y", "--seed", str(2**32)], "--seed"),
        (["teach", "x", "--out", "y", "--folds", "1"], "--folds"),
        (["teach", "x", "--out", "y", "--epochs", "0"], "--epochs"),
        (["teach", "x", "--out", "y", "--max-escape-rate", "150"], "--max-escape-rate"),
        (["teach", "x", "--out", "y", "--max-escape-rate", "nan"], "--max-escape-rate"),
        (["teach", "x", "--out", "y", "--margin", "nan"], "--margin"),
        (["teach", "x", "--out", "y", "--lr", "inf"], "--lr"),
        (["teach", "x", "--out", "y", "--lr", "1e300"], "--lr"),  # once an overflow traceback in PyTorch
        (["teach", "x", "--out", "y", "--margin", "800"], "--margin"),  # once an overflow in the threshold rule
        (["teach", "x", "--out", "y", "--threads", "100000"], "--threads"),  # once a crash in PyTorch's thread pool
    ],
)
def test_an_out_of_range_option_is_a_usage_error_naming_it(args: list[str], option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(args)
    assert stop.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}:" in last and "Traceback" not in last


@pytest.mark.parametrize(
    ("option", "text", "said"), [("--epochs", "1.5", "'1.5' is not a whole number"), ("--lr", "fast", "'fast' is not a number")]
)
def test_an_option_that_is_no_number_of_its_kind_says_which_kind(
    option: str, text: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["teach", "x", "--out", "y", option, text])
    assert stop.value.code == 2 and said in capsys.readouterr().err  # "'1.5' is not a number" it said, of a number


def test_the_widest_seeds_are_taken() -> None:
    assert build_parser().parse_args(["demo", "--seed", "0"]).seed == 0
    assert build_parser().parse_args(["teach", "x", "--out", "y", "--seed", str(2**32 - 1)]).seed == 2**32 - 1


def test_the_widest_margin_and_as_many_threads_as_cpus_are_taken() -> None:
    import os

    args = build_parser().parse_args(["teach", "x", "--out", "y", "--margin", "20", "--threads", str(os.cpu_count() or 1)])
    assert (args.margin, args.threads) == (20.0, os.cpu_count() or 1)


def test_an_os_error_without_text_is_still_a_line_naming_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from station import cli

    def fails(_: argparse.Namespace) -> int:
        raise OSError  # no errno, no text: once a bare "station: error: "

    monkeypatch.setattr(cli, "build_parser", lambda: _Fixed(argparse.Namespace(command="eval", func=fails)))
    assert cli.main([]) == 2
    assert capsys.readouterr().err.strip() == "station: error: OSError"


class _Fixed:
    """A parser that hands back one namespace."""

    def __init__(self, ns: object) -> None:
        self.ns = ns

    def parse_args(self, _: list[str] | None) -> object:
        return self.ns


def test_the_plc_check_with_an_out_it_would_never_write_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["gateway", "--check-plc", "--out", "decisions.jsonl"])
    assert stop.value.code == 2
    assert "argument --out: not allowed with argument --check-plc" in capsys.readouterr().err.strip().splitlines()[-1]


def test_test_rejects_with_the_plc_check_that_decides_no_part_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--check-plc", "--test-reject", "3"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "station: error: --test-reject: --check-plc decides no part (time the actuator with the gateway running)"
    ]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["gateway", "--test-reject", "0"], "station gateway: error: argument --test-reject: 0 is out of range (1 to 1000)"),
        (["teach", "x", "--out", "m.onnx", "--folds", "0"], "station teach: error: argument --folds: 0 is out of range"),
        (["eval"], "station eval: error: the following arguments are required: source"),
        (["nonsense"], "station: error: argument command: invalid choice: 'nonsense'"),
        (["check-config", "-c", "a.yaml", "-c", "b.yaml"], "station check-config: error: argument -c/--config: given twice"),
        (["teach", "x", "--out", "a.onnx", "--out", "b.onnx"], "station teach: error: argument --out: given twice"),
        (["keys", ""], "station keys: error: argument folder: give the keys' folder (an empty path would write the secret key"),
    ],
)
def test_a_bad_command_line_is_one_line_naming_the_argument_and_exit_2(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse printed its usage block above the error (--help shows it), and kept the last of an option given twice
    (``-c a.yaml -c b.yaml`` took b.yaml without a word)."""
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and err.startswith(said) and err.rstrip().endswith("--help)")


def test_a_lines_name_is_one_short_printable_line_told_before_teaching(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["teach", "x", "--out", "m.onnx", "--line", "Line 3 (café)"]).line == "Line 3 (café)"
    for bad in ("a\nb", "x" * 101, "tab\there"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["teach", "x", "--out", "m.onnx", "--line", bad])
        assert "argument --line: a line's name is up to 100 printable characters" in capsys.readouterr().err


def test_a_fault_of_the_station_itself_is_one_line_and_exit_1_never_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import argparse

    from station import cli

    def broken(_: argparse.Namespace) -> int:
        raise RuntimeError("a bug\nover two lines")  # a library failing as nothing nearer knows (out of memory in PyTorch)

    monkeypatch.setattr(cli, "build_parser", lambda: _Fixed(argparse.Namespace(command="teach", func=broken)))
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("station: internal error: RuntimeError: a bug\\x0aover two lines (a fault of the station")
    assert err.count("\n") == 1 and "Traceback" not in err
