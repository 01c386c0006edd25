"""station/teach/groups.py: photos of one part, turned, flipped or re-shot, share a group; look-alike parts do not chain."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from station.config import load_config
from station.preprocess import PreprocessSpec
from station.stills import read_image
from station.teach.groups import MAX_GROUP, components, groups
from station.teach.parts import Sample
from station.teach.samples import collect

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


def test_parts_that_name_the_same_part_share_a_group_however_they_look(tmp_path: Path) -> None:
    """A part photographed and filmed (a footage row's source is the photo), or run past the camera twice: its looks differ
    too much for the profiles, the name joins them. Only within a class: a part named under both labels is a label
    question, not a group; no name joins nothing."""
    from dataclasses import replace

    root = sample_line(tmp_path, 3)
    samples = collect([root], SPEC, load_config(None, [])).samples
    good = [i for i, s in enumerate(samples) if s.label == 0]
    bad = [i for i, s in enumerate(samples) if s.label == 1]
    assert len(set(groups(samples, SPEC))) == len(samples), "six parts that look unlike"
    named = list(samples)
    named[good[1]] = replace(
        samples[good[1]], part=samples[good[0]].part, origin="/line.mp4#part3@frame40"
    )  # filmed: its row names the photo
    named[bad[0]] = replace(samples[bad[0]], part=samples[good[2]].part)  # the same name under the other label
    named[bad[1]] = replace(samples[bad[1]], part="")
    named[bad[2]] = replace(samples[bad[2]], part="")
    g = groups(named, SPEC)
    assert g[good[0]] == g[good[1]] and len(set(g)) == len(samples) - 1


def test_a_footage_rows_source_names_its_part_by_file_name() -> None:
    from station.teach.truth import part_names

    raw = b"part,label,first_frame,last_frame,source\n1,ok,0,9,photos/ok_front/a.jpeg\n2,def,5,14, \n"
    assert part_names(raw) == ["a.jpeg", ""]
    assert part_names(b"part,label,first_frame,last_frame\n1,ok,0,9\n") == [""], "no source column: no names"


def test_a_name_that_names_no_one_part_joins_nothing_and_is_named() -> None:
    """IMG_0001.jpg in two folders, or a source that names the camera on every row: not a part's name."""
    from station.teach.groups import named_alike

    image = np.zeros((8, 8), np.uint8)
    photos = [Sample(image, None, 0, f"/lot{k}/IMG_0001.jpg", part="IMG_0001.jpg") for k in "AB"]  # type: ignore[arg-type]
    filmed = [Sample(image, None, 1, f"/v.mp4#part{k}@frame{10 * k}", part="camera1") for k in range(1, 10)]  # type: ignore[arg-type]
    again = [Sample(image, None, 1, f"/v{k}.mp4#part1@frame5", part="serial-7") for k in (1, 2)]  # type: ignore[arg-type]
    pairs, unused = named_alike([*photos, *filmed, *again])
    assert pairs == [(11, 12)] and unused == ["IMG_0001.jpg", "camera1"]
