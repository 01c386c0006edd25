"""station/log.py: our lines and the libraries' alike are one JSON line each under journald or in a file."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import pytest

from station.log import LogFormat, LogLevel, Sink, configure, lines_dropped

from .conftest import full_pipe


def test_a_library_warning_is_one_json_line_naming_its_logger(capsys: pytest.CaptureFixture[str]) -> None:
    configure(LogLevel.INFO, LogFormat.JSON)
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
    configure(LogLevel.INFO, LogFormat.JSON)
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
    configure(LogLevel.INFO, LogFormat.JSON)
    root.handlers = [h for h in root.handlers if type(h).__module__ == "station.log"]  # pytest's own would raise on it
    try:
        logging.getLogger("some.library").warning("bad %d", "x")
        err = capsys.readouterr().err
    finally:
        root.handlers = kept
    (line,) = err.strip().splitlines()  # once a "--- Logging error ---" traceback
    assert json.loads(line)["message"].startswith("bad %d")


@contextmanager
def _full_pipe() -> Iterator[tuple[IO[str], int]]:
    """A pipe's write end as a text stream, filled up: nothing reads it (a stalled journald, a paused pager)."""
    r, w = full_pipe()
    stream = os.fdopen(w, "w")
    try:
        yield stream, r
    finally:
        stream.close()
        os.close(r)


def _read_all(r: int) -> bytes:
    os.set_blocking(r, False)
    out = b""
    try:
        while chunk := os.read(r, 1 << 16):
            out += chunk
    except BlockingIOError:
        pass
    return out


def test_a_line_to_a_pipe_nothing_reads_is_dropped_within_the_bound_counted_and_said_once_there_is_room() -> None:
    """Written as ever, a log line to a full pipe blocked the thread that logged until the reader came back: every stage,
    and the drain SIGTERM asks for, stood still. Now the first line waits at most the bound and the next ones not at all."""
    from station.metrics import Metrics

    scraped = Metrics().registry.get_sample_value
    before, dropped = scraped("station_log_lines_dropped_total"), lines_dropped()
    with _full_pipe() as (stream, r):
        sink = Sink(lambda: stream, lambda n: f"dropped {n}", bound_s=0.2)
        t0 = time.monotonic()
        for k in range(50):
            sink.line(f"line {k}")
        assert time.monotonic() - t0 < 5.0, "fifty lines did not each wait for the bound"
        assert (sink.dropped, lines_dropped() - dropped) == (50, 50)
        assert scraped("station_log_lines_dropped_total") == (before or 0.0) + 50
        _read_all(r)  # the reader is back
        sink.line("after")
        assert _read_all(r).decode().splitlines() == ["dropped 50", "after"]
        assert (sink.dropped, lines_dropped() - dropped) == (0, 50)


def test_after_a_wait_a_reader_that_makes_room_slowly_holds_no_line_up_for_a_while() -> None:
    """A reader that reads a little now and then (rather than not at all) had each line that found the pipe full again
    wait for it: the threads that logged went at its pace. Once a line has waited, none waits within QUIET_S of it."""
    with _full_pipe() as (stream, r):
        sink = Sink(lambda: stream, lambda n: f"dropped {n}", bound_s=1.0)
        sink.line("first")  # waits the bound, then is dropped
        os.read(r, 8192)  # the reader takes a little: room for a few lines
        t0 = time.monotonic()
        for _ in range(1000):  # written until the pipe is full again, and one is dropped
            sink.line("x" * 1000)
            if sink.dropped:
                break
        assert sink.dropped == 1 and time.monotonic() - t0 < 0.5, "the line that found it full waited again"


