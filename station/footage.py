"""Compose conveyor footage from labelled part photos, with its ground truth.

Covers the envelope of shared/spec/line-video.md: frame sizes 640x360..1920x1080, 25-60 fps,
4-40 px/frame (constant within 10 %), part diameters 180-440 px, any rotation, a thin fixture
ring, gaps of at least 15 % of a diameter, at most 4 parts in view, off-centre parts, a belt at
least 40 grey levels darker than the rim, shaded rim sectors (``Envelope.shadow``: a shadow down to
the belt's level or below, drawn only when set), belt texture, stripes and noise, global gain drift
and per-part brightness. Nothing here is written into the repository.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from station.locate import Circle, f32, u8
from station.preprocess import locate_part
from station.stills import IMAGE_SUFFIXES, LABELLED
from station.wire import Reason, VerdictMessage

CODECS = {"mp4v": ".mp4", "avc1": ".mp4", "MJPG": ".avi"}


@dataclass(frozen=True)
class Envelope:
    """One video's settings; ``random`` draws them from the whole envelope."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    speed: float = 16.0
    diameter: float = 300.0
    ring: float = 0.05
    belt_drop: float = 70.0  # belt grey level below the rim's mean
    noise: float = 2.0
    shade: float = 0.4  # up to this fraction of a rim sector is darkened
    shadow: float = 0.0  # degrees: a shadow up to this wide either side of its middle darkens each part to the belt or below
    drift: float = 0.08
    part_gain: float = 0.1
    stripes: float = 3.0
    gap: tuple[float, float] = (0.2, 1.2)  # gap between parts, in diameters
    offset: float = 0.08  # off the centre line, fraction of frame height
    direction: str = "left_to_right"
    codec: str = "mp4v"

    @staticmethod
    def random(rng: np.random.Generator) -> Envelope:
        w, h = [(640, 360), (960, 540), (1280, 720), (1600, 900), (1920, 1080)][int(rng.integers(0, 5))]
        d_max = min(440.0, h * 0.78, w / 2.2)
        d = float(rng.uniform(180.0, max(d_max, 181.0)))
        v_max = min(40.0, (w - d * 1.1) / 4.0)
        return Envelope(
            width=w,
            height=h,
            fps=float(rng.choice([25.0, 30.0, 50.0, 60.0])),
            speed=float(rng.uniform(4.0, max(v_max, 4.5))),
            diameter=d,
            ring=float(rng.uniform(0.0, 0.08)),
            belt_drop=float(rng.uniform(45.0, 120.0)),
            noise=float(rng.uniform(0.0, 4.0)),
            shade=float(rng.uniform(0.0, 0.6)),
            drift=float(rng.uniform(0.0, 0.1)),
            part_gain=float(rng.uniform(0.0, 0.12)),
            stripes=float(rng.uniform(0.0, 5.0)),
            offset=float(rng.uniform(0.0, 0.1)),
            codec=str(rng.choice(["mp4v", "MJPG"])),
        )


@dataclass(frozen=True)
class PartPhoto:
    path: Path
    label: str  # "ok" or "def"


