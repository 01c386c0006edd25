"""station/teach/paths.py: the taught model's file and the report's folder, refused before teaching starts."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from station.config import SHIPPED_MODEL, load_config
from station.errors import InputError
from station.teach.paths import check_paths

from .conftest import SAMPLE, sample_line


def test_an_out_or_report_over_what_teaching_reads_or_the_stations_own_files_is_refused_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A photo, a video's ground truth, the config, the bundled self-test photos and default config: each would be replaced
    by the model (or the report's pictures put among the photos), and the source or the station ruined."""
    line, video, config = sample_line(tmp_path, 2), tmp_path / "line.mp4", tmp_path / "station.yaml"
    for made in (video, video.with_suffix(".csv"), config):
        made.write_bytes(b"x")
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    photo = next((line / "ok_front").iterdir())
    cfg = load_config(None, [])

    def check(out: Path, report: Path | str) -> None:
        args = argparse.Namespace(out=str(out), report=str(report), sources=[str(line), str(video)], config=config)
        check_paths(args, SHIPPED_MODEL, cfg)

    fine = tmp_path / "report"
    cases: list[tuple[Path, Path | str, str]] = [
        (photo, fine, f"--out is inside {photo.parent}, which this command reads"),
        (video.with_suffix(".csv"), fine, "--out is .*line.csv, which this command reads"),
        (config, fine, "--out is .*station.yaml, which this command reads"),
        (SHIPPED_MODEL.parent / "station.yaml", fine, "--out is inside .*station, which this command reads"),
        (SAMPLE / "ok_front" / "x.onnx", fine, "--out is inside"),
        (tmp_path / "loop_a", fine, "loop_a: cannot follow its links"),
        (tmp_path / "m.onnx", line / "def_front", "--report is .*def_front, which this command reads"),
    ]
    for out, report, why in cases:
        with pytest.raises(InputError, match=why):
            check(out, report)
    check(line / "m.onnx", line / "teach-report")  # beside the label folders: never read as parts
    assert (line / "teach-report").is_dir()
    from station.cli import build_parser

    with pytest.raises(SystemExit) as stop:  # the working directory: a usage error before anything is read
        build_parser().parse_args(["teach", str(line), "--out", str(tmp_path / "m.onnx"), "--report", ""])
    assert stop.value.code == 2 and "--report: give the report's folder" in capsys.readouterr().err


def test_an_out_that_teaching_would_wreck_or_never_write_is_refused_before_it_starts(tmp_path: Path) -> None:
    live, shadow, base = tmp_path / "live.onnx", tmp_path / "shadow.onnx", tmp_path / "base.onnx"
    cfg = load_config(None, [f"model.path={live}", f"model.shadow={shadow}"])

    def check(out: Path, report: Path | None = None) -> None:
        args = argparse.Namespace(out=str(out), report=str(report or tmp_path / "report"), sources=[], config=None)
        check_paths(args, base, cfg)

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link.onnx").symlink_to(tmp_path / "elsewhere.onnx")
    (tmp_path / "folder").mkdir()
    refused = {
        base: "the base model itself",
        SHIPPED_MODEL: "--out is the shipped model",
        live: "--out is model.path, the model the station runs",
        tmp_path / "." / "shadow.onnx": "--out is model.shadow",
        tmp_path / "missing" / "m.onnx": "cannot write the model there",
        tmp_path / "folder": "--out is a folder; give the taught model.s file name",
        tmp_path / "pipe": "not a regular file",
        tmp_path / "link.onnx": "not a regular file",
    }
    for out, why in refused.items():
        with pytest.raises(InputError, match=why):
            check(out)
    with pytest.raises(InputError, match="--out and --report are the same path"):
        check(tmp_path / "same", tmp_path / "same")
    check(tmp_path / "new.onnx")  # a new file in a writable folder: taught into
    assert (tmp_path / "report").is_dir() and not (tmp_path / "new.onnx").exists()
    (tmp_path / "notes.txt").write_text("the line's notes\n")  # a file teaching would replace that is no model
    with pytest.raises(InputError, match=r"notes\.txt: --out is a file that is not a model"):
        check(tmp_path / "notes.txt")
    (tmp_path / "old.ONNX").write_bytes(b"an old model")
    check(tmp_path / "old.ONNX")  # an old model: replaced once the new one qualifies


