"""station/camera.py: camera.* settings given to a USB camera (V4L2 through OpenCV)."""

from __future__ import annotations

import cv2
import pytest

from station.camera import CameraSettings, apply_v4l2
from station.errors import CameraError


class _V4L2Capture:
    """Stands in for cv2.VideoCapture(V4L2): no USB camera can be attached here. Refuses `refuse`."""

    def __init__(self, refuse: int | None = None) -> None:
        self.props: dict[int, float] = {}
        self.refuse = refuse

    def set(self, prop: int, value: float) -> bool:
        if prop == self.refuse:
            return False
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)


def test_v4l2_settings_are_written_read_back_and_a_refusal_names_the_key() -> None:
    cap = _V4L2Capture()
    apply_v4l2(cap, CameraSettings(exposure_us=2000, gain_db=3, acquisition_fps=30, roi=(0, 0, 640, 480)), "usb:0")  # type: ignore[arg-type]
    assert cap.props[cv2.CAP_PROP_EXPOSURE] == 20 and cap.props[cv2.CAP_PROP_AUTO_EXPOSURE] == 1
    assert cap.props[cv2.CAP_PROP_FPS] == 30 and cap.props[cv2.CAP_PROP_FRAME_WIDTH] == 640
    with pytest.raises(CameraError, match=r"^camera.gain_db: usb:0 refused 3"):
        apply_v4l2(_V4L2Capture(refuse=cv2.CAP_PROP_GAIN), CameraSettings(gain_db=3), "usb:0")  # type: ignore[arg-type]
