"""The station's exception hierarchy: small on purpose."""

from __future__ import annotations


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
