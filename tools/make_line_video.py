"""Compose conveyor footage (and its ground-truth CSV) from labelled part photos.

    python3 -m tools.make_line_video OUT_DIR [--photos ../shared/data/casting/train] [--videos 6]
        [--parts 20] [--seed 0] [--width 1280 --height 720 --speed 16 --diameter 300 ...]

With no envelope options each video draws its settings at random from the whole envelope of
shared/spec/line-video.md; name options to pin them, or ``--one-line`` to draw them once for every
video (one camera, belt and light: footage to teach a line from, and more of it to judge). Writes OUT_DIR/line_NNN.{mp4,avi} and
line_NNN.csv (part,label,first_frame,last_frame,source) plus line_NNN.json (the settings used).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

from station.footage import CODECS, Envelope, compose, labelled_photos


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(prog="python3 -m tools.make_line_video", description="Compose conveyor footage with ground truth.")
    ap.add_argument("out", type=Path)
    ap.add_argument("--photos", type=Path, default=here.parent / "shared/data/casting/train")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--parts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one-line", action="store_true", help="every video from one line: the envelope is drawn once, not per video")
    ap.add_argument("--distinct", action="store_true", help="no photo in two videos (else each video draws its own parts)")
    for f in fields(Envelope):
        kind = {"int": int, "float": float, "str": str}.get(str(f.type))  # the field's own type (annotations are strings)
        if kind is None:  # a pair (gap): not settable here
            continue
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None, metavar=kind.__name__.upper(),
                        help=f"pin the envelope's {f.name} (station.footage.Envelope; its default {f.default!r})")  # fmt: skip
    args = ap.parse_args(argv)
    try:
        photos = labelled_photos(args.photos)
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"make_line_video: {exc}", file=sys.stderr)
        return 2
    if not 0 < args.parts <= len(photos):
        print(f"make_line_video: --parts {args.parts}: each video takes distinct photos, 1 to {len(photos)} here", file=sys.stderr)
        return 2
    if args.distinct and args.parts * args.videos > len(photos):
        print(f"make_line_video: --distinct: {args.videos} videos of {args.parts} parts need as many photos, {len(photos)} here",
              file=sys.stderr)  # fmt: skip
        return 2
    pinned = {f.name: getattr(args, f.name) for f in fields(Envelope) if getattr(args, f.name, None) is not None}
    rng = np.random.default_rng(args.seed)
    line = replace(Envelope.random(rng), **pinned) if args.one_line else None  # else the same draws as before
    order = rng.permutation(len(photos)) if args.distinct else None  # drawn once: each video its own slice
    for i in range(args.videos):
        env = line or replace(Envelope.random(rng), **pinned)
        drawn = order[i * args.parts : (i + 1) * args.parts] if order is not None else None
        picked = drawn if drawn is not None else rng.choice(len(photos), size=args.parts, replace=False)
        chosen = [photos[k] for k in picked]
        video = args.out / f"line_{i:03d}{CODECS.get(env.codec, '.mp4')}"
        compose(chosen, video, env, seed=args.seed * 1000 + i)
        video.with_suffix(".json").write_text(json.dumps(asdict(env), indent=2) + "\n")
        print(f"{video}  {env.width}x{env.height} {env.fps:g} fps  {env.speed:.1f} px/frame  d={env.diameter:.0f}px  {env.codec}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
