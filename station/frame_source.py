"""What every frame source is (:class:`FrameSource`) and hands on (:class:`Grab`): recorded ones in :mod:`station.stills`
and :mod:`station.sources`, GigE Vision cameras in :mod:`station.gige`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from station.messages import DropReason


@dataclass(frozen=True)
class Grab:
    """One read: grey pixels, or why there are none (the frame still counts)."""

    image: npt.NDArray[np.uint8] | None
    error: str | None = None
    name: str | None = None


class FrameSource(Protocol):
    """What the capture stage needs from a camera or a recording."""

    name: str
    live: bool
    fps: float | None
    frame_count: int | None
    drops: dict[DropReason, int]  # frames the source itself lost, by reason (station_frames_dropped_total), counted up

    def open(self) -> None: ...

    def read(self) -> Grab | None:
        """The next frame; None at the end of a recording (or when a live read timed out)."""
        ...

    def interrupt(self) -> None:
        """Called from another thread on stop: an open in progress gives up at once (a no-op where opens are quick)."""
        ...

    def close(self) -> None: ...


class QuickOpen:
    """For sources whose open and read never block for long: nothing to interrupt, nothing dropped by the source."""

    def __init__(self) -> None:
        self.drops: dict[DropReason, int] = {}

    def interrupt(self) -> None:
        return None
