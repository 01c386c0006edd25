"""Capture stage against fakes that implement the FrameSource protocol (no camera can be attached here)."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np
import pytest
import structlog.testing

from station.blobs import no_room
from station.config import TriggerSection
from station.errors import CameraError
from station.frame_source import Grab
from station.messages import END, CameraState, DropReason, Frame
from station.metrics import Metrics
from station.stages.capture import CaptureStage

from .conftest import wait_for


class FakeSource:
    """A recorded or live source of ``n`` tiny frames; a live one can fail for a while."""

    def __init__(self, n: int, live: bool, fail_opens: int = 0, lose_after: int | None = None) -> None:
        self.name = "fake"
        self.live = live
        self.fps: float | None = None
        self.frame_count: int | None = n
        self._n = n
        self._i = 0
        self._fail_opens = fail_opens
        self._lose_after = lose_after
        self.opens = 0
        self.drops: dict[DropReason, int] = {}

    def interrupt(self) -> None:
        pass

    def open(self) -> None:
        self.opens += 1
        if self._fail_opens > 0:
            self._fail_opens -= 1
            raise CameraError("fake: not there")

    def read(self) -> Grab | None:
        if self._lose_after is not None and self._i == self._lose_after:
            self._lose_after = None
            raise CameraError("fake: link lost")
        if self._i >= self._n:
            if self.live:
                time.sleep(0.01)
                return None
            return None
        self._i += 1
        return Grab(np.full((4, 4), self._i, np.uint8))

    def close(self) -> None:
        pass


def _drain(q: queue.Queue[object], timeout: float = 5.0) -> list[object]:
    out: list[object] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            continue
        out.append(item)
        if item is END:
            break
    return out


def test_recorded_source_never_drops_even_with_a_slow_consumer() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=2)
    m = Metrics()
    cap = CaptureStage(FakeSource(30, live=False), q, m)
    cap.start()
    got: list[object] = []
    end = time.monotonic() + 10
    while time.monotonic() < end and (not got or got[-1] is not END):
        try:
            got.append(q.get(timeout=0.1))
        except queue.Empty:
            continue
        time.sleep(0.005)
    cap.join(2)
    frames = [f for f in got if isinstance(f, Frame)]
    assert [f.index for f in frames] == list(range(30)) and got[-1] is END
    assert m.frames_dropped.labels(reason="queue_full")._value.get() == 0


def test_live_source_drops_the_oldest_and_counts_it() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=3)
    m = Metrics()
    cap = CaptureStage(FakeSource(50, live=True), q, m)
    cap.start()
    end = time.monotonic() + 5
    while time.monotonic() < end and cap.frames < 50:
        time.sleep(0.01)
    cap.stop()
    cap.join(2)
    got = _drain(q)
    frames = [f for f in got if isinstance(f, Frame)]
    assert frames[-1].index == 49  # the newest survived
    dropped = m.frames_dropped.labels(reason="queue_full")._value.get()
    assert dropped == 50 - len(frames) and dropped > 0


def test_a_live_sources_full_queue_drops_frames_never_the_camera_lost_marker() -> None:
    """The camera is lost after 20 frames and reopened while the trigger is behind (nothing takes from the queue): the
    marker once went as the oldest frame, and the trigger matched the parts after the outage to tracks from before it."""
    q: queue.Queue[object] = queue.Queue(maxsize=3)
    m = Metrics()
    cap = CaptureStage(FakeSource(50, live=True, lose_after=20), q, m, backoff_cap_s=0.05)
    cap.start()
    assert wait_for(lambda: cap.frames >= 50, 10)
    cap.stop()
    cap.join(2)
    got = [x for x in _drain(q) if isinstance(x, Frame)]
    assert [("lost" if f.camera_lost else f.index) for f in got] == ["lost", 48, 49]
    assert m.frames_dropped.labels(reason="queue_full")._value.get() == 48  # every frame but the newest two, counted


def test_live_source_reconnects_with_backoff_and_counts_it() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=100)
    m = Metrics()
    src = FakeSource(20, live=True, fail_opens=2, lose_after=5)
    cap = CaptureStage(src, q, m, backoff_cap_s=0.3)
    t0 = time.monotonic()
    cap.start()
    assert wait_for(lambda: cap.frames >= 1, 10)
    assert time.monotonic() - t0 >= 0.2 + 0.3, "two refused opens: waits of 0.2 s, then 0.4 s capped at 0.3 s"
    assert wait_for(lambda: cap.frames >= 20, 10), "frames again after the link was lost"
    assert src.opens == 4  # two refused, the first that opened, the reopen after the link was lost
    assert cap.state is CameraState.CONNECTED
    assert m.camera_reconnects._value.get() == 1
    assert m.camera_connected._value.get() == 1
    cap.stop()
    cap.join(2)
    assert not cap.is_alive()


def test_stop_interrupts_the_backoff_at_once() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=10)
    cap = CaptureStage(FakeSource(5, live=True, fail_opens=10**6), q, Metrics(), backoff_cap_s=60)
    cap.start()
    time.sleep(1.0)  # well into the backoff
    t0 = time.monotonic()
    cap.stop()
    cap.join(2)
    assert not cap.is_alive() and time.monotonic() - t0 < 1.0
    assert _drain(q, 1.0)[-1] is END


def test_a_failing_source_is_recorded_not_hung() -> None:
    class Broken(FakeSource):
        def read(self) -> Grab | None:
            raise RuntimeError("driver bug")

    q: queue.Queue[object] = queue.Queue(maxsize=10)
    cap = CaptureStage(Broken(5, live=False), q, Metrics())
    cap.start()
    cap.join(3)
    assert isinstance(cap.failed, RuntimeError)
    assert _drain(q, 1.0)[-1] is END
    assert threading.active_count() < 50


class PausingCamera(FakeSource):
    """A free-running live camera at 25 fps that goes silent after ``n`` frames until ``resume`` is set."""

    def __init__(self, n: int) -> None:
        super().__init__(n, live=True)
        self.fps = 25.0
        self.resume = threading.Event()
        self.last_frame_at = 0.0

    def read(self) -> Grab | None:
        if self._i >= self._n and not self.resume.is_set():
            time.sleep(0.02)  # a pop that timed out
            return None
        time.sleep(0.04)
        self._i += 1
        self.last_frame_at = time.monotonic()
        return Grab(np.full((4, 4), self._i % 256, np.uint8))


def test_a_silent_free_running_camera_is_lost_within_a_second_and_back_without_a_reopen() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=1000)
    m = Metrics()
    src = PausingCamera(10)
    cap = CaptureStage(src, q, m, stale_after_s=30.0)
    cap.start()
    try:
        assert wait_for(lambda: cap.frames == 10, 5)
        assert wait_for(lambda: cap.state is CameraState.DISCONNECTED, 5)
        seen_after = time.monotonic() - src.last_frame_at
        assert seen_after < 1.0, f"lost {seen_after:.2f} s after the last frame"
        assert m.camera_connected._value.get() == 0
        markers = [f for f in _drain(q, 0.5) if isinstance(f, Frame) and f.camera_lost]
        assert markers == [], "a short silence: the trigger keeps following its parts (no second verdict for any)"
        src.resume.set()
        assert wait_for(lambda: cap.state is CameraState.CONNECTED, 5)
        assert src.opens == 1 and m.camera_reconnects._value.get() == 0
    finally:
        cap.stop()
        cap.join(2)


class BlockingCamera(PausingCamera):
    """A free-running camera whose read blocks while it is silent, as OpenCV's does for up to camera.read_timeout_s."""

    def read(self) -> Grab | None:
        if self._i >= self._n:
            self.resume.wait(10)
            self.resume.clear()
            raise CameraError("fake: read timed out")
        return super().read()


