"""station/teach/groups.py: photos of one part, turned, flipped or re-shot, share a group; look-alike parts do not chain."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from station.config import load_config
from station.preprocess import PreprocessSpec
from station.sources import read_image
from station.teach.groups import MAX_GROUP, components, groups
from station.teach.samples import Sample, collect

from .conftest import sample_line

SPEC = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)


def _with_copies(tmp_path: Path, flipped: bool) -> tuple[Path, list[Sample]]:
    """Three photos of each class, and the first good one again turned (and, with ``flipped``, mirrored)."""
    root = sample_line(tmp_path, 3)
    photo = sorted((root / "ok_front").iterdir())[0]
    img = read_image(photo).image
    assert img is not None
    cv2.imwrite(str(root / "ok_front" / "turned.png"), cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE))
    if flipped:
        cv2.imwrite(str(root / "ok_front" / "flipped.png"), img[:, ::-1])
    return photo, collect([root], SPEC, load_config(None, [])).samples


def test_photos_of_one_part_turned_or_flipped_fall_in_one_group(tmp_path: Path) -> None:
    photo, samples = _with_copies(tmp_path, flipped=True)
    g = groups(samples, SPEC)
    names = [Path(s.origin).name for s in samples]
    same = {g[names.index(n)] for n in (photo.name, "turned.png", "flipped.png")}
    assert len(same) == 1
    assert len(set(g)) == len(samples) - 2


def test_parts_that_all_look_alike_do_not_chain_into_one_group() -> None:
    chain = [(i, i + 1) for i in range(39)]  # each part close to the next: single linkage makes one group of 40
    assert len(set(components(40, chain))) == 1
    g = components(40, chain, most=MAX_GROUP)
    assert np.bincount(g).max() == MAX_GROUP and len(set(g)) == 5


def test_the_closest_pairs_are_joined_first(tmp_path: Path) -> None:
    """A photo and its turned copy stay together even when the line's other parts are almost as close (groups are bounded)."""
    photo, samples = _with_copies(tmp_path, flipped=False)
    names = [Path(s.origin).name for s in samples]
    g = groups(samples, SPEC, tau=2.0, most=2)  # every pair of a class is close enough: only the closest may join
    assert g[names.index(photo.name)] == g[names.index("turned.png")]
    assert np.bincount(g).max() == 2
