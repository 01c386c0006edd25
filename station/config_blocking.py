"""How long a live camera may block the capture stage in one call, and the check that the hang detector and a stop's
drain outlast it (``check-config``, ``run`` and ``replay`` of a live source)."""

from __future__ import annotations

import math

from station.config import GIGE_OPEN_S, Config
from station.errors import ConfigError
from station.source_kind import LIVE, SourceKind, source_kind


def v4l2_wait_s(read_timeout_s: float) -> int:
    """The whole seconds OpenCV's V4L2 backend waits for a USB camera's frame, set from ``read_timeout_s`` (station.sources):
    it takes no read timeout property, only this."""
    return max(1, math.ceil(read_timeout_s))


def longest_block(kind: SourceKind, read_timeout_s: float) -> float:
    """The longest the capture stage of a live camera of ``kind`` may wait in one call, showing no progress (0: not live). A
    USB camera's open reads two frames, a GigE camera's open runs camera commands after its bounded wait (half as long
    again), and a stream's open and read are each bounded by ``read_timeout_s``."""
    if kind is SourceKind.USB:
        return 2 * v4l2_wait_s(read_timeout_s)
    if kind is SourceKind.GIGE:
        return GIGE_OPEN_S * 1.5
    return read_timeout_s if kind in LIVE else 0.0


def check_blocking(cfg: Config, source: str | None = None) -> None:
    """ConfigError naming the key when the hang check or a stop's drain would not outlast a call the live camera
    ``source`` (default: camera.source) blocks in: a camera slow to answer would be taken for a hang and the station
    restarted over and over by systemd, or the drain would run out. Where the station reads a recording, nothing to check."""
    kind = source_kind(source or cfg.camera.source)
    longest = longest_block(kind, cfg.camera.read_timeout_s)
    if not longest:
        return
    gige = kind is SourceKind.GIGE
    what = (f"the longest a GigE camera may take to open ({longest:g} s)" if gige else
            f"the longest {kind.value} may take to answer ({longest:g} s, from camera.read_timeout_s)")  # fmt: skip
    if cfg.pipeline.stall_after_s <= longest:
        raise ConfigError("pipeline.stall_after_s", f"{cfg.pipeline.stall_after_s:g} s must be longer than {what}: a camera slow "
                          "to answer would be taken for a hang, and the station restarted")  # fmt: skip
    if not gige and cfg.shutdown.timeout_s <= longest:  # a GigE open is interrupted by a stop
        raise ConfigError("shutdown.timeout_s", f"{cfg.shutdown.timeout_s:g} s must be longer than {what}: a stop waits for "
                          "it, and the drain would run out")  # fmt: skip