def test_a_camera_silent_inside_a_blocked_read_is_blind_to_other_threads_before_the_read_returns() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=1000)
    src = BlockingCamera(10)
    cap = CaptureStage(src, q, Metrics(), stale_after_s=30.0)
    assert cap.blind() == "camera connecting"  # not opened yet: parts going by are not seen
    cap.start()
    try:
        assert wait_for(lambda: cap.frames == 10, 5)
        assert wait_for(lambda: cap.blind() is not None, 5)
        assert (cap.blind() or "").startswith("camera silent for")
        assert cap.state is CameraState.CONNECTED, "the capture thread itself is still in its read"
        assert time.monotonic() - src.last_frame_at < 1.0, "blind within 8 frame intervals (0.32 s), not the read's timeout"
    finally:
        src.resume.set()
        cap.stop()
        cap.join(2)


class GarbledCamera(PausingCamera):
    """A free-running camera at 25 fps whose frames stop decoding after ``n`` (a stream's corrupt packets) until ``resume``."""

    def read(self) -> Grab | None:
        if self._i >= self._n and not self.resume.is_set():
            time.sleep(0.04)
            return Grab(None, "fake: frame could not be decoded", self.name)
        return super().read()


def test_a_camera_whose_frames_stop_decoding_is_blind_though_frames_still_arrive() -> None:
    """1.6 s of undecodable frames is a belt no one sees: degraded (gateways reject every part), not running."""
    q: queue.Queue[object] = queue.Queue(maxsize=1000)
    src = GarbledCamera(10)
    cap = CaptureStage(src, q, Metrics(), stale_after_s=30.0)
    cap.start()
    try:
        assert wait_for(lambda: cap.frames == 10, 5) and cap.blind() is None
        assert wait_for(lambda: cap.blind() is not None, 5)
        assert (cap.blind() or "").startswith("no frame decoded for") and cap.state is CameraState.CONNECTED
        assert time.monotonic() - src.last_frame_at < 1.0, "blind within 8 frame intervals (0.32 s) of the last good frame"
        src.resume.set()
        assert wait_for(lambda: cap.blind() is None, 5), "frames that decode again: it sees"
    finally:
        cap.stop()
        cap.join(2)


