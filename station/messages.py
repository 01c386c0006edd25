"""Immutable messages passed between stages, and the end-of-stream sentinel."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from station.wire import CameraState, Disposition, Reason, ShadowVerdict, StationState

if TYPE_CHECKING:  # types only: the messages are the bottom layer, above the wire contract alone
    from station.evidence import Evidence
    from station.locate import Circle
    from station.model import Model, ModelInfo
    from station.preprocess import Preprocessed, Quality

__all__ = [
    "END",
    "CameraState",
    "Cause",
    "Crop",
    "Disposition",
    "DropReason",
    "Failure",
    "Frame",
    "Part",
    "Reason",
    "ReloadResult",
    "ResendResult",
    "Scored",
    "ShadowSkip",
    "ShadowVerdict",
    "StageName",
    "StationState",
    "Verdict",
]


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


class StageName(StrEnum):
    """The pipeline's stages in data order; the per-stage metric series have one value each."""

    CAPTURE = "capture"
    TRIGGER = "trigger"
    PREPROCESS = "preprocess"
    INFERENCE = "inference"
    DECISION = "decision"
    SHADOW = "shadow"
    PUBLISH = "publish"


class DropReason(StrEnum):
    """Why a frame was dropped (station_frames_dropped_total): before the trigger saw it, or by the trigger (blank)."""

    QUEUE_FULL = "queue_full"  # a live camera outran the pipeline: the oldest queued frame goes (frame trigger: the newest)
    UNREADABLE = "unreadable"  # a frame could not be decoded (a live camera's, or a stretch of a recording)
    INCOMPLETE = "incomplete"  # GigE: the camera's buffer arrived with packets missing
    MISSING_ID = "missing_id"  # GigE: frame ids jumped (frames lost on the wire)
    BLANK = "blank"  # line trigger: it showed nothing where a part must be (a light out or a flash), so was not believed


class ShadowSkip(StrEnum):
    """Why the shadow model did not judge a part (station_shadow_skipped_total); the live verdict never waits for it."""

    DEADLINE = "deadline"  # less than twice the shadow's recent run time was left before the part's deadline
    BUSY = "busy"  # the shadow was still busy with earlier parts and one was already waiting
    NOT_STARTED = "not_started"  # queued behind another part's shadow when the live verdict was decided
    NOT_READY = "not_ready"  # not ready model.shadow_wait_ms after the live verdict was decided
    FAILED = "failed"  # handing the part to the shadow, or the shadow's verdict to the part's, raised
    STOPPED = "stopped"  # the shadow thread stopped first (a drain that ran out of time) with the part not yet judged


class ResendResult(StrEnum):
    """How a resend request was answered (station_resend_requests_total)."""

    SERVED = "served"  # every message asked for was still in the ring and was sent again
    GONE = "gone"  # some or all of the range had left the ring
    OTHER_RUN = "other_run"  # asked of a run this station no longer publishes (a gateway still on the run before a restart)
    BAD = "bad"  # not a request the contract knows, or handling it failed
    DROPPED = "dropped"  # answered, but the reply could not be sent: the peer went away, or its queue is full


class ReloadResult(StrEnum):
    """How a model reload ended (station_model_reloads_total)."""

    OK = "ok"  # the gate admitted the new model and it is in use
    REFUSED = "refused"  # the gate refused it; the running model stays


class Cause(StrEnum):
    """Why the camera or the trigger handed on a part that cannot be inspected (station_parts_unable_total, beside
    preprocess's :class:`~station.preprocess.Quality`, and what teaching counts its refused parts by)."""

    UNREADABLE = "unreadable"  # its image could not be read or decoded
    FRAME_LOST = "frame_lost"  # its frame never reached the trigger (the capture queue full, a camera's frame not whole)
    CAMERA_LOST = "camera_lost"  # the camera went away while it was in view
    TOO_LARGE = "too_large"  # larger than trigger.max_diameter_px
    NEVER_WHOLE = "never_whole"  # crossed the line never looking like a whole part (too dark or shaded)
    UNSEEN = "unseen"  # crossed the line in frames the trigger could not see, never seen whole


