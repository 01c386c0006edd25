"""Capture stage: one thread that reads the source and queues frames.

Overflow policy: a free-running camera drops the *oldest* queued frame and counts it (the newest
frame is what the line needs; the line trigger follows its parts across the gap), never a marker
(the end, a camera lost); a recording waits
for room, so replay never drops a frame. Where each frame is one part (a hardware-triggered camera,
``frames_are_parts``) a frame lost is a part lost: the *newest* goes, and each frame lost, whether
here or by the source (an incomplete GigE buffer, missing frame ids), takes its place in order as a
marker that the trigger turns into a part rejected as unable to inspect.
A live source that fails is reopened with capped exponential backoff that a stop interrupts.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import structlog

from station.config import CameraSection
from station.errors import CameraError
from station.frame_source import FrameSource, Grab
from station.messages import END, CameraState, Cause, DropReason, Failure, Frame, Reason
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.stages.base import Worker, put_bounded

log = structlog.get_logger()


def _marker(item: object) -> bool:
    """The end of the stream, or a camera lost: what a full queue never drops."""
    return item is END or (isinstance(item, Frame) and item.camera_lost)


LOST_AFTER_FRAMES = 8  # frame intervals of silence after which a free-running camera is lost
LOST_FLOOR_S = 0.25  # never sooner (a late packet resend is not a lost camera)
_EMPTY = np.zeros((0, 0), dtype=np.uint8)


class CaptureStage(Worker):
    """Owns the source; puts :class:`Frame` objects on ``outbox`` and END when done."""

    def __init__(
        self,
        source: FrameSource,
        outbox: queue.Queue[object],
        metrics: Metrics,
        realtime: bool = False,
        backoff_cap_s: float = CameraSection.model_fields["backoff_max_s"].default,  # the config's defaults, declared there
        stale_after_s: float = CameraSection.model_fields["stale_after_s"].default,
        free_run: bool = True,
        frames_are_parts: bool = False,
        no_room: Callable[[int, int], str | None] | None = None,
    ) -> None:
        self.source = source
        self.stale_after_s = stale_after_s
        self.free_run = free_run  # False: a hardware trigger starts each frame, so silence is normal
        self.frames_are_parts = frames_are_parts  # frame trigger: a frame lost is a part to reject, in its place
        self._lost: deque[Frame] = deque()  # markers of frames lost, each a part, waiting for room in the queue (oldest first)
        self.outbox = outbox
        self.metrics = metrics
        self.realtime = realtime
        self._backoff_cap = backoff_cap_s
        self.state = CameraState.CONNECTING
        self.frames = 0
        self.last_frame_mono = 0.0
        self.last_seen_mono = 0.0  # the last frame that decoded: a stream of undecodable frames shows the belt to no one
        self._streaming = False  # a frame came since the last open
        self._interval = 0.0  # observed seconds between frames (smoothed)
        self._no_room = no_room  # the line trigger: why frames of a size cannot show a whole part (None: they can)
        self._view: tuple[tuple[int, ...], str | None] = ((), None)  # the last decoded frame's shape, and why it shows no part
        self._opened: tuple[int, ...] = ()  # the first decoded frame's shape since the camera opened
        self._log = log.bind(stage="capture", camera=source.name)
        self._quiet = RateLimitedLog(logger=self._log)  # a stream of corrupt frames: one line every 10 s, each frame counted
        self._drops_seen: dict[DropReason, int] = {}  # the source's own drop counts, as last read
        super().__init__("capture", "stage-capture")

    def stop(self) -> None:
        """Stop grabbing; frames already queued still get their verdicts. A source's open in progress is interrupted."""
        super().stop()
        self.source.interrupt()

    def _set_state(self, state: CameraState) -> None:
        if state is not self.state:
            self._log.info("camera_state", state=state.value, previous=self.state.value)
            self.state = state
        self.metrics.camera_connected.set(1 if state is CameraState.CONNECTED else 0)

    def _put(self, item: object) -> None:
        if not self.source.live:
            put_bounded(self.outbox, item, self._abort)
            return
        if self.frames_are_parts:
            self._put_part(item)
            return
        while True:
            try:
                self.outbox.put_nowait(item)
                return
            except queue.Full:
                if self._drop_oldest_frame():
                    continue
                if _marker(item):  # nothing queued but markers: a marker waits for room, a frame is the one that goes
                    put_bounded(self.outbox, item, self._abort)
                else:
                    self.metrics.frames_dropped.labels(reason=DropReason.QUEUE_FULL).inc()
                return

    def _drop_oldest_frame(self) -> bool:
        """The oldest queued frame dropped and counted, never a marker (a camera-lost marker went as the oldest, and the
        trigger matched the parts after the outage to tracks from before it: a new part got no verdict); False when
        nothing but markers is queued. This thread is the queue's only producer."""
        q = self.outbox
        with q.mutex:
            gone = next((k for k, x in enumerate(q.queue) if not _marker(x)), None)
            if gone is None:
                return False
            del q.queue[gone]
            q.not_full.notify()
        self.metrics.frames_dropped.labels(reason=DropReason.QUEUE_FULL).inc()
        return True

    def _put_part(self, item: object) -> None:
        """One frame, one part: markers for frames lost go first; with no room, this frame is lost too (the newest goes),
        and its marker keeps its index and capture times (the gateway times the part's reject from them).

        A camera-lost marker is never lost: it waits for room, after the markers before it.
        """
        if isinstance(item, Frame) and not item.camera_lost:
            if self._flush_lost():
                try:
                    self.outbox.put_nowait(item)
                    return
                except queue.Full:
                    pass
            self.metrics.frames_dropped.labels(reason=DropReason.QUEUE_FULL).inc()
            why = "the capture queue was full (the station fell behind the trigger)"
            if item.failure is not None:
                why = f"{item.failure.detail}; then {why}"
            self._lost.append(replace(item, image=_EMPTY, failure=Failure(Reason.UNABLE, f"frame lost: {why}", Cause.FRAME_LOST)))
            return
        self._drain_lost()
        put_bounded(self.outbox, item, self._abort)

    def _lost_by_source(self, reason: DropReason, n: int) -> None:
        """Markers for ``n`` frames the source lost since the last frame, in the frame numbers and at the times they would
        have had (spread evenly between the last frame and now: a hardware trigger's pulses come at the line's pace)."""
        mono, wall = time.monotonic(), time.time()
        since = max(0.0, mono - self.last_frame_mono) if self._streaming else 0.0
        for k in range(n):
            back = since * (n - k) / (n + 1)
            lost = Failure(Reason.UNABLE, f"frame lost: the camera's frame did not arrive whole ({reason})", Cause.FRAME_LOST)
            self._lost.append(Frame(self.frames, _EMPTY, mono - back, wall - back, lost))
            self.frames += 1

    def _flush_lost(self) -> bool:
        """Queue the marker of each frame lost, oldest first, while there is room; True when none is left waiting."""
        while self._lost:
            try:
                self.outbox.put_nowait(self._lost[0])
            except queue.Full:
                return False
            self._lost.popleft()
        return True

    def _drain_lost(self) -> None:
        """Wait for room for every marker still waiting (a drain, a camera lost); only an abort gives up."""
        while not self._flush_lost() and not self._abort.wait(0.05):
            pass

    def _wait(self, seconds: float) -> bool:
        """Back off for ``seconds`` in short slices, showing progress (waiting for a camera is not a hang)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.last_progress = time.monotonic()
            if self._stop.wait(min(left, 0.5)):
                return True
        return False

    def _open_with_backoff(self) -> bool:
        delay = 0.2
        while not self._stop.is_set():
            self.last_progress = time.monotonic()
            try:
                self.source.open()
                self._streaming = False  # the first frame after an open may take longer than a frame interval
                self._view, self._opened = ((), None), ()  # its frames' size is the camera's as opened now
                self._set_state(CameraState.CONNECTED)
                return True
            except CameraError as exc:
                if not self.source.live:
                    raise
                self._set_state(CameraState.DISCONNECTED)
                self._log.warning("camera_open_failed", error=str(exc), retry_in_s=round(delay, 2))
                if self._wait(delay):
                    return False
                delay = min(delay * 2, self._backoff_cap)
        return False

    def _finish(self) -> None:
        self._quiet.flush()
        self.source.close()
        self._drain_lost()  # a drain still gives each part lost its reject
        put_bounded(self.outbox, END, self._abort)

    def _reconnect(self, why: str) -> bool:
        """Close and reopen a live source (with backoff); False when stopped meanwhile."""
        self._log.warning("camera_lost", error=why)
        self._set_state(CameraState.DISCONNECTED)
        self._mark_lost(why)  # tell the trigger: parts it was following cannot be matched across the outage
        self.source.close()
        if not self._open_with_backoff():
            return False
        self.metrics.camera_reconnects.inc()
        self.last_frame_mono = self.last_seen_mono = time.monotonic()
        return True

    def _mark_lost(self, why: str) -> None:
        """A camera-lost marker before the next frame: the trigger rejects the parts in view and starts over."""
        lost = Failure(Reason.UNABLE, f"camera lost: {why}", Cause.CAMERA_LOST)
        self._put(Frame(self.frames, _EMPTY, time.monotonic(), time.time(), lost, camera_lost=True))

    def lost_after_s(self) -> float:
        """Silence after which a free-running camera is lost: LOST_AFTER_FRAMES frame intervals (at least LOST_FLOOR_S).

        Never more than camera.stale_after_s; a source that reports no frame rate has only that.
        """
        fps = self.source.fps
        if not fps:
            return self.stale_after_s
        interval = max(1.0 / fps, self._interval)  # a camera slower than it says (long exposure) is not lost between its frames
        return min(self.stale_after_s, max(LOST_FLOOR_S, LOST_AFTER_FRAMES * interval))

    @property
    def sending(self) -> bool:
        """Frames came since the camera last opened, whether they decode or not."""
        return self._streaming

    def blind(self) -> str | None:
        """Why the station cannot see the belt now (None: it can), for a live camera: not connected, no frame since it
        opened, frames too small to show a whole part (with the line trigger: a camera.roi or mode too small), or
        free-running and silent, or sending only frames that do not decode (a stream's corrupt packets), past
        :meth:`lost_after_s`. Read from other threads (the heartbeats'), since this
        one may be blocked in a read for up to camera.read_timeout_s while parts go by unseen. A recording is never blind."""
        if not self.source.live:
            return None
        if self.state is not CameraState.CONNECTED:
            return f"camera {self.state.value}"
        if (small := self._view[1]) is not None:  # a camera.roi or mode too small for the parts: it sees none of them
            return small
        if not self.free_run:  # a hardware trigger: silence is normal
            return None
        if not self._streaming:
            return "no frame since the camera opened"
        if (silent := self._lost_silence()) is not None:
            return f"camera silent for {silent:.2f} s"
        undecoded = time.monotonic() - self.last_seen_mono
        return f"no frame decoded for {undecoded:.2f} s" if undecoded > self.lost_after_s() else None

    def _lost_silence(self) -> float | None:
        """How long a streaming camera has been silent, once that is past :meth:`lost_after_s` (None: not lost)."""
        silent = time.monotonic() - self.last_frame_mono
        return silent if self._streaming and silent > self.lost_after_s() else None

    def _silent(self) -> bool:
        """A live read gave nothing: say the camera is lost after a few frame intervals, reopen it after stale_after_s.

        Lost means blind: ``degraded`` in the heartbeats (gateways reject every part meanwhile),
        station_camera_connected 0, /healthz 503. The trigger keeps following the parts in view, so
        a silence in which they move less than about half their size costs no part a second verdict
        (the frames after it are numbered on, so the trigger cannot tell how far they moved); if the
        silence lasts stale_after_s, the reopen tells the trigger, and every part then in view is
        rejected. With a hardware trigger
        silence is normal: only the control channel (a read that fails) says the camera is gone.
        False when stopped meanwhile.
        """
        if not self.free_run:
            return True
        if self.state is CameraState.CONNECTED and (lost := self._lost_silence()) is not None:
            self._log.warning("camera_lost", error=f"no frame for {lost:.2f} s (free run at {self.source.fps or 0:.1f} fps)")
            self._set_state(CameraState.DISCONNECTED)
        if (silent := time.monotonic() - self.last_frame_mono) > self.stale_after_s:
            return self._reconnect(f"no frame for {silent:.1f} s (camera.stale_after_s)")
        return True

    def _count_source_drops(self) -> None:
        """Frames the source itself lost (incomplete GigE buffers, missing frame ids): where frames are parts, each is one;
        on a free-running line the frames after them are numbered past them, so that the line trigger follows its parts
        across the frames it did not see (numbered on as if none was lost, a part got two verdicts or none)."""
        for reason, n in self.source.drops.items():
            seen = self._drops_seen.get(reason, 0)
            if n > seen:
                self.metrics.frames_dropped.labels(reason=reason.value).inc(n - seen)
                self._drops_seen[reason] = n
                if self.frames_are_parts:
                    self._lost_by_source(reason, n - seen)
                else:
                    self.frames += n - seen
        if self._lost:
            self._flush_lost()

    def _sized(self, image: npt.NDArray[np.uint8]) -> None:
        """A frame that decoded: when its size is new, whether the line trigger can see a whole part in it
        (:meth:`blind` says why not: 64 x 48 px frames gave no verdict and no word). A size other than the last frame's (a
        camera or a stream's encoder switching mode) is a break, as a camera lost: the trigger's tracks are of the other
        scale, and matched in this one a part was judged twice, or parts crossed never judged, the station saying running
        (before 2026-12-07); the parts in view are rejected, and the trigger starts over on this frame."""
        if self._no_room is None or image.shape == self._view[0]:
            return
        (h, w), was = image.shape, self._view[0]
        if was:
            why = f"the frame size changed from {was[1]}x{was[0]} to {w}x{h}"
            self._log.warning("frame_size_changed", error=why, frame=self.frames)
            self._mark_lost(why)
        self._opened = self._opened or image.shape
        self._view = (image.shape, self._no_room(w, h))
        if self._view[1] is not None:
            self._log.warning("frames_too_small", error=self._view[1])
        elif image.shape != self._opened:  # its parts may be too small or too large for the trigger now: none is trusted
            self._view = (image.shape, f"frames of {w}x{h} since the camera opened at {self._opened[1]}x{self._opened[0]} "
                                       "(trigger sizes are in px): restore its mode, or restart the station to open it anew")  # fmt: skip

    def _run(self) -> None:
        if not self._open_with_backoff():
            return
        t0 = time.monotonic()
        self.last_frame_mono = self.last_seen_mono = t0
        fps = self.source.fps or 25.0
        while not self._stop.is_set():
            self.last_progress = time.monotonic()
            self._quiet.tick()
            if self.realtime and self._wait(t0 + self.frames / fps - time.monotonic()):  # pacing is not a hang
                break
            try:
                grab = self.source.read()
            except CameraError as exc:
                if not self._reconnect(str(exc)):
                    return
                continue
            self._count_source_drops()
            if grab is None:
                if not self.source.live:
                    self._set_state(CameraState.ENDED)
                    self._log.info("source_ended", frames=self.frames)
                    return
                if not self._silent():  # the watchdog: lost after a few frame intervals, restarted after stale_after_s
                    return
                continue
            self._emit(grab)

    def _emit(self, grab: Grab) -> None:
        mono, wall = time.monotonic(), time.time()
        if self._streaming:  # the observed frame interval, smoothed
            # a silence counts as at most the time that makes the camera lost: one long gap must not stretch that time
            self._interval += 0.1 * (min(mono - self.last_frame_mono, self.lost_after_s()) - self._interval)
        self.last_frame_mono = mono
        self._streaming = True
        if self.state is CameraState.DISCONNECTED:  # frames again after a short silence, without a reopen
            self._set_state(CameraState.CONNECTED)
        if grab.error is not None:
            if self.source.live:  # a camera's corrupt stream: one line every 10 s with a count, not 25 a second
                self._quiet.emit("unreadable", "frame_unreadable", level="error", error=grab.error, frame=self.frames)
            else:  # a file given: each named (a photo of a folder, a video's frame), never a silent skip
                self._log.error("frame_unreadable", error=grab.error, frame=self.frames)
            self.metrics.frames_dropped.labels(reason=DropReason.UNREADABLE).inc()
        elif grab.image is not None:
            self.last_seen_mono = mono
            self._sized(grab.image)
        image = grab.image if grab.image is not None else _EMPTY
        unreadable = Failure(Reason.UNABLE, grab.error, Cause.UNREADABLE) if grab.error is not None else None
        self._put(Frame(self.frames, image, mono, wall, unreadable, grab.name))
        self.metrics.frames.inc()
        self.frames += 1