class Garbled(FakeSource):
    """A source whose first ``n`` frames fail to decode; live, silent after them."""

    def read(self) -> Grab | None:
        if self._i >= self._n:
            time.sleep(0.01)
            return None
        self._i += 1
        return Grab(None, f"fake: frame {self._i} could not be decoded", self.name)


def test_a_cameras_stream_of_unreadable_frames_is_one_log_line_and_a_count_a_files_a_line_each() -> None:
    """Each frame counted and passed on (its part rejected). A camera's, at 25 frames a second to journald, is logged first
    and then how many more every 10 s, and at the end; a file's (a folder's photos, a video's frames) each named."""
    for live, said in ((True, [None, 49]), (False, [None] * 50)):
        q: queue.Queue[object] = queue.Queue(maxsize=1000)
        m = Metrics()
        with structlog.testing.capture_logs() as logs:
            cap = CaptureStage(Garbled(50, live=live), q, m, stale_after_s=30.0)
            cap.start()
            assert wait_for(lambda m=m: m.frames_dropped.labels(reason="unreadable")._value.get() == 50, 5)  # type: ignore[misc]
            cap.stop()
            cap.join(2)
        lines = [e for e in logs if e["event"] == "frame_unreadable"]
        assert [e.get("suppressed") for e in lines] == said and lines[0]["error"] == "fake: frame 1 could not be decoded"


def test_a_recording_is_never_blind_and_a_hardware_trigger_not_for_its_silence() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=1000)
    assert CaptureStage(FakeSource(3, live=False), q, Metrics()).blind() is None
    src = PausingCamera(2)
    cap = CaptureStage(src, q, Metrics(), free_run=False)
    cap.start()
    try:
        assert wait_for(lambda: cap.frames == 2, 5)
        time.sleep(0.5)  # more than 8 frame intervals at 25 fps without a trigger
        assert cap.blind() is None
    finally:
        cap.stop()
        cap.join(2)


