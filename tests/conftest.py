"""Shared fixtures. Every wait in these tests is bounded (pytest-timeout backs them all up)."""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import structlog

from station.config import Config, load_config
from station.messages import Crop, Failure, Frame, Part, Scored
from station.preprocess import Preprocessed, Quality

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "station" / "sample" / "casting"
MODEL = ROOT / "station" / "defaults" / "defect.onnx"


_OWN_HANDLERS = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}  # before any test ran


@pytest.fixture(autouse=True)
def _signals_as_they_were() -> Iterator[None]:
    """A test that runs ``station.cli.main`` in this process leaves SIGTERM, SIGINT and SIGHUP ignored, as a command about to
    exit should (station.signals.retire); every test starts and ends with the pytest process's own handlers (a forked
    pool's workers inherit them, and one that ignores SIGTERM outlives Pool.terminate). Taken once, before any test: a
    module-scoped fixture that runs ``main`` is set up before this one, and its ignored signals must not become the ones
    put back (a CI run hung 300 s so)."""
    for sig, handler in _OWN_HANDLERS.items():
        signal.signal(sig, handler)
    yield
    for sig, handler in _OWN_HANDLERS.items():
        signal.signal(sig, handler)


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs ``station.cli.main`` in this process leaves structlog configured as that command set it
    (``station eval`` at warning): after every test structlog is back to its defaults, so that a later test still
    hears the info lines it asserts on (a shadow's summary went missing after an eval test, in that order only)."""
    yield
    structlog.reset_defaults()


_HANDED: set[int] = set()  # ports free_port gave this process: never given twice


def free_port() -> int:
    """A loopback TCP port free now, below the kernel's range for outgoing connections (on Linux 32768 and up), so that
    no connection made meanwhile takes it before the test binds it: one a CI run lost to that, bound by the kernel's pick
    (`Address already in use`); never one handed out before in this process."""
    low = _ephemeral_low()
    workers, k = _worker()
    bottom = max(1024, low - 12000)
    span = (low - bottom) // workers  # each pytest-xdist worker picks from a span of its own: two never pick one port
    start = bottom + k * span
    for _ in range(200 if span > 0 else 0):
        port = random.randrange(start, start + span)
        if port in _HANDED:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED.add(port)
        return port
    with socket.socket() as s:  # this worker's span all taken, or none (too few ports below the kernel's range): its pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker() -> tuple[int, int]:
    """How many pytest-xdist workers run the tests, and which of them this process is (1 and 0 without xdist). A worker
    that replaces one that crashed is numbered on (``gw2`` of 2): it takes the span of the one it replaced."""
    name, count = os.environ.get("PYTEST_XDIST_WORKER", "gw0"), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
    workers = int(count) if count.isdigit() and int(count) > 0 else 1
    k = name.removeprefix("gw")
    return workers, int(k) % workers if k.isdigit() else 0


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def full_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) whose write end is full, as nothing has read it: a write to it waits for room."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"#" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)  # blocking, as a process's stderr is: the flag is the pipe's, shared with a child given it
    return r, w


def loopback_config(**sets: object) -> Config:
    """The default config with the station's metrics and ZeroMQ sockets on free loopback ports, and ``sets`` (dotted keys)."""
    pairs = {
        "metrics.port": free_port(),
        "publisher.endpoint": f"tcp://127.0.0.1:{free_port()}",
        "publisher.resend_endpoint": "tcp://127.0.0.1:*",
        **sets,
    }
    return load_config(None, [f"{k}={v}" for k, v in pairs.items()])


def scored_part(score: float | None, quality: Quality = Quality.OK, failure: Failure | None = None) -> Scored:
    """A part as the decision stage gets it: preprocessed with ``quality`` and scored ``score`` (or failed)."""
    part = Part(1, Frame(0, np.zeros((4, 4), np.uint8), 0.0, 0.0), failure=failure)
    pre = Preprocessed(quality, None, np.zeros((4, 4), np.float32) if quality is Quality.OK else None, 100.0, 1.0, 0.0)
    return Scored(Crop(part, pre, failure), score, failure)


