"""What a live camera is asked for (camera.* settings), how a USB camera is given it through OpenCV's V4L2 backend, and
whether this OpenCV can open a GStreamer pipeline (a ``gst:`` source).

GigE Vision cameras take the same settings through Aravis (``station.gige``); ``station.sources`` opens the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import structlog

from station.config import FREE_RUN
from station.errors import CameraError

log = structlog.get_logger()


@dataclass(frozen=True)
class CameraSettings:
    """camera.* settings a live camera is asked for (None: leave the camera's own)."""

    exposure_us: float | None = None
    gain_db: float | None = None
    acquisition_fps: float | None = None
    roi: tuple[int, int, int, int] | None = None
    pixel_format: str | None = None
    trigger: str = FREE_RUN


def apply_v4l2(cap: cv2.VideoCapture, s: CameraSettings, name: str) -> None:
    """Set each configured V4L2 property, read it back and log it; a refusal is a CameraError naming it (what a USB camera
    cannot take at all, the config refuses: config.CameraSection)."""
    steps: list[tuple[str, float, int, float]] = []  # (key, wanted, property, value written)
    if s.exposure_us is not None:
        cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)  # V4L2: 1 = manual
        steps.append(("camera.exposure_us", s.exposure_us, cv2.CAP_PROP_EXPOSURE, s.exposure_us / 100.0))  # units of 100 us
    if s.gain_db is not None:
        steps.append(("camera.gain_db", s.gain_db, cv2.CAP_PROP_GAIN, s.gain_db))
    if s.acquisition_fps is not None:
        steps.append(("camera.acquisition_fps", s.acquisition_fps, cv2.CAP_PROP_FPS, s.acquisition_fps))
    if s.roi is not None:
        steps += [
            ("camera.roi", s.roi[2], cv2.CAP_PROP_FRAME_WIDTH, s.roi[2]),
            ("camera.roi", s.roi[3], cv2.CAP_PROP_FRAME_HEIGHT, s.roi[3]),
        ]
    for key, wanted, prop, value in steps:
        if not cap.set(prop, value):
            raise CameraError(f"{key}: {name} refused {wanted}")
        log.info("camera_setting", stage="capture", camera=name, key=key, wanted=wanted, got=cap.get(prop))


def has_gstreamer() -> bool:
    """Whether the installed OpenCV was built with GStreamer (a `gst:` pipeline source needs it)."""
    return any(line.strip().startswith("GStreamer:") and "YES" in line for line in cv2.getBuildInformation().splitlines())