def test_with_a_hardware_trigger_silence_is_normal() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=1000)
    src = PausingCamera(5)
    cap = CaptureStage(src, q, Metrics(), stale_after_s=0.5, free_run=False)
    cap.start()
    try:
        assert wait_for(lambda: cap.frames == 5, 5)
        time.sleep(1.5)  # three times stale_after_s without a trigger
        assert cap.state is CameraState.CONNECTED and src.opens == 1
    finally:
        cap.stop()
        cap.join(2)


def _frames_until_end(q: queue.Queue[object], timeout: float = 10.0) -> list[Frame]:
    got = _drain(q, timeout)
    assert got and got[-1] is END, "the capture ended within the bound"
    return [f for f in got if isinstance(f, Frame)]


class PacedCamera(FakeSource):
    """A live camera that gives a frame every 5 ms, as a hardware trigger at a fast line's pace."""

    def read(self) -> Grab | None:
        time.sleep(0.005)
        return super().read()


def test_where_frames_are_parts_the_newest_frame_is_lost_and_rejected_in_its_place() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=3)
    m = Metrics()
    src = PacedCamera(60, live=True)
    cap = CaptureStage(src, q, m, free_run=False, frames_are_parts=True)
    cap.start()
    assert wait_for(lambda: src._i >= 20, 5)  # nobody reads meanwhile: the queue fills after 3 frames, then frames are lost
    got: list[object] = []
    end = time.monotonic() + 10
    while time.monotonic() < end and src._i < 60:  # then the station keeps up again while frames still come
        try:
            got.append(q.get(timeout=0.05))
        except queue.Empty:
            continue
    cap.stop()
    frames = [f for f in got if isinstance(f, Frame)] + _frames_until_end(q)
    cap.join(2)
    assert [f.index for f in frames] == list(range(60)), "each frame the camera gave is one part, in its place: kept or marked lost"
    kinds = ["lost" if f.failure is not None else "seen" for f in frames]
    first = kinds.index("lost")
    assert kinds[:first] == ["seen"] * 3 and "seen" in kinds[first:], "the oldest frames were kept; frames came again after"
    assert all(f.image[0, 0] == f.index + 1 for f in frames if f.failure is None), "a frame's own number"
    lost = [f for f in frames if f.failure is not None]
    assert all(f.image.size == 0 and f.failure is not None and "capture queue was full" in f.failure.detail for f in lost)
    assert all(a.captured_mono <= b.captured_mono for a, b in itertools.pairwise(frames)), "each marker keeps its frame's time"
    assert m.frames_dropped.labels(reason="queue_full")._value.get() == kinds.count("lost")


class SkippingCamera(FakeSource):
    """A live camera that loses two frames on the wire before its sixth, as GigE frame ids that jump."""

    def read(self) -> Grab | None:
        if self._i == 5:
            self.drops[DropReason.MISSING_ID] = self.drops.get(DropReason.MISSING_ID, 0) + 2
        return super().read()


def _skipping_camera_run(m: Metrics, frames_are_parts: bool) -> list[Frame]:
    """Ten frames of a :class:`SkippingCamera` through the capture stage, to its end marker."""
    q: queue.Queue[object] = queue.Queue(maxsize=100)
    src = SkippingCamera(10, live=True)
    cap = CaptureStage(src, q, m, free_run=not frames_are_parts, frames_are_parts=frames_are_parts)
    cap.start()
    assert wait_for(lambda: src._i == 10, 5)
    cap.stop()
    frames = _frames_until_end(q)
    cap.join(2)
    return frames


def test_where_frames_are_parts_frames_the_source_lost_are_rejected_before_the_next_one() -> None:
    m = Metrics()
    frames = _skipping_camera_run(m, frames_are_parts=True)
    kinds = ["lost" if f.failure is not None else int(f.image[0, 0]) for f in frames]
    assert kinds == [1, 2, 3, 4, 5, "lost", "lost", 6, 7, 8, 9, 10]
    assert [f.index for f in frames] == list(range(12))
    assert frames[4].captured_mono <= frames[5].captured_mono <= frames[6].captured_mono <= frames[7].captured_mono, "in between"
    assert all("missing_id" in f.failure.detail for f in frames if f.failure is not None)
    assert m.frames_dropped.labels(reason="missing_id")._value.get() == 2