def test_a_long_line_its_reader_stalls_part_way_through_is_ended_before_the_next_line_and_counted() -> None:
    """A line longer than a pipe takes at once (a library's traceback) waits for the rest of it up to the bound; a reader
    that stalls longer leaves it cut short, and the next line does not run on from the cut: a newline ends it first."""
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 32768)  # F_SETPIPE_SZ: eight pages
    stream = os.fdopen(w, "w")
    try:
        os.write(w, b"#" * 16384)  # room for four pages of it
        sink = Sink(lambda: stream, lambda n: f"dropped {n}", bound_s=0.2)
        sink.line("y" * 30_000)
        assert sink.dropped == 1
        cut, *after = _read_all(r)[16384:].decode().split("\n")
        assert cut and set(cut) == {"y"} and len(cut) < 30_000 and after == [], "cut short, not yet ended"
        sink.line("after")
        assert _read_all(r).decode().splitlines() == ["", "dropped 1", "after"]
    finally:
        stream.close()
        os.close(r)


def test_a_line_longer_than_a_pipe_holds_is_written_whole_while_its_reader_reads_on() -> None:
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 16384)  # F_SETPIPE_SZ: four pages, for a line of ten
    stream = os.fdopen(w, "w")
    got: list[bytes] = []

    def reader() -> None:
        while (chunk := os.read(r, 4096)) and sum(map(len, got)) + len(chunk) <= 40_001:
            got.append(chunk)
            if sum(map(len, got)) == 40_001:
                return
            time.sleep(0.02)

    t = threading.Thread(target=reader)
    t.start()
    try:
        sink, dropped = Sink(lambda: stream, lambda n: f"dropped {n}", bound_s=5.0), lines_dropped()
        sink.line("x" * 40_000)
        t.join(10)
        assert b"".join(got) == b"x" * 40_000 + b"\n" and lines_dropped() == dropped
    finally:
        stream.close()
        os.close(r)


def _dropped_within_the_bound(stream: IO[str]) -> None:
    sink = Sink(lambda: stream, lambda n: f"dropped {n}", bound_s=0.2)
    t0 = time.monotonic()
    sink.line("line")
    assert sink.dropped == 1 and time.monotonic() - t0 < 5.0


def test_a_line_to_a_socket_whose_reader_stalls_is_dropped_within_the_bound() -> None:
    """journald's stream socket under systemd, its reader stalled: the line waits the bound and is dropped, counted."""
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        while True:
            a.send(b"#" * 4096)
    except BlockingIOError:
        pass
    a.setblocking(True)
    stream = os.fdopen(os.dup(a.fileno()), "w")
    try:
        _dropped_within_the_bound(stream)
    finally:
        stream.close()
        a.close()
        b.close()


def test_a_line_to_a_terminal_nothing_reads_is_dropped_within_the_bound() -> None:
    """A terminal whose output is held (Ctrl-S, a frozen remote session: nothing reads its other side) blocked the plain
    write, and every thread that logged after it on the lock."""
    import pty

    master, slave = pty.openpty()
    os.set_blocking(slave, False)
    for _ in range(100):  # filled until it stays full: the kernel moves what was written on to the other side a while later
        try:
            while True:
                os.write(slave, b"#" * 1024)
        except BlockingIOError:
            time.sleep(0.05)
        if not select.select([], [slave], [], 0.1)[1]:
            break
    os.set_blocking(slave, True)
    stream = os.fdopen(slave, "w")
    try:
        _dropped_within_the_bound(stream)
    finally:
        stream.close()
        os.close(master)


def test_an_exit_s_own_error_line_is_said_on_stderr_and_never_waits_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    """`station: error: ...` as the command exits was a plain print: on a stalled pipe the exit waited until killed."""
    from station.log import say

    with _full_pipe() as (stream, _r):
        monkeypatch.setattr("sys.stderr", stream)
        t0 = time.monotonic()
        say("station: error: stage failed")
        assert time.monotonic() - t0 < 5.0
    r, w = os.pipe()
    with os.fdopen(w, "w") as stream:
        monkeypatch.setattr("sys.stderr", stream)
        say("station: error: stage failed")
    assert _read_all(r) == b"station: error: stage failed\n"
    os.close(r)
