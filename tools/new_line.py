"""Simulate another line's camera: re-shoot the held-out validation photos as a different setup would.

    python3 -m tools.new_line SETUP --out FOLDER [--data ../shared/data/casting/train] [--teach 100]

Writes FOLDER/def_front and FOLDER/ok_front (a labelled folder for ``station teach`` and
``station eval``) from the photos in models/validation_split.json, which the shipped model never
trained on. With ``--teach N`` it also writes FOLDER-teach/ (N good and N defective photos, drawn
with ``--split-seed``) and FOLDER-judge/ (the rest), as docs/teaching-measured.md measures. Each
setup changes what a real new line changes, and the setups are unlike each other:

- ``tilted``: a camera 18-26 degrees off perpendicular (parts are ellipses), a near-white belt,
  and a low side light that throws relief shadows across the face;
- ``dark``: a small, far camera over a black belt, a hard gamma, a sharpening filter, sensor noise
  and strong JPEG;
- ``glare``: a ring light's specular band on the face, a grey belt, a slight tilt and soft focus;
- ``offset``: parts placed off-centre, one in eight reaching the frame's edge or past it (as on a
  line whose camera sees the belt's whole width tight), a slight tilt, a light belt, a vignetting
  lens, motion blur along the belt and JPEG 80 (each part's centre off the frame's by a normal
  error of 12 px a side); ``offset_wide``: the same, with an error of 16 px a side and corners
  darker (45 %, not 30 %);
- ``framed``: what the held-back description names, all at once: a camera 15-25 degrees off
  perpendicular over a near-white belt, framed tight (parts fill 80-92 % of the frame, off-centre
  by a normal error of 9 px a side, so some reach past its edge), and a side light of its own kind:
  one side of the frame brighter than the other and the part's relief lit by an emboss (a larger
  blur than ``tilted``'s), then a slight defocus and JPEG 90.

It also writes FOLDER-truth.csv (and with ``--teach``, FOLDER-teach-truth.csv and
FOLDER-judge-truth.csv): where each photo's part is (its centre, and its rim's radius along the
larger axis), for ``python3 -m tools.locate_check``.

The images are modified copies of CC BY-NC-ND photos: keep them out of the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NoReturn, cast

import cv2
import numpy as np
import numpy.typing as npt

Gray = npt.NDArray[np.uint8]
Shot = tuple[Gray, tuple[float, float, float]]  # the photo re-shot, and where its part is: centre x, y and rim radius (major axis)
Floats = npt.NDArray[np.float32]
HERE = Path(__file__).resolve().parent.parent


def _tilt(img: Floats, degrees: float, axis: float, side: int, fill: float, background: float) -> Floats:
    """The photo's part (centred, radius ~0.42 of the side) seen by a camera ``degrees`` off perpendicular."""
    h, w = img.shape
    s = fill * side / (0.84 * w)
    c = math.cos(math.radians(degrees))
    rot = np.array([[math.cos(axis), -math.sin(axis), 0], [math.sin(axis), math.cos(axis), 0], [0, 0, 1]])
    to_centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    keystone = np.array([[s, 0, 0], [0, s * c, 0], [0, 0.25 * math.sin(math.radians(degrees)) / w, 1]])
    out = np.array([[1, 0, side / 2], [0, 1, side / 2], [0, 0, 1]])
    m = out @ rot @ keystone @ rot.T @ to_centre
    warped = cv2.warpPerspective(img, m, (side, side), flags=cv2.INTER_LINEAR, borderValue=float(background))
    return cast(Floats, np.asarray(warped, np.float32))


def _belt(img: Floats, photo: Gray, level: float, degrees: float, axis: float, side: int, fill: float) -> Floats:
    """Replace the photo's own background (where the untilted photo is background) by a belt at ``level``."""
    h, w = photo.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    part = (np.hypot(xx - w / 2, yy - h / 2) < 0.45 * w).astype(np.float32)
    mask = cast(Floats, cv2.GaussianBlur(_tilt(part * 255, degrees, axis, side, fill, 0.0) / 255.0, (0, 0), 1.5))
    return cast(Floats, img * mask + np.float32(level) * (1 - mask))