@dataclass(frozen=True)
class Failure:
    """Why a part cannot pass, set by the stage that found out and carried unchanged to the decision: ``unable_to_inspect``
    with its cause (one of a fixed list, which the metrics count), or ``error`` (an exception, a score not valid)."""

    reason: Reason
    detail: str
    cause: Cause | Quality | None = None

    def __post_init__(self) -> None:
        if self.reason not in (Reason.UNABLE, Reason.ERROR):
            raise ValueError(f"a failure is unable_to_inspect or error, not {self.reason.value}")
        if (self.reason is Reason.UNABLE) != (self.cause is not None) or self.cause == "ok":
            raise ValueError(f"{self.reason.value} with cause {self.cause!r}: unable_to_inspect has a cause, error none")


@dataclass(frozen=True, eq=False)
class Frame:
    """One grabbed frame: grey pixels plus when and where it came from."""

    index: int
    image: npt.NDArray[np.uint8]
    captured_mono: float
    captured_wall: float
    failure: Failure | None = None  # the image could not be read, or the camera is lost (the frame still gets a verdict)
    name: str | None = None  # file name, for image folders
    camera_lost: bool = False  # a marker, not a picture: the camera went away after the previous frame


@dataclass(frozen=True, eq=False)
class Part:
    """A part the trigger decided to inspect on ``frame``: the whole frame, or (line mode) the blob."""

    part_id: int
    frame: Frame
    blob: tuple[float, float, float] | None = None  # line mode: the trigger's (cx, cy, diameter) of the part
    belt_level: float | None = None  # line mode: grey level to paint outside the part
    failure: Failure | None = None  # set when the part cannot be inspected at all (e.g. camera lost)
    seen: int | None = None  # line mode: the index of the frame the blob was seen in, when earlier than frame's (judged late)


@dataclass(frozen=True, eq=False)
class Crop:
    """A part after preprocessing."""

    part: Part
    pre: Preprocessed | None
    failure: Failure | None = None  # the part's own, or why preprocessing could not inspect it
    model: Model | None = field(default=None, compare=False, repr=False)  # cropped for, and scored by, this model


@dataclass(frozen=True, eq=False)
class Scored:
    """A part after inference; score is None when it was not inspected."""

    crop: Crop
    score: float | None
    failure: Failure | None = None  # the crop's own, or why the model gave no valid score
    model: ModelInfo | None = None  # the model that scored it (a reload swaps models between parts)
    evidence: Evidence | None = field(default=None, compare=False, repr=False)  # where the network saw a defect


@dataclass(frozen=True)
class Verdict:
    """The one decision for a part."""

    part_id: int
    frame: int
    reason: Reason  # OK is the only reason that passes
    score: float | None
    detail: str
    captured_at: float
    captured_mono: float
    circle: Circle | None
    name: str | None = None  # source file name, for image folders
    model_id: str | None = None
    image: npt.NDArray[np.uint8] | None = field(default=None, compare=False, repr=False)  # the inspected frame
    shadow: ShadowVerdict | None = None  # what the shadow model would have published alone (model.shadow)
    where: tuple[float, float] | None = None  # defect or uncertain: the frame point that drove the score
    blob: tuple[float, float, float] | None = None  # line mode: the trigger's (cx, cy, diameter), where a part not located is
    seen: int | None = None  # line mode: the index of the frame the blob was seen in, when earlier than frame (Part.seen)
    evidence: Evidence | None = field(default=None, compare=False, repr=False)  # its map, for the archive's heat map
    cause: Cause | Quality | None = None  # unable_to_inspect: why, from a fixed list (Failure.cause); not on the wire

    @property
    def verdict(self) -> Disposition:
        return Disposition.of(self.reason)