def labelled_photos(root: Path) -> list[PartPhoto]:
    """Photos under ``root/ok_front`` and ``root/def_front``."""
    out: list[PartPhoto] = []
    for folder, label in LABELLED.items():
        out += [PartPhoto(p, ("ok", "def")[label]) for p in sorted((root / folder).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not out:
        raise FileNotFoundError(f"{root}: no images in ok_front/ or def_front/")
    return out


@dataclass
class _Placed:
    sprite: npt.NDArray[np.float32]
    alpha: npt.NDArray[np.float32]
    x0: float  # centre x at frame 0, in the direction of travel
    y: float
    radius: float  # outer radius on screen, fixture ring included
    photo: PartPhoto


def _sprite(
    photo: PartPhoto, env: Envelope, rng: np.random.Generator, belt: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], float]:
    try:
        img = cv2.imdecode(np.fromfile(photo.path, np.uint8), cv2.IMREAD_GRAYSCALE)  # read by numpy: any file name
    except (cv2.error, OSError, ValueError):  # a header claiming more pixels than OpenCV decodes; a file that cannot be read
        img = None
    if img is None:
        raise FileNotFoundError(f"{photo.path}: unreadable image")
    c = locate_part(u8(img)) or Circle(img.shape[1] / 2, img.shape[0] / 2, img.shape[0] * 0.42)
    d = env.diameter * float(rng.uniform(0.92, 1.08))
    outer = c.r * (1.0 + env.ring)
    s = d / 2.0 / c.r
    side = math.ceil(2 * outer * s) + 4
    m = cv2.getRotationMatrix2D((c.cx, c.cy), float(rng.uniform(0, 360)), s)
    m[0, 2] += side / 2 - c.cx
    m[1, 2] += side / 2 - c.cy
    spr = cv2.warpAffine(img, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) - side / 2
    rho = np.sqrt(xx * xx + yy * yy) / (d / 2)
    ang = np.arctan2(yy, xx)
    shade = 1.0 - env.shade * float(rng.uniform(0.5, 1.0)) * np.clip(np.cos(ang - rng.uniform(0, 2 * math.pi)), 0, 1) ** 2
    rim = float(np.mean(spr[(rho > 0.8) & (rho < 0.95)]))  # the rim's mean level, unshaded
    if env.shadow > 0:  # drawn only then: without it, the footage is what it always was
        shade = shade * _shadow(ang, env.shadow, belt / max(rim, 1.0), rng)
    gain = 1.0 + float(rng.uniform(-env.part_gain, env.part_gain))
    spr = spr * shade * gain
    # keep the rim at least belt_drop above the belt on average (the envelope's contrast floor)
    rim_mean = rim * gain
    if rim_mean - belt < 40.0:
        spr = spr + (40.0 - (rim_mean - belt))
    alpha = np.clip((1.0 + env.ring - rho) * d / 2 / 1.5, 0, 1).astype(np.float32)
    return spr.astype(np.float32), alpha, outer * s


def _shadow(ang: npt.NDArray[np.float32], widest: float, to_belt: float, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A low side light's shadow over a sector of a part (``line-video.md``: a sector of a rim may be shaded down to the
    belt's level or below it): up to ``widest`` degrees either side of a random middle, with a soft edge 10-40 degrees
    wide, darkening the part by a factor down to 0.7-1.0 times ``to_belt`` (the belt's level over the rim's)."""
    mid, half = rng.uniform(0, 2 * math.pi), math.radians(widest) * float(rng.uniform(0.3, 1.0))
    edge, depth = math.radians(float(rng.uniform(10.0, 40.0))), 1.0 - min(to_belt, 1.0) * float(rng.uniform(0.7, 1.0))
    out: npt.NDArray[np.float32] = (1.0 - depth * shadow_weight(ang, mid, half, edge)).astype(np.float32)
    return out


def shadow_weight(ang: npt.NDArray[np.float32], mid: float, half: float, edge: float) -> npt.NDArray[np.float32]:
    """How much of a shadow's darkening each angle ``ang`` (radians) gets, 0..1: all of it within ``half`` either side of
    ``mid``, none past half ``edge`` more, a raised cosine across the soft edge ``edge`` wide between (footage's shadows,
    and training's: ``tools/augment.py``)."""
    off = np.abs((ang - mid + np.pi) % (2 * np.pi) - np.pi)  # each angle's distance from the shadow's middle
    inside = np.clip((half + edge / 2 - off) / edge, 0, 1)
    weight: npt.NDArray[np.float32] = (0.5 - 0.5 * np.cos(np.pi * inside)).astype(np.float32)
    return weight


def _belt(env: Envelope, rng: np.random.Generator, level: float) -> npt.NDArray[np.float32]:
    h, w = env.height, env.width
    tex = cv2.GaussianBlur(rng.normal(0, 6, (h, w * 2)).astype(np.float32), (0, 0), 3)
    rows = np.arange(h, dtype=np.float32)[:, None]
    stripes = env.stripes * np.sin(rows / rng.uniform(6, 30) * 2 * math.pi)
    light = (np.linspace(-1, 1, w * 2)[None, :] * rng.uniform(-8, 8)).astype(np.float32)
    return f32(level + tex + stripes + light)


def compose(photos: list[PartPhoto], out: Path, env: Envelope, seed: int = 0) -> Path:
    """Write ``out`` (video) and ``out``.csv (ground truth); return the video path."""
    rng = np.random.default_rng(seed)
    rim_guess = 175.0
    belt_level = float(np.clip(rim_guess - env.belt_drop, 8.0, 200.0))
    placed: list[_Placed] = []
    x = 0.0
    for ph in photos:
        spr, alpha, radius = _sprite(ph, env, rng, belt_level)
        if placed:
            prev = placed[-1]
            gap = max(float(rng.uniform(*env.gap)) * env.diameter, 0.16 * 2 * max(radius, prev.radius))
            spacing = max(prev.radius + radius + gap, (env.width + 2 * radius) / 4.2)
            x = prev.x0 - spacing
        else:
            x = -radius - 2.0
        y = env.height / 2 + float(rng.uniform(-env.offset, env.offset)) * env.height
        y = float(np.clip(y, radius + 2, env.height - radius - 2))
        placed.append(_Placed(spr, alpha, x, y, radius, ph))
    speeds = env.speed * (1.0 + 0.05 * np.sin(np.arange(100000) / rng.uniform(50, 200)))
    n_frames = math.ceil((env.width - placed[-1].x0 + placed[-1].radius + 4) / (env.speed * 0.95)) + 2
    pos = np.concatenate([[0.0], np.cumsum(speeds[: n_frames - 1])])
    belt = _belt(env, rng, belt_level)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*env.codec), env.fps, (env.width, env.height), True)
    if not writer.isOpened():
        raise RuntimeError(f"{out}: OpenCV cannot write codec {env.codec}")
    windows: list[list[int]] = [[-1, -1] for _ in placed]
    phase = float(rng.uniform(0, 2 * math.pi))
    try:
        for t in range(n_frames):
            shift = int(pos[t]) % env.width
            frame = belt[:, shift : shift + env.width].copy()
            for i, p in enumerate(placed):
                cx = p.x0 + pos[t]
                _paste(frame, p, cx)
                if cx - p.radius >= 0 and cx + p.radius <= env.width - 1:
                    windows[i][0] = t if windows[i][0] < 0 else windows[i][0]
                    windows[i][1] = t
            frame *= 1.0 + env.drift * math.sin(2 * math.pi * t / max(n_frames, 1) + phase)
            frame += rng.normal(0, env.noise, frame.shape).astype(np.float32) if env.noise > 0 else 0.0
            g = np.clip(frame, 0, 255).astype(np.uint8)
            if env.direction == "right_to_left":
                g = np.ascontiguousarray(g[:, ::-1])
            writer.write(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()
    _write_truth(out, placed, windows)
    return out


def _paste(frame: npt.NDArray[np.float32], p: _Placed, cx: float) -> None:
    side = p.sprite.shape[0]
    x0 = round(cx - side / 2)
    y0 = round(p.y - side / 2)
    h, w = frame.shape
    xa, xb = max(x0, 0), min(x0 + side, w)
    ya, yb = max(y0, 0), min(y0 + side, h)
    if xa >= xb or ya >= yb:
        return
    spr = p.sprite[ya - y0 : yb - y0, xa - x0 : xb - x0]
    a = p.alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
    frame[ya:yb, xa:xb] = frame[ya:yb, xa:xb] * (1 - a) + spr * a


def _write_truth(video: Path, placed: list[_Placed], windows: list[list[int]]) -> None:
    with video.with_suffix(".csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["part", "label", "first_frame", "last_frame", "source"])
        n = 0
        for p, (first, last) in zip(placed, windows, strict=False):
            if first < 0:
                continue
            n += 1
            w.writerow([n, p.photo.label, first, last, p.photo.path.name])


def read_truth(video: Path) -> list[dict[str, str]]:
    with video.with_suffix(".csv").open() as f:
        return list(csv.DictReader(f))


def judge(truth: list[dict[str, str]], got: Sequence[VerdictMessage]) -> dict[str, int]:
    """Verdicts (in order) against the ground truth: counts, window misses, escapes, wrong verdicts."""
    escapes = wrong = outside = 0
    for t, v in zip(truth, got, strict=False):
        expected = "pass" if t["label"] == "ok" else "reject"
        wrong += v.verdict != expected
        escapes += t["label"] == "def" and v.verdict == "pass"
        outside += not int(t["first_frame"]) <= v.frame <= int(t["last_frame"])
    return {
        "parts": len(truth),
        "verdicts": len(got),
        "missing_or_extra": abs(len(truth) - len(got)),
        "outside_window": outside,
        "escapes": escapes,
        "wrong": wrong,
        "unable": sum(1 for v in got if v.reason is Reason.UNABLE),
    }