def _relief(img: Floats, strength: float, direction: float) -> Floats:
    """A low side light: surfaces facing it brighten, the others darken (a directional derivative)."""
    smooth = cv2.GaussianBlur(img, (0, 0), 2.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    side = img.shape[0]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side - 0.5
    ramp = 1.0 + 0.35 * (math.cos(direction) * xx + math.sin(direction) * yy) * 2
    return cast(Floats, img * ramp + strength * (math.cos(direction) * gx + math.sin(direction) * gy))


def _off_centre(f: Floats, side: int, spread: float, most: int, rng: np.random.Generator) -> tuple[Floats, int, int]:
    """A ``side`` square of the larger ``f`` whose centre is off ``f``'s by a normal error of ``spread`` px a side (at most
    ``most``), and that offset: the part lies at the centre minus it."""
    big = f.shape[0]
    dx, dy = (int(np.clip(round(float(v)), -most, most)) for v in rng.normal(0, spread, 2))
    x0, y0 = (big - side) // 2 + dx, (big - side) // 2 + dy
    return f[y0 : y0 + side, x0 : x0 + side], dx, dy


def _jpeg(f: Floats, quality: int) -> Gray:
    """``f`` as the camera's JPEG at ``quality`` gives it back."""
    _ok, buf = cv2.imencode(".jpg", np.clip(f, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cast(Gray, cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))


def tilted(photo: Gray, rng: np.random.Generator) -> Shot:
    side, fill, axis, deg = 320, float(rng.uniform(0.62, 0.75)), float(rng.uniform(0, math.pi)), float(rng.uniform(18, 26))
    level = float(rng.uniform(225, 245))
    f = _tilt(photo.astype(np.float32), deg, axis, side, fill, level)
    f = _belt(f, photo, level, deg, axis, side, fill)
    f = _relief(f, float(rng.uniform(1.0, 1.5)), float(rng.uniform(0, 2 * math.pi)))
    f += rng.normal(0, 2.0, f.shape).astype(np.float32)
    return np.clip(f, 0, 255).astype(np.uint8), (side / 2, side / 2, fill * side / 2)


def dark(photo: Gray, rng: np.random.Generator) -> Shot:
    side, fill, axis, deg = 360, float(rng.uniform(0.45, 0.55)), float(rng.uniform(0, math.pi)), float(rng.uniform(0, 5))
    level = float(rng.uniform(15, 40))
    f = _tilt(photo.astype(np.float32), deg, axis, side, fill, level)
    f = _belt(f, photo, level, deg, axis, side, fill)
    f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** 0.6
    f = f + 1.4 * (f - cv2.GaussianBlur(f, (0, 0), 1.2))  # the camera's sharpening
    f += rng.normal(0, 7.0, f.shape).astype(np.float32)
    return _jpeg(f, 45), (side / 2, side / 2, fill * side / 2)


def glare(photo: Gray, rng: np.random.Generator) -> Shot:
    side, fill, axis, deg = 300, float(rng.uniform(0.7, 0.85)), float(rng.uniform(0, math.pi)), float(rng.uniform(6, 12))
    level = float(rng.uniform(140, 165))
    f = _tilt(photo.astype(np.float32), deg, axis, side, fill, level)
    f = _belt(f, photo, level, deg, axis, side, fill)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) - side / 2
    r = np.hypot(xx, yy) / (fill * side / 2)
    ang = np.arctan2(yy, xx)
    band = np.exp(-(((r - rng.uniform(0.55, 0.7)) / 0.07) ** 2)) * (0.6 + 0.4 * np.cos(4 * ang + rng.uniform(0, 6)))
    f = 128 + 1.3 * (f - 128) + 90 * band * (f > 60)
    return cast(Gray, np.clip(cv2.GaussianBlur(f, (0, 0), 1.0), 0, 255).astype(np.uint8)), (side / 2, side / 2, fill * side / 2)


def offset(photo: Gray, rng: np.random.Generator, spread: float = 12.0, vignette: float = 0.6) -> Shot:
    side, big, axis, deg = 300, 420, float(rng.uniform(0, math.pi)), float(rng.uniform(8, 14))
    fill, level = float(rng.uniform(0.78, 0.9)) * side / big, float(rng.uniform(195, 215))
    f = _tilt(photo.astype(np.float32), deg, axis, big, fill, level)
    f = _belt(f, photo, level, deg, axis, big, fill)
    f, dx, dy = _off_centre(f, side, spread, 60, rng)  # 12 px: 1 part in 8 reaches the edge
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side - 0.5
    f = 0.8 * f * (1.0 - vignette * (xx**2 + yy**2))  # lower gain, and a lens darker to its corners (0.6: 30 %)
    n = int(rng.integers(3, 6))
    f = cast(Floats, np.asarray(cv2.filter2D(f, -1, np.full((1, n), 1.0 / n, np.float32)), np.float32))  # motion blur along the belt
    f += rng.normal(0, 3.0, f.shape).astype(np.float32)
    return _jpeg(f, 80), (side / 2 - dx, side / 2 - dy, fill * big / 2)


def framed(photo: Gray, rng: np.random.Generator) -> Shot:
    side, big, axis, deg = 300, 420, float(rng.uniform(0, math.pi)), float(rng.uniform(15, 25))
    fill, level = float(rng.uniform(0.8, 0.92)) * side / big, float(rng.uniform(215, 240))
    f = _tilt(photo.astype(np.float32), deg, axis, big, fill, level)
    f = _belt(f, photo, level, deg, axis, big, fill)
    light = float(rng.uniform(0, 2 * math.pi))
    lx, ly = math.cos(light), math.sin(light)
    smooth = cv2.GaussianBlur(f, (0, 0), 3.0)
    emboss = lx * cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=5) + ly * cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=5)
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32) / big - 0.5
    f = f * (1.0 + float(rng.uniform(0.3, 0.5)) * (lx * xx + ly * yy)) + float(rng.uniform(0.05, 0.09)) * emboss
    f, dx, dy = _off_centre(f, side, 9.0, 50, rng)
    f = cast(Floats, cv2.GaussianBlur(f, (0, 0), float(rng.uniform(0.5, 0.9))))
    f += rng.normal(0, 2.5, f.shape).astype(np.float32)
    return _jpeg(f, 90), (side / 2 - dx, side / 2 - dy, fill * big / 2)


