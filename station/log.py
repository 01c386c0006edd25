"""structlog setup: readable on a terminal, JSON lines otherwise.

Under systemd (``$JOURNAL_STREAM`` is set) the JSON lines go to stdout, where journald keeps them;
elsewhere to stderr, so that commands that print results on stdout stay clean.

A line never waits long to be written: on a pipe, a socket or a terminal that nothing drains (journald
stalled, a pager paused, Ctrl-S) a line waits for room at most WRITE_BOUND_S, and no new line waits
again within QUIET_S of that wait; lines that find no room are dropped, counted, and said in one line
once there is room again. A line longer than the reader takes at once (4 KiB: a library's traceback)
is cut short only where its reader stalls part way, the cut ended before the next line and counted
as dropped. A plain write there blocked every thread that logged, the one SIGTERM's drain runs on
included, for as long as the reader stalled.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import IO

import structlog


class LogLevel(StrEnum):
    """``logging.level``: the lowest level logged."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def number(self) -> int:
        return int(getattr(logging, self.name))


class LogFormat(StrEnum):
    """``logging.format``: JSON lines, a console's, or whichever fits where the log goes."""

    AUTO = "auto"  # console on a terminal, JSON lines otherwise
    JSON = "json"
    CONSOLE = "console"


WRITE_BOUND_S = 1.0  # the longest a line waits for room on a pipe or socket
QUIET_S = 10.0  # after a wait, lines that find no room are dropped at once for this long: a slow reader slows no thread
CHUNK = select.PIPE_BUF  # what a pipe takes at once when poll says it has room: a line is written in pieces of this


_DROPPED = [0]  # log lines dropped in this process, by every sink (station_log_lines_dropped_total)


def lines_dropped() -> int:
    """The log lines dropped in this process so far: their reader made no room for them, or their write failed."""
    return _DROPPED[0]


class Sink:
    """Where log lines go: a stream (got afresh for each line: a caller that swaps sys.stderr, as pytest does, is
    followed), written to at once where it is a file, and within a bound where it is a pipe, a socket or a terminal."""

    def __init__(self, stream: Callable[[], IO[str]], notice: Callable[[int], str], bound_s: float = WRITE_BOUND_S) -> None:
        self._stream, self._notice, self._bound_s = stream, notice, bound_s
        self._lock = threading.Lock()
        self.dropped = 0  # lines dropped since the last written (said in the next one's notice)
        self._waited = float("-inf")  # when a line last waited for room
        self._torn = False  # a line was cut short part way (a socket's reader stalled): the next write ends it first

    def line(self, text: str) -> None:
        """``text`` as a line, or dropped and counted: where the reader has made no room within the bound, or the write
        fails (a reader gone, a full disk): a line that cannot be written must not end the thread that logged it."""
        stream = self._stream()
        fd = _waiting_fd(stream)
        with self._lock:
            try:
                if fd is None:  # a file, or no file at all (a test's captured output): written as ever
                    stream.write(text + "\n")
                    stream.flush()
                    return
                if self.dropped and self._write(fd, self._notice(self.dropped) + "\n"):
                    self.dropped = 0
                if not self.dropped and self._write(fd, text + "\n"):
                    return
            except OSError:
                pass
            self.dropped += 1
            _DROPPED[0] += 1

    def _write(self, fd: int, text: str) -> bool:
        """``text`` written whole, each piece once the reader has made room; False when it found none. A line begun may wait
        for the rest of it up to the bound in all, whatever QUIET_S says: one longer than a pipe takes at once (a library's
        traceback) is cut short only where its reader stalls that long part way, and then ended before the next line."""
        data, begun, until = memoryview(text.encode("utf-8", "replace")), False, 0.0
        try:
            while data:
                if not self._room(fd, until if begun else None):
                    self._torn = self._torn or begun
                    return False
                piece = b"\n" if self._torn else data[:CHUNK]
                try:
                    n = os.write(fd, piece)
                except BlockingIOError:  # a stream another process made non-blocking: no room after all
                    self._torn = self._torn or begun
                    return False
                if self._torn:
                    self._torn = n == 0
                elif n:
                    until = until if begun else time.monotonic() + self._bound_s
                    data, begun = data[n:], True
            return True
        except BaseException:  # a signal's exception part way (a stop while teaching): the next line starts on its own
            self._torn = self._torn or begun
            raise

    def _room(self, fd: int, until: float | None) -> bool:
        """Room for a piece now, or after a wait: for a line begun, up to ``until``; else at most the bound, and not at all
        within QUIET_S of the last wait."""
        if _writable(fd, 0.0):
            return True
        now = time.monotonic()
        if until is None and now - self._waited < QUIET_S:
            return False
        self._waited = now
        return _writable(fd, until - now if until is not None else self._bound_s)


def _writable(fd: int, wait_s: float) -> bool:
    poll = select.poll()
    poll.register(fd, select.POLLOUT)
    return bool(poll.poll(max(0.0, wait_s) * 1000))


def _waiting_fd(stream: IO[str]) -> int | None:
    """The file descriptor under ``stream`` where a write can wait on a reader (a pipe, a socket, a terminal that output is
    held for: Ctrl-S, a frozen remote session); None elsewhere."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd)) else None


def say(text: str) -> None:
    """``text`` as one line on stderr for whoever ran the command, within the log's bound: an exit's own error line must not
    wait for ever on a reader that stalled (there it is dropped, as a log line would be)."""
    Sink(lambda: sys.stderr, _notice(False)).line(text)


class _Logger:
    """structlog's logger: each rendered line to the sink, whatever its level (the bound logger has filtered it)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def msg(self, message: str) -> None:
        self._sink.line(message)

    log = debug = info = warn = warning = error = err = critical = fatal = exception = failure = msg


def _notice(json_out: bool) -> Callable[[int], str]:
    """The line that says how many lines were dropped, as the others are written."""

    def said(n: int) -> str:
        at = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        if json_out:
            return json.dumps({"count": n, "why": "the log's reader did not take them", "event": "log_lines_dropped", "level": "warning",
                               "timestamp": at})  # fmt: skip
        return f"{at} [warning  ] log_lines_dropped              count={n} why='the log's reader did not take them'"

    return said


class _ToStructlog(logging.Handler):
    """A line a library logs through the standard logging module, as one of ours (JSON under journald), never plain text."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit the format: the line still goes out, as given
                message = f"{record.msg} {record.args!r}"
            fields = {"logger": record.name, "message": message}
            if record.exc_info and record.exc_info[0] is not None:
                fields["exception"] = logging.Formatter().formatException(record.exc_info)
            n = record.levelno  # a library's own level between two of ours is logged at the lower one
            name = "critical" if n >= logging.CRITICAL else "error" if n >= logging.ERROR else "warning"
            getattr(structlog.get_logger(), name)("library_log", **fields)
        except Exception:  # a library's malformed log call must not end the stage that made it
            self.handleError(record)


def configure(level: LogLevel = LogLevel.INFO, fmt: LogFormat = LogFormat.AUTO) -> None:
    """Configure structlog at ``level``: JSON lines (journald, files) or a console format (a terminal); the standard
    logging module's records (libraries) go the same way, at warning and above."""
    journal = bool(os.environ.get("JOURNAL_STREAM"))
    out = sys.stdout if journal else sys.stderr
    json_out = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not out.isatty())
    sink = Sink((lambda: sys.stdout) if journal else (lambda: sys.stderr), _notice(json_out))
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_out else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level.number),
        logger_factory=lambda *_args: _Logger(sink),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _ToStructlog)] + [_ToStructlog(logging.WARNING)]
