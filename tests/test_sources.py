"""station/sources.py: video files, live OpenCV cameras and streams, and the choice among all sources."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from structlog.testing import capture_logs

from station.errors import CameraError
from station.frame_source import Grab
from station.sources import V4L2_WAIT, OpenCVLiveSource, VideoFileSource, source_for
from station.stills import MAX_IMAGE_SIDE, ImageFolderSource

from .conftest import SAMPLE, cut_out


def test_an_empty_video_file_is_said_so_before_the_decoder_opens_it(tmp_path: Path) -> None:
    """Empty, or a file the kernel makes (``/proc/kmsg`` says 0 bytes, and with messages unread a first byte reads at
    once): the decoder's open of the latter waits for the kernel's next line, deaf to SIGTERM."""
    (tmp_path / "v.mp4").write_bytes(b"")
    with pytest.raises(CameraError, match=r"v\.mp4: cannot read the video: an empty file \(0 bytes\) is no video$"):
        VideoFileSource(tmp_path / "v.mp4").open()


def test_a_video_file_it_may_not_read_is_said_so_not_called_corrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A video at mode 000 (faked: these tests run as root): the decoder's open fails on it as on a corrupt file."""
    video = tmp_path / "v.avi"
    video.write_bytes(b"x")
    opened = os.open

    def denied(path: object, *args: Any, **kwargs: Any) -> int:
        if Path(str(path)) == video:
            raise PermissionError(13, "Permission denied", str(path))
        return opened(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(CameraError, match=r"v\.avi: cannot read the video: Permission denied$"):
        VideoFileSource(video).open()


def test_source_kind_follows_the_source_string(tmp_path: Path) -> None:
    assert isinstance(source_for("usb:0"), OpenCVLiveSource)
    assert isinstance(source_for("/dev/video2"), OpenCVLiveSource)
    assert isinstance(source_for("rtsp://127.0.0.1:8554/cam"), OpenCVLiveSource)
    assert isinstance(source_for(str(SAMPLE / "ok_front")), ImageFolderSource)
    (tmp_path / "v.mp4").write_bytes(b"")
    assert isinstance(source_for(str(tmp_path / "v.mp4")), VideoFileSource)
    with pytest.raises(CameraError, match="no such file"):
        source_for(str(tmp_path / "missing.mp4"))
    (tmp_path / "a.avi").symlink_to(tmp_path / "b.avi")
    (tmp_path / "b.avi").symlink_to(tmp_path / "a.avi")
    with pytest.raises(CameraError, match=r"a\.avi: a link that leads nowhere, or round in a loop"):  # not "no such file"
        source_for(str(tmp_path / "a.avi"))
    with pytest.raises(CameraError, match="usb:N"):
        source_for("usb:abc")
    stream = source_for("rtsp://admin:s3cret@127.0.0.1:9/x")  # port 9: nothing answers, refused at once
    assert stream.name == "rtsp://admin:***@127.0.0.1:9/x"
    with pytest.raises(CameraError, match=r"^rtsp://admin:\*\*\*@127\.0\.0\.1:9/x: cannot open"):
        stream.open()
    for long in (tmp_path / ("a" * 300), tmp_path / ("a" * 300 + ".png")):  # the OSError escaped: not named camera.source
        with pytest.raises(CameraError, match=r"a{20}(\.png)?: File name too long"):
            source_for(str(long))


def _noise_avi(path: Path, frames: int) -> bytes:
    """An MJPG AVI of ``frames`` frames of noise (each frame's JPEG large and unlike the next); its bytes."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    w.release()
    return path.read_bytes()


def _read_to_end(path: Path) -> tuple[VideoFileSource, list[Grab]]:
    """The video's source, opened, read to its end and closed, and every grab it handed on."""
    src = VideoFileSource(path)
    src.open()
    grabs = []
    while (g := src.read()) is not None:
        grabs.append(g)
    src.close()
    return src, grabs


def test_truncated_video_ends_cleanly(tmp_path: Path) -> None:
    p = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 120))
    for i in range(40):
        w.write(np.full((120, 160, 3), i * 5, np.uint8))
    w.release()
    data = p.read_bytes()
    (tmp_path / "t.avi").write_bytes(data[: len(data) // 2])
    _, grabs = _read_to_end(tmp_path / "t.avi")
    assert 0 < len(grabs) < 40 and all(g.image is not None for g in grabs[:-1])  # no frames made up past where the file ends
    assert grabs[-1].image is not None or "frame 12: not a decodable image" in str(grabs[-1].error)  # the one the cut goes through


def test_frames_a_damaged_or_cut_short_video_loses_are_counted(tmp_path: Path) -> None:
    """FFmpeg skips a zeroed stretch of an AVI without a failed read: the frames after it come numbered too early, and
    only the count the file declares shows it. The frame the stretch begins in is damaged: decoded as a photo, it is
    found (FFmpeg's decoder hid it). A cut-short file loses its end, the frame the cut goes through unreadable. An intact one
    loses nothing."""
    data = _noise_avi(tmp_path / "v.avi", 60)
    a, b = int(0.45 * len(data)), int(0.52 * len(data))
    for name, content, lost in (("intact", data, False), ("zeroed", data[:a] + bytes(b - a) + data[b:], True), ("cut", data[:a], True)):
        (tmp_path / f"{name}.avi").write_bytes(content)
        src, grabs = _read_to_end(tmp_path / f"{name}.avi")
        damaged = [g.error for g in grabs if g.image is None]
        assert src.frame_count == 60 and src.count_is_exact and len(damaged) == (name != "intact"), name  # cut: the frame cut through
        assert all("its JPEG data is damaged" in str(why) for why in damaged)
        assert src.frames_lost() == 60 - len(grabs) and (src.frames_lost() > 0) is lost, name


def test_a_frame_that_cannot_be_decoded_mid_video_is_one_unreadable_frame_and_the_rest_are_read(tmp_path: Path) -> None:
    data = bytearray(_noise_avi(tmp_path / "v.avi", 40))
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # each frame's JPEG
    middle = starts[20]
    data[middle : middle + 400] = bytes(400)  # its JPEG header gone: that frame cannot be decoded
    (tmp_path / "c.avi").write_bytes(bytes(data))
    _, grabs = _read_to_end(tmp_path / "c.avi")
    bad = [i for i, g in enumerate(grabs) if g.image is None]
    assert bad and all(g.error and f"frame {k}: not a decodable image" in g.error for k, g in enumerate(grabs) if g.image is None)
    assert len(grabs) == 40 and len(bad) <= 2 and sum(g.image is not None for g in grabs[bad[-1] :]) >= 15  # read on past it


def test_a_video_that_declares_its_frame_count_is_read_past_a_corrupt_stretch_of_more_than_fifty_frames(tmp_path: Path) -> None:
    """70 frames in a row that do not decode (a corrupt stretch of an MP4 lasted 71): taken for the end after 50, every
    frame after them was lost, and every part they showed got no verdict."""
    data = bytearray(_noise_avi(tmp_path / "v.avi", 120))
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # each frame's JPEG
    for k in range(30, 100):
        data[starts[k] : starts[k] + 400] = bytes(400)
    (tmp_path / "c.avi").write_bytes(bytes(data))
    src, grabs = _read_to_end(tmp_path / "c.avi")
    assert len(grabs) == 120 and src.frames_lost() == 0
    assert [k for k, g in enumerate(grabs) if g.image is None] == list(range(30, 100))


def _small_video(path: Path, frames: int = 10) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25, (160, 120))  # MPEG-4 decodes on threads; MJPEG does not
    for i in range(frames):
        w.write(np.full((120, 160, 3), i * 5, np.uint8))
    w.release()
    return path


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_decode_threads_reach_the_decoder(tmp_path: Path, threads: int | None) -> None:
    src = source_for(str(_small_video(tmp_path / "v.mp4")), decode_threads=threads)
    assert isinstance(src, VideoFileSource)
    src.open()
    assert src._cap is not None
    got = int(src._cap.get(cv2.CAP_PROP_N_THREADS))
    frames = 0
    while src.read() is not None:
        frames += 1
    src.close()
    assert frames == 10  # every frame, whatever the thread count
    if threads is None:
        assert got >= 1  # FFmpeg's own choice
    else:
        assert got == threads


def test_junk_file_as_video_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "junk.mp4"
    p.write_bytes(b"\x00junk" * 100)
    with pytest.raises(CameraError, match=r"junk\.mp4"):
        VideoFileSource(p).open()


class _EmptyCapture:
    """Stands in for cv2.VideoCapture: no camera can be attached here. It says ok but gives no pixels."""

    def read(self) -> tuple[bool, np.ndarray]:
        return True, np.zeros((0, 0), np.uint8)

    def release(self) -> None:
        pass


def test_a_camera_that_returns_empty_frames_is_a_camera_error() -> None:
    src = OpenCVLiveSource("usb:0", None, 1.0)
    src._cap = _EmptyCapture()  # type: ignore[assignment]
    with pytest.raises(CameraError, match="no frame"):
        src.read()


def test_a_usb_cameras_read_is_bounded_by_read_timeout_s_and_a_bound_set_outside_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    """No USB camera here: the open fails, after the bound OpenCV's V4L2 reads take from the environment is set."""
    monkeypatch.setenv(V4L2_WAIT, "")  # recorded, so that the test leaves the environment as it found it
    monkeypatch.delenv(V4L2_WAIT)
    with pytest.raises(CameraError, match="cannot open camera"):
        OpenCVLiveSource("usb:63", None, 2.5).open()
    assert os.environ[V4L2_WAIT] == "3"  # whole seconds, rounded up (OpenCV's own is 10)
    monkeypatch.setenv(V4L2_WAIT, "1")
    with pytest.raises(CameraError):
        OpenCVLiveSource("usb:63", None, 5.0).open()
    assert os.environ[V4L2_WAIT] == "1"


def test_a_gstreamer_pipeline_needs_an_opencv_with_gstreamer() -> None:
    from station.camera import has_gstreamer

    if has_gstreamer():
        assert isinstance(source_for("gst:videotestsrc ! videoconvert ! appsink"), OpenCVLiveSource)
    else:
        with pytest.raises(CameraError, match="no GStreamer"):
            source_for("gst:videotestsrc ! videoconvert ! appsink")


def test_a_video_with_no_frame_that_decodes_is_one_line_when_it_is_opened(tmp_path: Path) -> None:
    """An AVI of no frames opened and replayed as nothing, exit 0, without a word."""
    p = tmp_path / "empty.avi"
    cv2.VideoWriter(str(p), cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 120)).release()
    with pytest.raises(CameraError, match=r"empty\.avi: no frame of it decodes"):
        VideoFileSource(p).open()


