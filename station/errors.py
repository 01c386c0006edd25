"""The station's exception hierarchy: small on purpose; and :func:`one_line`, for printing what they say.

Five exceptions live beside the code that raises them, each caught there or by its one caller, never by a command's
top level: ``wire.WireError`` (the wire contract imports nothing of the station; a peer's bytes that are no message),
``config_base.Contradiction`` (a ValueError, as pydantic's validators must raise; the loader turns it into a
ConfigError naming its key), ``settings_file.Unreadable`` (YAML the loader refuses; a ConfigError too),
``files.Refused`` (an OSError, so that a file refused for its kind or size is said as one that cannot be read) and
``signals.Stopped`` (a BaseException: a stop, as KeyboardInterrupt is, that no ``except Exception`` swallows)."""

from __future__ import annotations


def _escape(c: str) -> str:
    n = ord(c)
    return c if c.isprintable() else f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def one_line(text: str) -> str:
    """``text`` with what a terminal would not print as a character written as an escape (a newline, a carriage return, an
    escape sequence's start, a line separator ...): a file name holding one cannot print a line of its own."""
    return "".join(_escape(c) for c in text)


MAX_KEY_SHOWN = 120  # characters of a key path in an error; no real key is a quarter as long


class StationError(Exception):
    """Base of every error the station raises on purpose."""


class ConfigError(StationError):
    """The configuration is invalid; the message names the key path."""

    def __init__(self, key: str, message: str) -> None:
        said = key if len(key) <= MAX_KEY_SHOWN else f"{key[: MAX_KEY_SHOWN - 3]}..."  # an unknown key of 500 kB: a line, not a page
        super().__init__(f"{said}: {message}" if key else message)
        self.key = key


class CameraError(StationError):
    """The camera or recorded source cannot deliver frames."""


class ModelError(StationError):
    """The model file is missing, corrupt, or does not describe itself."""


class NotJudged(ModelError):
    """The model gate stopped before judging a model to the end (the station is stopping): not a refusal."""


class InputError(StationError):
    """A file or folder given on the command line that is not what the command takes (exit 2)."""
