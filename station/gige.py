"""GigE Vision cameras through Aravis (the open GenICam library), via PyGObject.

Optional: ``pip install 'casting-station[gige]'`` plus Debian's ``gir1.2-aravis-0.8``. ``gige:``
opens the first camera found, ``gige:<device id>`` a named one (Aravis' id, e.g.
``Aravis-Fake-GV01``, or the camera's IP address). Camera settings from ``camera.*`` are written as
GenICam features, read back and logged; a setting the camera refuses is a CameraError naming it.
A pop that times out returns no frame (the capture stage's watchdog restarts a source that stays
silent for ``camera.stale_after_s``); Aravis' ``control-lost`` signal makes the next read fail at
once. Incomplete buffers and gaps in the frame ids are counted in ``drops``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import structlog

from station.camera import CameraSettings
from station.config import FREE_RUN, GIGE_OPEN_S, PIXEL_FORMATS
from station.errors import CameraError
from station.frame_source import Grab
from station.messages import DropReason

log = structlog.get_logger()
BUFFERS = 8
OPEN_TIMEOUT_S = GIGE_OPEN_S
WIDE = ("Mono10", "Mono12", "Mono16")  # pixel formats of two bytes a pixel


def _aravis() -> Any:
    try:
        import gi

        gi.require_version("Aravis", "0.8")
        from gi.repository import Aravis
    except (ImportError, ValueError) as exc:
        raise CameraError(
            f"GigE Vision needs Aravis through PyGObject (pip install 'casting-station[gige]', apt gir1.2-aravis-0.8): {exc}"
        ) from None
    return Aravis


def to_gray(data: bytes, width: int, height: int, pixel_format: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The buffer's pixels as 8-bit grey (Mono8 without a copy; Mono10/12/16 scaled; Bayer debayered). CameraError for a
    buffer too short for its size and the format the camera opened with (a mode switched under the station: numpy's
    ValueError ended the capture thread): the capture takes the camera as lost, and the reopen reads its format again."""
    import cv2

    need = width * height * (2 if pixel_format in WIDE else 1)
    if len(data) < need:
        raise CameraError(f"a frame of {len(data)} bytes is not {width}x{height} {pixel_format} ({need} bytes): the camera's "
                          "pixel format or size changed")  # fmt: skip
    if pixel_format == "Mono8":
        return np.frombuffer(data, np.uint8, width * height).reshape(height, width)
    if pixel_format in WIDE:
        bits = int(pixel_format[4:])
        return (np.frombuffer(data, "<u2", width * height).reshape(height, width) >> (bits - 8)).astype(np.uint8)
    if pixel_format.startswith("Bayer") and pixel_format.endswith("8"):
        code = {"RG": cv2.COLOR_BayerRG2GRAY, "GR": cv2.COLOR_BayerGR2GRAY, "BG": cv2.COLOR_BayerBG2GRAY, "GB": cv2.COLOR_BayerGB2GRAY}
        raw = np.frombuffer(data, np.uint8, width * height).reshape(height, width)
        return np.asarray(cv2.cvtColor(raw, code[pixel_format[5:7]]), dtype=np.uint8)
    raise CameraError(f"pixel format {pixel_format} is not supported (use one of {', '.join(PIXEL_FORMATS)})")