SETUPS: dict[str, Callable[[Gray, np.random.Generator], Shot]] = {
    "tilted": tilted,
    "dark": dark,
    "glare": glare,
    "offset": offset,
    "offset_wide": partial(offset, spread=16.0, vignette=0.9),
    "framed": framed,
}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python3 -m tools.new_line", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("setup", choices=sorted(SETUPS), help="the simulated setup")
    ap.add_argument("--out", required=True, type=Path, help="folder for the re-shot photos (OUT-teach/, OUT-judge/ beside it)")
    ap.add_argument("--data", type=Path, default=HERE.parent / "shared/data/casting/train",
                    help="the training photos' folder (default: ../shared/data/casting/train beside the checkout)")  # fmt: skip
    ap.add_argument("--split", type=Path, default=HERE / "models/validation_split.json", help="the photos to re-shoot")
    ap.add_argument("--seed", type=int, default=5, help="the setup's draws")
    ap.add_argument("--teach", type=int, default=0, help="also split: this many photos of each class to teach from, the rest to judge")
    ap.add_argument("--split-seed", type=int, default=3, help="the draw of the photos to teach from")
    args = ap.parse_args()
    args.out = args.out.resolve()  # its name makes the -truth.csv, -teach and -judge beside it
    if held := not_empty(args.out, args.teach > 0):
        _fail(f"{held}: not empty (photos of an earlier run would be taught or judged with these): remove it first")
    files = json.loads(args.split.read_text())["files"]
    shoot, truth = SETUPS[args.setup], ["photo,cx,cy,r"]
    for k, name in enumerate(files):
        photo = cast(Gray | None, cv2.imread(str(args.data / name), cv2.IMREAD_GRAYSCALE))
        if photo is None:
            _fail(f"{args.data / name}: unreadable (is ../shared beside the checkout? else give --data)")
        out = args.out / name
        out.parent.mkdir(parents=True, exist_ok=True)
        shot, (cx, cy, r) = shoot(photo, np.random.default_rng([args.seed, k]))
        cv2.imwrite(str(out.with_suffix(".png")), shot)
        truth.append(f"{Path(name).with_suffix('.png')},{cx:.1f},{cy:.1f},{r:.1f}")
    where = args.out.with_name(f"{args.out.name}-truth.csv")
    where.write_text("\n".join(truth) + "\n")
    print(f"wrote {len(files)} photos of setup {args.setup!r} to {args.out}, and where each part is to {where}")
    if args.teach:
        split(args.out, args.teach, args.split_seed)


def _fail(why: str) -> NoReturn:
    print(f"error: {why}", file=sys.stderr)
    sys.exit(2)


def not_empty(out: Path, splits: bool) -> Path | None:
    """The first folder this run writes photos into that holds anything already (None: none does)."""
    folders = [out, *((out.with_name(f"{out.name}-{part}") for part in ("teach", "judge")) if splits else ())]
    return next((d for d in folders if d.is_dir() and any(d.iterdir())), None)


def split(root: Path, n: int, seed: int) -> None:
    """root-teach/ with n photos of each class (shuffled names, seed), root-judge/ with the rest."""
    import random
    import shutil

    truth = root.with_name(f"{root.name}-truth.csv").read_text().splitlines()
    rows = {line.split(",", 1)[0]: line for line in truth[1:]}
    halves: dict[str, list[str]] = {"teach": [truth[0]], "judge": [truth[0]]}
    for sub in ("ok_front", "def_front"):
        names = sorted(p.name for p in (root / sub).iterdir())
        random.Random(seed).shuffle(names)
        for part, chosen in (("teach", names[:n]), ("judge", names[n:])):
            dest = root.with_name(f"{root.name}-{part}") / sub
            dest.mkdir(parents=True, exist_ok=True)
            for name in chosen:
                shutil.copyfile(root / sub / name, dest / name)
                halves[part].append(rows[f"{sub}/{name}"])
    for part, lines in halves.items():
        root.with_name(f"{root.name}-{part}-truth.csv").write_text("\n".join(lines) + "\n")
    print(f"split into {root}-teach/ ({n} of each class) and {root}-judge/")


if __name__ == "__main__":
    main()
