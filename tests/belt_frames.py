"""Synthetic belt footage for the trigger tests: discs on a belt, frames blanked or not decoded, and the trigger run over
them."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from station.messages import Cause, Failure, Frame, Part, Reason
from station.stages.line_trigger import LineTrigger


def frames_of(video: Path) -> list[Frame]:
    """Every frame of a video, grey, numbered from 0."""
    cap = cv2.VideoCapture(str(video))
    out: list[Frame] = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(Frame(len(out), np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), np.uint8), time.monotonic(), time.time()))
    cap.release()
    return out


def run(trigger: LineTrigger, frames: list[Frame]) -> list[Part]:
    """The parts the trigger gives for the frames, then those it gives at the end of the stream."""
    parts: list[Part] = []
    for f in frames:
        parts += trigger(f)
    return parts + trigger.flush()


def disc_frame(w: int, h: int, centres: list[tuple[int, int, int]], belt: int = 60) -> np.ndarray:
    """A belt of w x h with a bright disc of radius r, a dark hub in its middle, at each (x, y, r)."""
    img = np.full((h, w), belt, np.uint8)
    for x, y, r in centres:
        cv2.circle(img, (x, y), r, 190, -1)
        cv2.circle(img, (x, y), r // 2, 25, -1)
    return img


def never_seen_whole(p: Part) -> bool:
    """The part was rejected at the line as never seen whole."""
    return p.failure is not None and "never seen whole" in p.failure.detail


def run_no_flush(trigger: LineTrigger, frames: list[Frame]) -> list[Part]:
    """The parts the trigger gives for the frames, the stream not ended."""
    out: list[Part] = []
    for f in frames:
        out += trigger(f)
    return out


def moving(w: int, h: int, r: int, starts: list[int], v: int, n: int, y: int | None = None) -> list[Frame]:
    """n frames of discs starting at x ``starts`` and moving v px a frame along the belt, at y (default the middle)."""
    return [Frame(t, disc_frame(w, h, [(s + v * t, y or h // 2, r) for s in starts]), 0.0, 0.0) for t in range(n)]


def unreadable(frames: list[Frame], lost: range) -> list[Frame]:
    """The frames in ``lost`` replaced by frames that could not be decoded (their numbers kept)."""
    bad = Failure(Reason.UNABLE, "could not be decoded", Cause.UNREADABLE)
    return [Frame(f.index, np.zeros((0, 0), np.uint8), 0.0, 0.0, bad) if f.index in lost else f for f in frames]


def with_blank(frames: list[Frame], blank: range, level: int | None = None) -> list[Frame]:
    """The frames in ``blank`` replaced by an empty belt (``level`` None) or a uniform field at ``level`` (a light out)."""
    out = []
    for f in frames:
        if f.index in blank:
            img = np.full_like(f.image, 60 if level is None else level)
            f = Frame(f.index, np.clip(img + np.random.default_rng(f.index).normal(0, 3, img.shape), 0, 255).astype(np.uint8), 0.0, 0.0)
        out.append(f)
    return out


def emitted_by(trig: LineTrigger, frames: list[Frame]) -> list[tuple[int, Part]]:
    """Each part with the index of the frame on which the trigger gave it (flush: after the last)."""
    out = [(f.index, p) for f in frames for p in trig(f)]
    return out + [(len(frames), p) for p in trig.flush()]


def ring_or_bar(img: np.ndarray, x: int, y: int, r: int, bar: int | None) -> None:
    """A part at (x, y), or only a bright bar of its rim ``bar`` px from its centre along the belt (a side light that
    shows one sector for a frame)."""
    if bar is None:
        cv2.circle(img, (x, y), r, 190, -1)
        cv2.circle(img, (x, y), r // 2, 25, -1)
    else:
        cv2.rectangle(img, (x + bar - 20, int(y - 0.8 * r)), (x + bar + 20, int(y + 0.8 * r)), 190, -1)


def parted(t: int, x: int, r: int, after: int, behind: int | None = None) -> np.ndarray:
    """A part at ``x`` on frame ``t``; from frame ``after`` on, shadows down to the belt's level along its two axes part it
    in four round pieces (as a wide sector's shadow parts in two what is left of a part leaving the view). ``behind``: a
    second part that far behind it, shaded out of view from frame ``after`` on."""
    img = disc_frame(960, 540, [(x, 270, r)] + ([(x - behind, 270, r)] if behind is not None and t < after else []))
    if t >= after:
        cv2.line(img, (x - r - 2, 270), (x + r + 2, 270), 60, 40)
        cv2.line(img, (x, 270 - r - 2), (x, 270 + r + 2), 60, 40)
    return img