def wait_for(cond: Callable[[], bool], timeout: float, poll: float = 0.02) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` seconds pass; the last answer decides."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(poll)
    return cond()


# every series the station exports from its first scrape (test_metrics and test_pipeline look for each)
SERIES = [
    "station_frames_total",
    "station_frames_dropped_total",
    "station_parts_total",
    "station_parts_unable_total",
    "station_inference_seconds_bucket",
    "station_latency_seconds_bucket",
    "station_score_bucket",
    "station_camera_connected",
    "station_camera_reconnects_total",
    "station_parts_against_direction_total",
    "station_http_connections_refused_total",
    "station_queue_depth",
    "station_image_brightness",
    "station_image_sharpness",
    "station_image_clipped_ratio",
    "station_model_info",
    "station_build_info",
    "station_last_verdict_timestamp_seconds",
    "station_log_lines_dropped_total",
]

FAKE_GV = shutil.which("arv-fake-gv-camera-0.8")


def _has_aravis() -> bool:
    try:
        import gi

        gi.require_version("Aravis", "0.8")
        from gi.repository import Aravis  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


class FakeGigE:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert FAKE_GV is not None
        self.proc = subprocess.Popen([FAKE_GV, "-i", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Aravis' emulator serves on 127.0.0.1's GigE Vision port, one at a time: with pytest-xdist (``--dist loadgroup``), the
    tests that start it run in one worker, one after another."""
    for item in items:
        if "gige" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("gige"))


@pytest.fixture
def gige() -> Iterator[FakeGigE]:
    if FAKE_GV is None or not _has_aravis():
        pytest.skip("Aravis' emulator or its Python bindings are not installed (.ci/run installs aravis-tools and the gige extra)")
    cam = FakeGigE()
    cam.start()
    yield cam
    cam.kill()


def grey(path: Path) -> npt.NDArray[np.uint8]:
    """A photo as 8-bit grey (OpenCV's own decode, as the tests always had it); the test fails if it cannot be read."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert img is not None, f"{path}: not readable"
    return np.asarray(img, dtype=np.uint8)


def deny_listing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Listing a folder called ``name`` fails with Permission denied, as a chmod 000 folder's would: run as root, such a
    folder would be listed, so the OS's refusal is faked."""
    scandir = os.scandir

    def denied(path: Any = ".") -> Any:
        if Path(path).name == name:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)


def sample_line(tmp_path: Path, n: int = 4) -> Path:
    """A labelled folder (ok_front/, def_front/) of the first ``n`` photos of each class of the bundled sample."""
    root = tmp_path / "line"
    for sub in ("ok_front", "def_front"):
        (root / sub).mkdir(parents=True)
        for p in sorted((SAMPLE / sub).iterdir())[:n]:
            shutil.copy(p, root / sub / p.name)
    return root


@pytest.fixture(scope="session")
def taught(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The bundled sample taught with the defaults (quick settings), once a session (in each pytest-xdist worker): the model
    file and its report. The base network already judges that line well, so it qualifies."""
    pytest.importorskip("torch", reason="station teach needs PyTorch (pip install -e '.[train]')")
    from .teaching import teach_sample

    code, out, report = teach_sample(tmp_path_factory.mktemp("taught"))
    assert code == 0
    return out, report


def damaged_video(tmp_path: Path) -> tuple[Path, Path]:
    """A composed MJPG AVI of the sample (whose frame count is exact) and a copy with a zeroed stretch mid-file (FFmpeg skips
    its frames without a failed read), each with its ground truth: (intact, damaged)."""
    from station.footage import Envelope, compose, labelled_photos

    env = Envelope(width=640, height=360, fps=25, speed=20.0, diameter=200.0, codec="MJPG")
    video = compose(labelled_photos(SAMPLE)[::3], tmp_path / "line.avi", env, seed=4)
    data = video.read_bytes()
    a, b = int(0.45 * len(data)), int(0.52 * len(data))
    (tmp_path / "damaged").mkdir()
    damaged = tmp_path / "damaged" / "line.avi"
    damaged.write_bytes(data[:a] + bytes(b - a) + data[b:])
    shutil.copy(video.with_suffix(".csv"), damaged.with_suffix(".csv"))
    return video, damaged


def one_part_a_frame(photos: list[tuple[Path, str]], video: Path) -> None:
    """A hardware-triggered camera's recording: one frame for each part, in order, and its ground truth beside it."""
    out = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 5.0, (300, 300))
    rows = ["part,label,first_frame,last_frame,source"]
    for k, (photo, label) in enumerate(photos):
        frame = cv2.imread(str(photo))
        assert frame is not None and frame.shape[:2] == (300, 300)
        out.write(frame)
        rows.append(f"{k + 1},{label},{k},{k},{photo.name}")
    out.release()
    video.with_suffix(".csv").write_text("\n".join(rows) + "\n")


def cut_out(video: Path, first: int, last: int, out: Path) -> None:
    """``video`` with its frames ``first``..``last`` cut out and the timestamps of the rest kept (MJPEG in Matroska), as a
    recorder that dropped them writes it; skipped where ffmpeg is not installed."""
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("Debian's ffmpeg is not installed (.ci/run installs it)")
    keep = f"select='not(between(n\\,{first}\\,{last}))'"
    cmd = [ffmpeg, "-v", "error", "-i", str(video), "-vf", keep, "-fps_mode", "passthrough", "-c:v", "mjpeg", "-q:v", "3", str(out)]
    subprocess.run(cmd, check=True, timeout=120)


def _composed_eight(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """A composed MJPG AVI (960 x 540, 30 fps, 16 px a frame, 240 px parts) of 4 good and 4 defective sample parts, and
    its ground truth's rows."""
    import csv

    from station.footage import Envelope, compose, labelled_photos

    photos = labelled_photos(SAMPLE)
    mix = [x for pair in zip([p for p in photos if p.label == "ok"][:4], [p for p in photos if p.label == "def"][:4], strict=True)
           for x in pair]  # fmt: skip
    whole = compose(mix, tmp_path / "whole.avi", Envelope(960, 540, 30, 16.0, 240.0, codec="MJPG"), seed=3)
    with whole.with_suffix(".csv").open(newline="") as f:
        return whole, list(csv.DictReader(f))


def _clip(whole: Path, rows: list[dict[str, str]], first: int, last: int, video: Path) -> int:
    """Frames ``first``..``last`` of ``whole`` as ``video``, and its ground truth as a generator writes it for such a clip:
    the parts entirely in view in it, each window cut to the clip and counted from its first frame. The rows kept."""
    import csv

    cap, out = cv2.VideoCapture(str(whole)), cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (960, 540))
    for k in range(last + 1):
        got, frame = cap.read()
        assert got
        if k >= first:
            out.write(frame)
    cap.release()
    out.release()
    kept = [{**r, "first_frame": str(max(int(r["first_frame"]), first) - first), "last_frame": str(min(int(r["last_frame"]), last) - first)}
            for r in rows if int(r["first_frame"]) <= last and int(r["last_frame"]) >= first]  # fmt: skip
    with video.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return len(kept)


def ended_in_a_window(tmp_path: Path, share: float) -> tuple[Path, int]:
    """A composed video of 8 parts (:func:`_composed_eight`), ended ``share`` of the way through its sixth part's window
    (the part still in view), and its ground truth as a generator writes it for such a video: the parts after it left
    out, each window ending at the last frame at most. (video, rows kept)."""
    whole, rows = _composed_eight(tmp_path)
    first, last = int(rows[5]["first_frame"]), int(rows[5]["last_frame"])
    end = first + int(share * (last - first))  # the new last frame
    video = tmp_path / "ended.avi"
    return video, _clip(whole, rows, 0, end, video)


def every_window_cut(tmp_path: Path) -> tuple[Path, int]:
    """A clip of a composed video of 8 parts (:func:`_composed_eight`) in which every part's window is cut by its start or
    its end: it begins with the third part entirely in view, and ends on the first frame after the next part came
    entirely into view. No window says how fast the parts move. (video, rows kept)."""
    whole, rows = _composed_eight(tmp_path)
    begin = int(rows[2]["first_frame"]) + 1
    end = min(int(r["first_frame"]) for r in rows if int(r["first_frame"]) >= begin) + 1
    video = tmp_path / "clip.avi"
    return video, _clip(whole, rows, begin, end, video)


def jpeg_ended_early(jpeg: bytes, at: float = 0.85) -> bytes:
    """``jpeg`` with an end-of-image marker written over its scan ``at`` of the way through (the rest left as it was)."""
    scan = jpeg.find(b"\xff\xda")
    i = scan + int((len(jpeg) - scan) * at)
    return jpeg[:i] + b"\xff\xd9\x00\x00" + jpeg[i + 4 :]


def tilted_view(photo: np.ndarray, squash: float, axis_deg: float) -> np.ndarray:
    """``photo`` as a camera tilted about ``axis_deg`` sees it: squashed by ``squash`` across that axis."""
    h, w = photo.shape
    a = math.radians(axis_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    lin = rot @ np.diag([squash, 1.0]) @ rot.T
    m = np.hstack([lin, (np.array([w / 2, h / 2]) - lin @ np.array([w / 2, h / 2]))[:, None]])
    return cv2.warpAffine(photo, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=float(np.median(photo[0])))
