"""station/gige.py's pixels: a GigE buffer as 8-bit grey (the camera itself: tests/test_cameras.py, on Aravis' emulator)."""

from __future__ import annotations

import numpy as np
import pytest

from station.errors import CameraError
from station.gige import to_gray


def test_mono8_is_viewed_and_mono16_scaled_to_8_bits() -> None:
    assert to_gray(bytes(range(6)), 3, 2, "Mono8").tolist() == [[0, 1, 2], [3, 4, 5]]
    words = np.array([[0, 256], [4095 << 4, 65535]], "<u2").tobytes()
    assert to_gray(words, 2, 2, "Mono16").tolist() == [[0, 1], [255, 255]]


@pytest.mark.parametrize(("size", "pixel_format"), [(5, "Mono8"), (11, "Mono16"), (8, "BayerRG8")])
def test_a_buffer_too_short_for_its_size_and_format_is_a_camera_error_not_a_crash(size: int, pixel_format: str) -> None:
    """A camera whose mode was switched under the station (Mono16 to Mono8, a smaller ROI): numpy's ValueError ended the
    capture thread (before 2026-12-07, found by a hostile read); a CameraError makes the capture take the camera as lost
    and reopen it, reading its format again."""
    with pytest.raises(CameraError, match=rf"a frame of {size} bytes is not 3x3 {pixel_format}.*pixel format or size changed"):
        to_gray(bytes(size), 3, 3, pixel_format)
