"""The honest validation split of tools.train: photos grouped with their near-duplicates, groups kept whole.

Two photos of one part (or one photo saved twice) in training and validation would make the
validation figures flatter the model; each photo's descriptor is rotation- and flip-invariant, and
photos of one class closer than ``TAU`` in it share a group.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from station.teach.groups import components

TAU = 0.0012  # cosine distance under which two photos are near-duplicates


def descriptor(crop: npt.NDArray[np.float32], margin: float) -> npt.NDArray[np.float32]:
    """Rotation- and flip-invariant: the part's mean and spread of grey level per radius."""
    c = crop.shape[0] / 2.0
    polar = cv2.warpPolar(crop, (64, 256), (c, c), c / (1.0 + margin), cv2.WARP_POLAR_LINEAR)[:, 4:60]
    prof = np.concatenate([polar.mean(axis=0), polar.std(axis=0)[::4]])
    return prof.astype(np.float32)


def whiten(desc: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    d = (desc - desc.mean(axis=0)) / (desc.std(axis=0) + 1e-6)
    return cast(npt.NDArray[np.float32], (d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32))


def group_near_duplicates(desc: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], tau: float) -> npt.NDArray[np.int64]:
    """Union-find over pairs of the same class closer than tau (cosine distance)."""

    def pairs() -> Iterator[tuple[int, int]]:
        for cls in (0, 1):
            idx = np.flatnonzero(labels == cls)
            d = desc[idx]
            for start in range(0, len(idx), 512):
                sim = d[start : start + 512] @ d.T
                rows, cols = np.nonzero(1.0 - sim < tau)
                for a, b in zip(rows + start, cols, strict=True):
                    yield int(idx[a]), int(idx[b])

    return components(len(desc), pairs())


def grouped_split(groups: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], frac: float, seed: int) -> npt.NDArray[np.bool_]:
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(groups), dtype=bool)
    for cls in (0, 1):
        ids = np.unique(groups[labels == cls])
        rng.shuffle(ids)
        target = frac * np.sum(labels == cls)
        taken = 0
        for g in ids:
            if taken >= target:
                break
            members = groups == g
            is_val |= members
            taken += int(members.sum())
    return is_val


def frozen_split(path: Path, root: Path, paths: list[Path]) -> npt.NDArray[np.bool_]:
    """The validation photos listed in ``path`` (models/validation_split.json); every one must be there."""
    names = set(json.loads(path.read_text())["files"])
    is_val = np.array([str(p.relative_to(root)) in names for p in paths])
    if int(is_val.sum()) != len(names):
        sys.exit(f"error: {path}: {len(names) - int(is_val.sum())} of its validation photos are not in {root}")
    return is_val
