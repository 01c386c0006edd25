"""structlog setup: readable on a terminal, JSON lines otherwise.

Under systemd (``$JOURNAL_STREAM`` is set) the JSON lines go to stdout, where journald keeps them;
elsewhere to stderr, so that commands that print results on stdout stay clean.

A line never waits long to be written: on a pipe or a socket that nothing drains (journald stalled, a
pager paused) the first line waits at most WRITE_BOUND_S, and lines are then dropped until there is
room again, when one line says how many went. A plain write there blocked every thread that logged,
the one SIGTERM's drain runs on included, for as long as the reader stalled.
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
from collections.abc import Callable
from typing import IO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
WRITE_BOUND_S = 1.0  # the longest a line waits for room on a pipe or socket; once one has not found it, none waits
CHUNK = select.PIPE_BUF  # written at once when a pipe has room: a line is written in pieces of this, each waited for


class Sink:
    """Where log lines go: a stream (got afresh for each line: a caller that swaps sys.stderr, as pytest does, is
    followed), written to at once where it is a file or a terminal, and within a bound where it is a pipe or a socket."""

    def __init__(self, stream: Callable[[], IO[str]], notice: Callable[[int], str], bound_s: float = WRITE_BOUND_S) -> None:
        self._stream, self._notice, self._bound_s = stream, notice, bound_s
        self._lock = threading.Lock()
        self.dropped = 0  # lines dropped since the last written (said in the next one's notice)
        self.dropped_total = 0
        self._stalled = False  # the last line found no room: the next ones do not wait for it
        self._torn = False  # a line was cut short part way: the next write ends it first

    def line(self, text: str) -> None:
        """``text`` as a line, or dropped and counted: where the reader has made no room within the bound, or the write
        fails (a reader gone, a full disk): a line that cannot be written must not end the thread that logged it."""
        stream = self._stream()
        fd = _waiting_fd(stream)
        with self._lock:
            try:
                if fd is None:  # a file, a terminal, or no file at all (a test's captured output): written as ever
                    stream.write(text + "\n")
                    stream.flush()
                    return
                stream.flush()  # whatever else was written to it goes first (nothing, but for a caller's own print)
                if self.dropped and self._write(fd, self._notice(self.dropped) + "\n"):
                    self.dropped = 0
                if not self.dropped and self._write(fd, text + "\n"):
                    return
            except OSError:
                pass
            self.dropped += 1
            self.dropped_total += 1

    def _write(self, fd: int, text: str) -> bool:
        """``text`` written whole, each piece once the reader has made room, within the bound; False when it found none (a
        line cut short by a reader that stalled part way is ended first, once there is room again)."""
        data, begun = memoryview(text.encode("utf-8", "replace")), False
        while data:
            if not self._room(fd):
                self._torn = self._torn or begun
                return False
            piece = b"\n" if self._torn else data[:CHUNK]
            try:
                n = os.write(fd, piece)
            except BlockingIOError:  # a stream another process made non-blocking: no room after all
                self._stalled, self._torn = True, self._torn or begun
                return False
            if self._torn:
                self._torn = n == 0
            else:
                data, begun = data[n:], begun or n > 0
        return True

    def _room(self, fd: int) -> bool:
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        room = bool(poll.poll(0 if self._stalled else self._bound_s * 1000))
        self._stalled = not room
        return room


def _waiting_fd(stream: IO[str]) -> int | None:
    """The file descriptor under ``stream`` where a write can wait on a reader (a pipe, a socket); None elsewhere."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else None


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


def configure(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog at ``level``: JSON lines (journald, files) or a console format (a terminal); the standard
    logging module's records (libraries) go the same way, at warning and above."""
    journal = bool(os.environ.get("JOURNAL_STREAM"))
    out = sys.stdout if journal else sys.stderr
    json_out = fmt == "json" or (fmt == "auto" and not out.isatty())
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
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=lambda *_args: _Logger(sink),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _ToStructlog)] + [_ToStructlog(logging.WARNING)]