def test_an_out_that_names_no_file_or_epochs_without_end_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from station.cli import build_parser

    for out in ("", ".", "/", ".."):
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(["teach", "line", "--out", out])
        assert stop.value.code == 2 and f"argument --out: {out!r} names no file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["teach", "line", "--out", "m.onnx", "--epochs", "1001"])
    assert stop.value.code == 2 and "--epochs: 1001 is out of range (1 to 1000)" in capsys.readouterr().err


def test_an_out_over_a_file_the_config_names_is_refused_before_it_starts(tmp_path: Path) -> None:
    """The review token, a CURVE key, the archive: the model written over any of them would break the station's next start
    (or be pruned with the archive), after minutes of teaching had said it was written."""
    token, key, archive = tmp_path / "review.token", tmp_path / "station.key_secret", tmp_path / "archive"
    token.write_text("abcdefghijklmnopqrstuvwxyz0123\n")
    key.write_text("a key\n")
    archive.mkdir()
    cfg = load_config(None, [f"review.token_file={token}", f"publisher.curve.secret_key_file={key}", f"archive.dir={archive}"])
    for out in (token, key, archive / "m.onnx"):
        args = argparse.Namespace(out=str(out), report=str(tmp_path / "report"), sources=[], config=None)
        with pytest.raises(InputError, match=r"--out is (inside )?.*, which this command reads"):
            check_paths(args, SHIPPED_MODEL, cfg)
    assert token.read_text() == "abcdefghijklmnopqrstuvwxyz0123\n" and key.read_text() == "a key\n"


def test_an_out_inside_the_report_or_too_long_to_write_is_refused_before_it_starts(tmp_path: Path) -> None:
    """Inside --report, the next teaching would write over the model (metrics.json) or delete it (a picture's name); a name
    whose first copy (.NAME.PID.part, written beside it until the gate takes it) is too long failed only at the end."""
    cfg = load_config(None, [])

    def check(out: Path) -> None:
        check_paths(argparse.Namespace(out=str(out), report=str(tmp_path / "report"), sources=[], config=None), SHIPPED_MODEL, cfg)

    (tmp_path / "report").mkdir()
    with pytest.raises(InputError, match="--out is inside --report"):
        check(tmp_path / "report" / "metrics.json")
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    for name in ("m" * (longest - 5) + ".onnx", "m" * (longest + 50) + ".onnx"):  # its first copy's name too long; its own
        with pytest.raises(InputError, match="--out's file name is too long"):
            check(tmp_path / name)
    check(tmp_path / ("m" * (longest - 40) + ".onnx"))  # room for the first copy's name: taught into


def test_a_report_that_would_write_over_the_config_the_model_or_the_base_is_refused_before_it_starts(tmp_path: Path) -> None:
    """A config kept in the report folder as metrics.json, the live model or the base under a picture's name: the report
    replaced the config and removed the models as an earlier run's pictures (before 2026-12-07), after teaching said
    nothing of it. A hard link of the base is its other name: refused as the base is."""
    report = tmp_path / "report"
    report.mkdir()
    config, live, base = report / "metrics.json", report / "score_histograms.png", report / "heldout_mistakes.png"
    config.write_text("model:\n  path: live.onnx\n")
    for model in (live, base):
        model.write_bytes(SHIPPED_MODEL.read_bytes())
    cfg = load_config(None, [f"model.path={live}"])

    def check(out: Path, config_file: Path | None, base_model: Path) -> None:
        args = argparse.Namespace(out=str(out), report=str(report), sources=[], config=config_file)
        check_paths(args, base_model, cfg)

    with pytest.raises(InputError, match=r"--report would write its metrics.json over .*metrics.json, which this command reads"):
        check(tmp_path / "m.onnx", config, SHIPPED_MODEL)
    with pytest.raises(InputError, match=r"--report would write its score_histograms\.png over"):
        check(tmp_path / "m.onnx", None, SHIPPED_MODEL)
    cfg = load_config(None, [])
    with pytest.raises(InputError, match=r"--report would write its heldout_mistakes\.png over"):
        check(tmp_path / "m.onnx", None, base)
    os.link(base, tmp_path / "other.onnx")
    with pytest.raises(InputError, match=r"--out is another name \(a hard link\) of .*heldout_mistakes.png"):
        check(tmp_path / "other.onnx", None, base)
    assert config.read_text() == "model:\n  path: live.onnx\n" and live.read_bytes() == base.read_bytes() == SHIPPED_MODEL.read_bytes()