class AravisSource:
    """A GigE Vision camera; implements station.frame_source.FrameSource."""

    live = True

    def __init__(self, device_id: str | None, settings: CameraSettings, read_timeout_s: float = 0.5) -> None:
        self.name = f"gige:{device_id or ''}"
        self.fps: float | None = None
        self.frame_count: int | None = None
        self.drops: dict[DropReason, int] = {DropReason.INCOMPLETE: 0, DropReason.MISSING_ID: 0}
        self._device_id = device_id
        self._settings = settings
        self._timeout_us = int(read_timeout_s * 1e6)
        self._camera: Any = None
        self._stream: Any = None
        self._lost = threading.Event()
        self._last_id: int | None = None
        self._format = "Mono8"
        self._cancel = threading.Event()

    def open(self) -> None:
        """Open on a helper thread, waited for in short slices: interrupt() or OPEN_TIMEOUT_S end the wait.

        Aravis blocks for seconds on a camera that vanishes mid-handshake (each GVCP command retries
        5 x 500 ms); a shutdown must not wait for that. An abandoned open releases its camera itself.
        """
        self._lost.clear()
        self._last_id = None
        box: dict[str, Any] = {}
        abandoned = threading.Event()

        def work() -> None:
            try:
                box["opened"] = self._open_blocking()
            except Exception as exc:
                box["error"] = exc
            if abandoned.is_set() and "opened" in box:
                _release(box["opened"], None, self.name)

        t = threading.Thread(target=work, name="gige-open", daemon=True)
        t.start()
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        while t.is_alive():
            if self._cancel.wait(0.05) or time.monotonic() > deadline:
                abandoned.set()
                raise CameraError(f"{self.name}: open {'interrupted' if self._cancel.is_set() else 'timed out'}")
        if "error" in box:
            err = box["error"]
            raise err if isinstance(err, CameraError) else CameraError(f"{self.name}: {err}")
        self._camera = box["opened"]
        self._stream = self._start_stream(self._camera)
        self._format = str(self._camera.get_pixel_format_as_string())
        rate = self._camera.get_frame_rate()
        self.fps = rate if rate and 0 < rate < 1000 else None
        log.info("gige_opened", stage="capture", camera=self.name, model=self._camera.get_model_name(), device=self._camera.get_device_id())

    def interrupt(self) -> None:
        """Called by the capture stage on stop: an open in progress gives up at once."""
        self._cancel.set()

    def _open_blocking(self) -> Any:
        """Find the camera and apply the settings (the slow GVCP part, on the helper thread)."""
        ar = _aravis()
        try:
            # a fresh discovery first (about 1 s): without it Aravis may open the camera by a stale
            # route from an earlier discovery, and the stream then receives nothing
            ar.update_device_list()
            camera = ar.Camera.new(self._device_id)
        except Exception as exc:  # GLib.Error or TypeError when no camera answers
            raise CameraError(f"{self.name}: no such GigE camera ({exc})") from None
        if camera is None:
            raise CameraError(f"{self.name}: no GigE camera found")
        self._apply(ar, camera)
        return camera

    def _start_stream(self, camera: Any) -> Any:
        """Stream and acquisition on the capture thread itself: Aravis' stream belongs to the thread that made it."""
        ar = _aravis()
        try:
            camera.get_device().connect("control-lost", lambda *_: self._lost.set())
            stream = camera.create_stream(None, None)
            payload = camera.get_payload()
            for _ in range(BUFFERS):
                stream.push_buffer(ar.Buffer.new_allocate(payload))
            camera.start_acquisition()
        except Exception as exc:
            self._camera = None
            _release(camera, None, self.name)
            raise CameraError(f"{self.name}: cannot start acquisition ({exc})") from None
        return stream

    def _apply(self, ar: Any, cam: Any) -> None:
        """Write each configured setting, read it back, log it; a refusal names the setting."""
        s = self._settings
        steps: list[tuple[str, Any, Any, Any]] = []
        if s.pixel_format is not None:
            fmt = s.pixel_format
            steps.append(("camera.pixel_format", fmt, lambda: cam.set_pixel_format_from_string(fmt), cam.get_pixel_format_as_string))
        if s.roi is not None:
            roi = s.roi
            steps.append(("camera.roi", list(roi), lambda: cam.set_region(*roi), lambda: list(cam.get_region())))
        if s.exposure_us is not None:
            steps.append(("camera.exposure_us", s.exposure_us, lambda: cam.set_exposure_time(s.exposure_us), cam.get_exposure_time))
        if s.gain_db is not None:
            steps.append(("camera.gain_db", s.gain_db, lambda: cam.set_gain(s.gain_db), cam.get_gain))
        if s.acquisition_fps is not None:
            steps.append(("camera.acquisition_fps", s.acquisition_fps, lambda: cam.set_frame_rate(s.acquisition_fps), cam.get_frame_rate))
        if s.trigger == FREE_RUN:
            free = ar.AcquisitionMode.CONTINUOUS
            steps.append(("camera.trigger", FREE_RUN, lambda: cam.set_acquisition_mode(free), lambda: FREE_RUN))
        else:
            steps.append(("camera.trigger", s.trigger, lambda: cam.set_trigger(s.trigger), lambda: s.trigger))
        for key, wanted, write, read in steps:
            try:
                write()
                got = read()
            except Exception as exc:
                _release(cam, None, self.name)
                raise CameraError(f"{key}: the camera refused {wanted!r}: {exc}") from None
            log.info("camera_setting", stage="capture", camera=self.name, key=key, wanted=wanted, got=got)

    def read(self) -> Grab | None:
        if self._stream is None:
            raise CameraError(f"{self.name}: not open")
        if self._lost.is_set():
            raise CameraError(f"{self.name}: control lost (camera unplugged, rebooted or link down)")
        buf = self._stream.timeout_pop_buffer(self._timeout_us)
        if buf is None:
            return None  # nothing this time; the watchdog decides when silence means a restart
        try:
            ar = _aravis()
            if buf.get_status() != ar.BufferStatus.SUCCESS:
                self.drops[DropReason.INCOMPLETE] += 1
                return None
            fid = int(buf.get_frame_id())
            if self._last_id is not None and fid > self._last_id + 1:
                self.drops[DropReason.MISSING_ID] += fid - self._last_id - 1
            self._last_id = fid
            # PyGObject hands the pixels over as one bytes object; Mono8 is viewed, not copied again
            return Grab(to_gray(buf.get_data(), buf.get_image_width(), buf.get_image_height(), self._format))
        finally:
            self._stream.push_buffer(buf)

    def close(self) -> None:
        """Let go of the camera without waiting on it.

        A camera that is gone makes every GVCP command retry (5 x 500 ms) and releasing the device
        waits out its heartbeat thread (5 s): a reaper thread takes that wait, so capture never does.
        """
        camera, stream = self._camera, self._stream
        self._camera = self._stream = None
        if camera is None:
            return
        threading.Thread(target=_release, args=(camera, stream, self.name), name="gige-release", daemon=True).start()


def _release(camera: Any, stream: Any, name: str) -> None:
    """Stop and drop a camera; may block for seconds on a dead one, so never on the capture thread."""
    try:
        camera.stop_acquisition()
    except Exception as exc:  # the camera may already be gone; releasing must not fail
        log.debug("gige_stop_failed", camera=name, error=str(exc))
    del stream, camera  # the last references: unref (and its waits) happen on this thread
