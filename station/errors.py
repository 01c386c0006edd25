"""The station's exception hierarchy: small on purpose; and :func:`one_line`, for printing what they say."""

from __future__ import annotations

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)}  # a newline, a carriage return, an escape sequence's start ...


def one_line(text: str) -> str:
    """``text`` with its control characters written as escapes: a file name holding a newline cannot print a line of its own."""
    return text.translate(_CONTROL)


class StationError(Exception):
    """Base of every error the station raises on purpose."""


class ConfigError(StationError):
    """The configuration is invalid; the message names the key path."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class CameraError(StationError):
    """The camera or recorded source cannot deliver frames."""


class ModelError(StationError):
    """The model file is missing, corrupt, or does not describe itself."""


class InputError(StationError):
    """A file or folder given on the command line that is not what the command takes (exit 2)."""
