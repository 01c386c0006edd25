"""station/log.py: our lines and the libraries' alike are one JSON line each under journald or in a file."""

from __future__ import annotations

import json
import logging

import pytest

from station.log import configure


def test_a_library_warning_is_one_json_line_naming_its_logger(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", "json")
    try:
        logging.getLogger("some.library").warning("Connection to (%s, %d) failed", "127.0.0.1", 502)
        logging.getLogger("some.library").info("chatter below warning")
        lines = capsys.readouterr().err.strip().splitlines()
    finally:
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if type(h).__module__ != "station.log"]
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert (row["event"], row["logger"], row["level"]) == ("library_log", "some.library", "warning")
    assert row["message"] == "Connection to (127.0.0.1, 502) failed"


def test_a_library_level_of_its_own_and_its_exception_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", "json")
    try:
        logging.getLogger("some.library").log(35, "between warning and error")
        try:
            raise ValueError("bad frame")
        except ValueError:
            logging.getLogger("some.library").exception("decode failed")
        err = capsys.readouterr().err
    finally:
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if type(h).__module__ != "station.log"]
    rows = [json.loads(line) for line in err.strip().splitlines()]  # JSON, each: no "--- Logging error ---" traceback
    assert [r["level"] for r in rows] == ["warning", "error"]
    assert "ValueError: bad frame" in rows[1]["exception"]


def test_a_library_line_whose_arguments_do_not_fit_its_format_is_still_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    kept = root.handlers
    configure("info", "json")
    root.handlers = [h for h in root.handlers if type(h).__module__ == "station.log"]  # pytest's own would raise on it
    try:
        logging.getLogger("some.library").warning("bad %d", "x")
        err = capsys.readouterr().err
    finally:
        root.handlers = kept
    (line,) = err.strip().splitlines()  # once a "--- Logging error ---" traceback
    assert json.loads(line)["message"].startswith("bad %d")
