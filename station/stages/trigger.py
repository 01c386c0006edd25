"""Part trigger: decides which frame shows which part.

``FrameTrigger``: every frame is one part (hardware-triggered camera, image folder). ``LineTrigger``
(:mod:`station.stages.line_trigger`): free-running conveyor footage, parts tracked across frames and each inspected once
as it crosses the trigger line. :func:`trigger_for` picks one for a replay, a live run and teaching alike.
"""

from __future__ import annotations

from collections.abc import Callable

from station.blobs import no_room
from station.config import Config, TriggerMode, resolved_mode
from station.errors import ConfigError
from station.frame_source import FrameSource
from station.messages import Frame, Part
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

    def __call__(self, frame: Frame) -> list[Part]:
        if frame.camera_lost:
            return []  # no trigger came while blind; the gateways see the station degraded meanwhile
        part = Part(self._next_id, frame, failure=frame.failure)
        self._next_id += 1
        return [part]

    def flush(self) -> list[Part]:
        return []
