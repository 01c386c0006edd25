"""Part trigger: decides which frame shows which part.

``FrameTrigger``: every frame is one part (hardware-triggered camera, image folder). ``LineTrigger``
(:mod:`station.stages.line_trigger`): free-running conveyor footage, parts tracked across frames and each inspected once
as it crosses the trigger line. :func:`trigger_for` picks one for a replay, a live run and teaching alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from station.blobs import no_room
from station.config import Config, TriggerMode, resolved_mode
from station.errors import ConfigError
from station.frame_source import FrameSource
from station.messages import Failure, Frame, Part, Reason, StageName
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.stages.line_trigger import LineTrigger
from station.stills import ImageFolderSource
from station.travel import TravelWatch


def trigger_mode(cfg: Config, source: FrameSource) -> TriggerMode:
    """:func:`config.resolved_mode` for ``source``: an image folder's frames are each a part."""
    return resolved_mode(cfg, isinstance(source, ImageFolderSource), source.live)


def trigger_for(cfg: Config, source: FrameSource, on_blank: Callable[[int], None] | None = None,
                travel: TravelWatch | None = None) -> FrameTrigger | LineTrigger:  # fmt: skip
    """The trigger :func:`trigger_mode` picks, for a replay, a live run and teaching alike; ``on_blank`` is told the
    index of each frame the line trigger does not believe (:meth:`LineTrigger._blank`), ``travel`` how far each part it
    followed moved along the direction of travel."""
    return FrameTrigger() if trigger_mode(cfg, source) is TriggerMode.FRAME else LineTrigger(cfg.trigger, on_blank, travel)


def probe_recording(cfg: Config, source: FrameSource) -> None:
    """Opens a recording (or an image folder) once and closes it: CameraError, one line, when it cannot be read; with the
    line trigger, ConfigError naming trigger.min_diameter_px when its first frame cannot show a part of that size whole
    (:func:`station.blobs.no_room`). Such a recording was replayed as no verdict at all, exit 0 (64 x 48 px frames)."""
    source.open()
    try:
        first = source.read() if trigger_mode(cfg, source) is TriggerMode.LINE else None
    finally:
        source.close()
    if first is not None and first.image is not None and (why := no_room(cfg.trigger, first.image.shape[1], first.image.shape[0])):
        raise ConfigError("trigger.min_diameter_px", f"{source.name}: {why}")


class FrameTrigger:
    """Each frame is one part."""

    def __init__(self) -> None:
        self._next_id = 1
        self._numbered: Frame | None = None  # the frame the last number went to (:meth:`failed`)

    def __call__(self, frame: Frame) -> list[Part]:
        if frame.camera_lost:
            return []  # no trigger came while blind; the gateways see the station degraded meanwhile
        part = Part(self._next_id, frame, failure=frame.failure)
        self._next_id, self._numbered = self._next_id + 1, frame
        return [part]

    def flush(self) -> list[Part]:
        return []

    def failed(self, frame: Frame | None, failure: Failure) -> list[Part]:
        """The trigger raised on ``frame`` (see :meth:`LineTrigger.failed`): its part, rejected for ``failure`` under the
        number it took, or the next; none for a camera-lost marker or the stream's end."""
        if frame is None or frame.camera_lost:
            return []
        if self._numbered is not frame:
            self._next_id, self._numbered = self._next_id + 1, frame
        return [Part(self._next_id - 1, frame, failure=failure)]


class TriggerStage:
    """Handler for the trigger stage: the trigger's parts for each frame, never an exception (like every stage's).

    Had the trigger raised on a frame (no input is known to make it), the stage would have ended, and every verdict after
    it with it: instead (``failed``) a frame trigger's frame is its part, rejected as ``error``, and the line trigger takes
    the frame as one not seen, its parts followed across it and judged as ever (at the stream's end or a camera lost,
    those not yet judged are rejected as ``error``). Counted (``station_part_errors_total{stage="trigger"}``) and logged
    (``trigger_failed``, at most every 10 s with how many more). For ``FAULT_HOLD_S`` after it fails, :meth:`failing`
    says so, and the station is degraded (the gateways reject every part). Failing on every frame for
    ``pipeline.stall_after_s`` (:meth:`stuck`), it is as good as stuck: the station is unhealthy, and the service manager
    restarts it.
    """

    FAULT_HOLD_S = 5.0

    def __init__(
        self, trigger: FrameTrigger | LineTrigger, metrics: Metrics, logger: RateLimitedLog, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.trigger = trigger
        self._clock = clock
        self._metrics = metrics
        self._log = logger
        self._why: str | None = None
        self._failed_at = float("-inf")
        self._failing_since: float | None = None  # when it began to fail on every frame; None once it handles one
        self._in_a_row = 0  # the frames it failed on since it last handled one

    def __call__(self, frame: Frame) -> list[Part]:
        try:
            parts = self.trigger(frame)
        except Exception as exc:
            return self._failed(frame, exc)
        self._failing_since, self._in_a_row = None, 0
        return parts

    def flush(self) -> list[Part]:
        try:
            return self.trigger.flush()
        except Exception as exc:
            return self._failed(None, exc)

    def _failed(self, frame: Frame | None, exc: Exception) -> list[Part]:
        why = f"{StageName.TRIGGER.value}: {type(exc).__name__}: {exc}"
        where = "as the stream ended" if frame is None else f"on frame {frame.index}"
        self._metrics.part_errors.labels(stage=StageName.TRIGGER).inc()
        self._log.emit("failed", "trigger_failed", level="error", frame=None if frame is None else frame.index, error=why)
        self._why, self._failed_at = f"the trigger failed {where}: {why}", self._clock()
        self._in_a_row += 1
        if self._failing_since is None:
            self._failing_since = self._failed_at
        return self.trigger.failed(frame, Failure(Reason.ERROR, why))

    def stuck(self, now: float, after_s: float) -> str | None:
        """Why the trigger is as good as stuck: it has failed on every frame handed to it for more than ``after_s``, on two
        at least, the last less than ``after_s`` before ``now`` (a line that stops after one failure is not stuck)."""
        since = self._failing_since
        if since is None or self._in_a_row < 2 or now - since <= after_s or now - self._failed_at >= after_s:
            return None
        return f"the trigger has failed on every frame for {now - since:.0f} s ({self._in_a_row} frames)"

    def failing(self, now: float) -> str | None:
        """Why the trigger is not to be trusted (it failed less than ``FAULT_HOLD_S`` before ``now``), or None."""
        return self._why if now - self._failed_at < self.FAULT_HOLD_S else None