def test_frames_a_recordings_timestamps_say_are_missing_are_handed_on_as_unseen(tmp_path: Path) -> None:
    """Cut out, they would be taken for consecutive frames: the line trigger's tracks then take the parts behind them."""
    make = cv2.VideoWriter(str(tmp_path / "whole.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 120))
    for k in range(60):
        make.write(np.full((120, 160, 3), 4 * k, np.uint8))
    make.release()
    cut_out(tmp_path / "whole.avi", 20, 26, tmp_path / "cut.mkv")
    src = VideoFileSource(tmp_path / "cut.mkv")
    src.open()
    grabs = list(iter(src.read, None))
    src.close()
    assert len(grabs) == src.frames_handed_on == 60 and src.frames_lost() == 0
    assert [k for k, g in enumerate(grabs) if g.image is None] == list(range(20, 27))
    assert "frame 20 missing (its timestamps go from 0.760 s to 1.080 s)" in (grabs[20].error or "")
    after = grabs[27].image
    assert after is not None and abs(float(np.mean(after)) - 4 * 27) < 3, "the frame after the gap keeps its own number"


def test_a_videos_rotation_metadata_is_not_applied_and_is_logged_once(tmp_path: Path) -> None:
    """Frames are read as stored, as a camera sends them: turned by a 90-degree rotation in the file's metadata, the parts
    of a belt's footage moved down the frame, across the line trigger's direction, and a defective part passed."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("Debian's ffmpeg is not installed (.ci/run installs it)")
    plain = tmp_path / "plain.avi"
    w = cv2.VideoWriter(str(plain), cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 120))
    for i in range(5):
        w.write(np.full((120, 160, 3), 40 * i, np.uint8))
    w.release()
    stored, turned = tmp_path / "stored.mp4", tmp_path / "turned.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(plain), "-c:v", "mpeg4", "-q:v", "3", str(stored)], check=True, timeout=120)
    cmd = [ffmpeg, "-v", "error", "-i", str(stored), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(turned)]  # as recorded turned
    subprocess.run(cmd, check=True, timeout=120)
    src = VideoFileSource(turned)
    with capture_logs() as logs:
        src.open()
        src.close()
        src.open()
        grabs = list(iter(src.read, None))
        src.close()
    assert len(grabs) == 5 and all(g.image is not None and g.image.shape == (120, 160) for g in grabs), "as stored"
    said = [e for e in logs if e["event"] == "video_rotation_not_applied"]
    assert len(said) == 1 and said[0]["rotation_deg"] in (90, 270) and said[0]["file"] == str(turned)


def test_a_raw_mjpeg_stream_is_read_past_a_corrupt_stretch_though_its_frame_count_is_unknown(tmp_path: Path) -> None:
    """A raw .mjpeg declares no frame count: the first frame that did not decode was taken for the end, silently."""
    rng = np.random.default_rng(0)
    frames = [cv2.imencode(".jpg", rng.integers(0, 255, (120, 160), dtype=np.uint8))[1].tobytes() for _ in range(30)]
    frames[12] = frames[12][:40] + rng.integers(0, 256, len(frames[12]) - 40, dtype=np.uint8).tobytes()  # one ruined
    p = tmp_path / "line.mjpeg"
    p.write_bytes(b"".join(frames))
    src, grabs = _read_to_end(p)
    assert src.frame_count is None or src.frame_count > 30  # not a count to trust
    assert sum(g.image is not None for g in grabs) >= 28  # the frames after the ruined one are read


def test_a_video_opened_twice_hands_on_each_frame_once(tmp_path: Path) -> None:
    """replay and run probe the file (open, close), then the capture stage opens it again: the frame read ahead at the
    first open was handed on twice (one verdict more, every part after it shifted, with trigger.mode frame)."""
    p = tmp_path / "ten.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 120))
    for i in range(10):
        w.write(np.full((120, 160, 3), 10 + 20 * i, np.uint8))
    w.release()
    src = VideoFileSource(p)
    src.open()
    src.close()
    src.open()
    levels = []
    while (g := src.read()) is not None:
        assert g.image is not None
        levels.append(round((float(g.image.mean()) - 10) / 20))
    src.close()
    assert levels == list(range(10)) and src.frames_lost() == 0


def test_a_video_of_frames_larger_than_any_photo_is_refused_when_it_is_opened(tmp_path: Path) -> None:
    """Its container says the size before a frame is decoded: 13000 x 13000 MJPG frames once took 1.7 GB each."""
    p = tmp_path / "wide.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter.fourcc(*"MJPG"), 25, (MAX_IMAGE_SIDE + 8, 16))
    for _ in range(3):
        w.write(np.full((16, MAX_IMAGE_SIDE + 8, 3), 100, np.uint8))
    w.release()
    for source in (VideoFileSource(p), OpenCVLiveSource(str(p), None, 1.0)):  # a stream is opened by FFmpeg the same way
        with pytest.raises(CameraError, match=rf"wide\.avi: frames are {MAX_IMAGE_SIDE + 8}x16 px, larger than {MAX_IMAGE_SIDE} px"):
            source.open()


def test_motion_jpeg_frames_whose_data_is_damaged_are_unreadable_and_a_video_of_only_such_frames_is_refused(tmp_path: Path) -> None:
    """FFmpeg's decoder hid such damage (grey below it): a video whose every frame was cut short played with parts that
    never got a verdict. Each frame is decoded as a photo is, and its damage said."""
    data = bytearray(_noise_avi(tmp_path / "v.avi", 30))
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # each frame's JPEG
    ends = [data.index(b"\xff\xd9", s) for s in starts]

    def damaged(frames: range) -> bytes:
        out = bytearray(data)
        for k in frames:
            middle = (starts[k] + ends[k]) // 2
            out[middle : ends[k]] = bytes(ends[k] - middle)  # its second half zeroed: the same length, the data damaged
        return bytes(out)

    (tmp_path / "some.avi").write_bytes(damaged(range(10, 13)))
    _, grabs = _read_to_end(tmp_path / "some.avi")
    bad = {k: g.error for k, g in enumerate(grabs) if g.image is None}
    assert len(grabs) == 30 and sorted(bad) == [10, 11, 12], bad
    assert all(f"some.avi: frame {k}: not a decodable image (its JPEG data is damaged" in str(why) for k, why in bad.items())
    (tmp_path / "all.avi").write_bytes(damaged(range(30)))
    with pytest.raises(CameraError, match=r"all\.avi: no frame of it decodes"):
        VideoFileSource(tmp_path / "all.avi").open()


def test_a_damaged_last_frame_of_a_motion_jpeg_video_is_handed_on_as_unreadable(tmp_path: Path) -> None:
    """The file's last frames are damaged (read, not decodable): each is an unreadable frame, as one mid-file is, so the
    trigger knows the parts in it went unseen; before, the video ended a frame early without a word."""
    data = bytearray(_noise_avi(tmp_path / "v.avi", 30))
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for k in (28, 29):
        end = data.index(b"\xff\xd9", starts[k])
        middle = (starts[k] + end) // 2
        data[middle:end] = bytes(end - middle)
    (tmp_path / "end.avi").write_bytes(bytes(data))
    src, grabs = _read_to_end(tmp_path / "end.avi")
    bad = {k: g.error for k, g in enumerate(grabs) if g.image is None}
    assert len(grabs) == 30 and sorted(bad) == [28, 29], bad
    assert "end.avi: frame 29: not a decodable image (its JPEG data is damaged" in str(bad[29])
    assert src.frames_lost() == 0


def test_a_long_damaged_stretch_of_a_video_without_a_frame_count_is_read_through_and_counted_once(tmp_path: Path) -> None:
    """Raw Motion JPEG (no container, no count): 60 damaged frames mid-file, more than MAX_BAD_RUN. Each is one unreadable
    frame, the frames after them numbered as they are, none taken again for missing by the timestamps."""
    rng = np.random.default_rng(0)
    frames = [bytearray(cv2.imencode(".jpg", rng.integers(0, 255, (120, 160, 3), np.uint8))[1].tobytes()) for _ in range(160)]
    for k in range(30, 90):
        end = len(frames[k]) - 2
        frames[k][end // 2 : end] = bytes(end - end // 2)
    (tmp_path / "gap.mjpeg").write_bytes(b"".join(frames))
    src, grabs = _read_to_end(tmp_path / "gap.mjpeg")
    bad = [k for k, g in enumerate(grabs) if g.image is None]
    assert src.frame_count is None and len(grabs) == 160 and bad == list(range(30, 90))
    assert all("its JPEG data is damaged" in str(grabs[k].error) for k in bad)


def test_a_frame_stamped_late_by_less_than_three_quarters_of_an_interval_is_no_frame_lost() -> None:
    """At 50 fps (20 ms): a frame stamped 12 ms late counted as one lost, and every such frame moved the parts' frames
    one further from their ground truth (before 2026-12-07). Frames truly lost still count: 40 ms is one, 60 ms two."""
    from station.sources import missing_between

    assert [missing_between(1000.0, 1000.0 + gap, 50.0) for gap in (20, 32, 34, 40, 45, 60, 80)] == [0, 0, 0, 1, 1, 2, 3]
    assert missing_between(0.0, 80.0, 25.0) == 1  # two intervals at 25 fps
