"""Part groups: photos of one part (turned, flipped, re-shot) found by their ring profiles, so that no split of the line's
parts into folds separates them (a part learnt from and judged at once would flatter the network)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from station.locate import Circle, GrayImage
from station.preprocess import PreprocessSpec, normalise_crop
from station.teach.parts import Sample, from_footage

TAU = 0.02  # cosine distance of two parts' ring profiles under which they may be one part (turned: < 0.01; others: > 0.04)
MAX_GROUP = 8  # photos of one part: four turns and their mirror images; a larger group is parts that look alike


def descriptor(image: GrayImage, circle: Circle, spec: PreprocessSpec) -> npt.NDArray[np.float32]:
    """Turn- and flip-invariant: the part's mean and spread of grey level per radius, on the station's own crop."""
    crop = normalise_crop(image, circle, spec)[0]
    c = crop.shape[0] / 2.0
    polar = cv2.warpPolar(crop, (64, 256), (c, c), c / (1.0 + spec.margin), cv2.WARP_POLAR_LINEAR)[:, 4:60]
    return np.concatenate([polar.mean(axis=0), polar.std(axis=0)[::4]]).astype(np.float32)


def groups(samples: list[Sample], spec: PreprocessSpec, tau: float = TAU, most: int = MAX_GROUP) -> npt.NDArray[np.int64]:
    """Group ids: photos of the same part (turned, flipped, re-shot) share one, so no split separates them.

    Parts of one class that name the same part (:func:`named_alike`) are joined first; then pairs
    of one class whose profiles lie closer than ``tau``, closest first; into groups of at most
    ``most``. On a line whose look dominates every profile (a ring light's glare, a hard gamma)
    most of its parts lie that close: joined without a bound they chain into one group of most of
    a class, and the folds cannot be balanced (measured on two simulated lines: groups of 81 and
    85 of 100, a fold held 88 of the 100 defective parts). A part photographed more than ``most``
    times is split, and may then be learnt from and judged at once: its figures flatter the
    network a little.
    """
    if not samples:
        return np.zeros(0, np.int64)
    d = np.stack([descriptor(s.image, s.circle, spec) for s in samples])
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12  # not whitened: a few dozen parts cannot set the scale
    labels = np.array([s.label for s in samples])
    dist = 1.0 - d @ d.T
    same = labels[:, None] == labels[None, :]
    a, b = np.nonzero(np.triu((dist < tau) & same, 1))
    order = np.argsort(dist[a, b], kind="stable")
    return components(len(samples), [*named_alike(samples, most)[0], *zip(a[order], b[order], strict=True)], most)


def named_alike(samples: list[Sample], most: int = MAX_GROUP) -> tuple[list[tuple[int, int]], list[str]]:
    """Pairs of one class that name the same part (``Sample.part``: a photo's file name, a footage row's source): a part
    photographed and also filmed, or run past the camera twice, whose looks differ too much for their profiles to join
    them (measured: 21 of 30 footage parts composed from photos taught beside them, 2 of 10 parts in two videos); and
    the names not used, which name no one part: shared by two photo files (IMG_0001.jpg in two folders) or by more parts
    than a group holds (a ``source`` that names the camera)."""
    named: dict[tuple[str, int], list[int]] = {}
    for i, s in enumerate(samples):
        if s.part:
            named.setdefault((s.part, s.label), []).append(i)
    pairs: list[tuple[int, int]] = []
    unused = []
    for (name, _), idx in named.items():
        photos = {samples[i].origin for i in idx if not from_footage(samples[i].origin)}
        if len(idx) > most or len(photos) > 1:
            unused.append(name)
        else:
            pairs += [(idx[0], j) for j in idx[1:]]
    return pairs, sorted(set(unused))


def components(n: int, pairs: Iterable[tuple[Any, Any]], most: int | None = None) -> npt.NDArray[np.int64]:
    """Union-find: for each of ``n`` items, the root of the group ``pairs`` link it into (shared with tools.train).

    With ``most``, a pair that would make a group larger than that is not joined (give the pairs closest first).
    """
    parent = np.arange(n)
    size = np.ones(n, np.int64)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for a, b in pairs:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb and (most is None or size[ra] + size[rb] <= most):
            parent[ra] = rb
            size[rb] += size[ra]
    return np.array([find(i) for i in range(n)], np.int64)
