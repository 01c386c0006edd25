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
