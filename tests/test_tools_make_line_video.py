"""tools/make_line_video.py: footage and its ground truth from the command line, any envelope setting pinned."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from station.footage import Envelope, read_truth
from tools import make_line_video

from .conftest import SAMPLE


def test_every_setting_named_is_pinned_in_the_video_and_each_part_is_in_its_ground_truth(tmp_path: Path) -> None:
    pins = {"width": 640, "height": 360, "fps": 25.0, "speed": 12.0, "diameter": 200.0, "direction": "right_to_left", "codec": "MJPG"}
    argv = [str(tmp_path), "--photos", str(SAMPLE), "--videos", "1", "--parts", "4"]
    argv += [a for k, v in pins.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    assert make_line_video.main(argv) == 0
    video = tmp_path / "line_000.avi"
    used = json.loads(video.with_suffix(".json").read_text())
    assert {k: used[k] for k in pins} == pins
    assert len(read_truth(video)) == 4
    settable = {f.name for f in fields(Envelope)} - {"gap"}  # every setting but the pair of gaps has an option
    assert all(f"--{n.replace('_', '-')}" in _help() for n in settable)


def _help() -> str:
    """What --help prints."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        make_line_video.main(["--help"])
    return out.getvalue()