def test_on_a_free_running_line_the_frames_the_source_lost_are_counted_and_numbered_past() -> None:
    """The line trigger follows its parts across frames it did not see by the gap in their numbers: numbered on as if
    none was lost, a part that moved two frames' way unseen was judged twice, or not at all."""
    m = Metrics()
    frames = _skipping_camera_run(m, frames_are_parts=False)
    assert [int(f.image[0, 0]) for f in frames] == list(range(1, 11))
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]
    assert m.frames_dropped.labels(reason="missing_id")._value.get() == 2


@contextmanager
def _streaming(free_run: bool, room: Callable[[int, int], str | None]) -> Iterator[CaptureStage]:
    """A capture stage started on a live 25 fps camera of 4 x 4 px frames, stopped after."""
    src = PausingCamera(1000)
    src.resume.set()
    cap = CaptureStage(src, queue.Queue(maxsize=1000), Metrics(), stale_after_s=30.0, free_run=free_run, no_room=room)
    cap.start()
    try:
        yield cap
    finally:
        cap.stop()
        cap.join(2)


@pytest.mark.parametrize("free_run", [True, False], ids=["free-running", "hardware-trigger"])
def test_a_camera_whose_frames_cannot_show_a_whole_part_is_blind_whatever_its_trigger(free_run: bool) -> None:
    """4 x 4 px frames (a camera.roi too small for the parts): the line trigger sees no part in them, so gateways must
    reject every part meanwhile. Frames that can show one do not make it blind."""
    said = "frames of 4 x 4 px cannot show a part of trigger.min_diameter_px (120 px)"
    with _streaming(free_run, partial(no_room, TriggerSection())) as cap:
        assert wait_for(lambda: (cap.blind() or "").startswith(said), 5) and cap.state is CameraState.CONNECTED
    with _streaming(free_run, lambda w, h: None) as cap:
        assert wait_for(lambda: cap.frames >= 5, 5) and cap.blind() is None


class ResizingCamera(FakeSource):
    """A camera whose frames are 8 x 8 px, then from the 4th frame 16 x 16 px (a mode switched under the station)."""

    def read(self) -> Grab | None:
        if self._i >= self._n:
            return None
        self._i += 1
        side = 8 if self._i <= 3 else 16
        return Grab(np.full((side, side), self._i, np.uint8))


@pytest.mark.parametrize("live", [True, False], ids=["camera", "recording"])
def test_a_change_of_frame_size_is_a_break_and_a_live_camera_is_blind_until_it_is_opened_anew(live: bool) -> None:
    """A camera switching mode, or a stream's encoder its size, mid-run: the line trigger matched its tracks at the old
    scale in the new frames (a part judged twice, or parts crossing never judged: 0.5 x frames made 6 of 10 parts, 3 of
    them defects, go without a verdict, the station saying running; before 2026-12-07). Now a camera-lost marker goes
    before the first frame of the new size (the parts in view rejected, the trigger starts over), and a live camera is
    blind until reopened: its parts may now be too small or too large for the trigger's sizes."""
    q: queue.Queue[object] = queue.Queue(maxsize=1000)
    src = ResizingCamera(6, live=live)
    cap = CaptureStage(src, q, Metrics(), stale_after_s=30.0, free_run=False, no_room=lambda w, h: None)
    cap.start()
    try:
        assert wait_for(lambda: cap.frames == 6, 5)
        items = [f for f in _drain(q, 0.5) if isinstance(f, Frame)]
        assert [(f.index, f.camera_lost, f.image.shape[:1]) for f in items][2:5] == [(2, False, (8,)), (3, True, (0,)), (3, False, (16,))]
        assert items[3].failure is not None and "the frame size changed from 8x8 to 16x16" in items[3].failure.detail
        if live:
            assert (cap.blind() or "").startswith("frames of 16x16 since the camera opened at 8x8")
        else:
            assert cap.blind() is None  # a recording is never blind: its parts in view at the change are rejected
    finally:
        cap.stop()
        cap.join(2)
