"""Immutable messages passed between stages, and the end-of-stream sentinel."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from station.model import Model, ModelInfo
from station.preprocess import Circle, Preprocessed


class _End:
    """End of stream: every stage forwards it after its last item, then exits."""

    _instance: _End | None = None

    def __new__(cls) -> _End:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "END"


END: Final = _End()


class Reason(StrEnum):
    OK = "ok"
    DEFECT = "defect"
    UNCERTAIN = "uncertain"
    UNABLE = "unable_to_inspect"
    ERROR = "error"
    LATE = "late"


class StationState(StrEnum):
    """What the heartbeats say (docs/protocol.md); the metric station_state has one series per value."""

    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPING = "stopping"


@dataclass(frozen=True, eq=False)
class Frame:
    """One grabbed frame: grey pixels plus when and where it came from."""

    index: int
    image: npt.NDArray[np.uint8]
    captured_mono: float
    captured_wall: float
    error: str | None = None  # why the image could not be read (the frame still gets a verdict)
    name: str | None = None  # file name, for image folders
    camera_lost: bool = False  # a marker, not a picture: the camera went away after the previous frame


@dataclass(frozen=True, eq=False)
class Part:
    """A part the trigger decided to inspect on ``frame``: the whole frame, or (line mode) the blob."""

    part_id: int
    frame: Frame
    blob: tuple[float, float, float] | None = None  # line mode: the trigger's (cx, cy, diameter) of the part
    belt_level: float | None = None  # line mode: grey level to paint outside the part
    failure: str | None = None  # set when the part cannot be inspected at all (e.g. camera lost)
    failure_reason: Reason | None = None


@dataclass(frozen=True, eq=False)
class Crop:
    """A part after preprocessing."""

    part: Part
    pre: Preprocessed | None
    error: str | None = None
    model: Model | None = field(default=None, compare=False, repr=False)  # cropped for, and scored by, this model


@dataclass(frozen=True, eq=False)
class Scored:
    """A part after inference; score is None when it was not inspected."""

    crop: Crop
    score: float | None
    error: str | None = None
    model: ModelInfo | None = None  # the model that scored it (a reload swaps models between parts)


@dataclass(frozen=True)
class Verdict:
    """The one decision for a part."""

    part_id: int
    frame: int
    verdict: str
    reason: Reason
    score: float | None
    detail: str
    captured_at: float
    captured_mono: float
    circle: Circle | None
    name: str | None = None  # source file name, for image folders
    model_id: str | None = None
    image: npt.NDArray[np.uint8] | None = field(default=None, compare=False, repr=False)  # the inspected frame
