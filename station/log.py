"""structlog setup: readable on a terminal, JSON lines otherwise.

Under systemd (``$JOURNAL_STREAM`` is set) the JSON lines go to stdout, where journald keeps them;
elsewhere to stderr, so that commands that print results on stdout stay clean.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _current_stream(*_args: object) -> structlog.PrintLogger:
    """A logger on whatever sys.stderr is when it logs (a caller that swaps stderr, as pytest does, is followed)."""
    return structlog.PrintLogger(file=sys.stderr)


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
    out = sys.stdout if os.environ.get("JOURNAL_STREAM") else sys.stderr
    json_out = fmt == "json" or (fmt == "auto" and not out.isatty())
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
        logger_factory=_current_stream if out is sys.stderr else structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _ToStructlog)] + [_ToStructlog(logging.WARNING)]
