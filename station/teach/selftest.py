"""The self-test a taught model file carries: crops of its own line, with their labels, that the station's model gate
judges it on (station.gate), and for one part of each class the pixels its crop is remade from."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from station.preprocess import PreprocessSpec, crop_square, part_region, quantised
from station.teach.parts import Sample

SELF_TEST_PER_CLASS = 16


def _png(image: npt.NDArray[np.uint8]) -> str:
    return base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()


def self_test_meta(crops: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], spec: PreprocessSpec, seed: int,
                   parts: Sequence[Sample] = ()) -> str:  # fmt: skip
    """Up to SELF_TEST_PER_CLASS crops of each class as PNG (grey levels over +-clip), for the model gate.

    With ``parts`` (the samples the crops were made from), the first crop of each class also keeps
    the pixels it was cut from, its circle (``station.preprocess.part_region``) and its square crop
    before normalisation: the gate remakes that crop with the model's own preprocessing, so a file
    whose crop settings were changed is refused.
    """
    rng = np.random.default_rng(seed)
    picked = [int(i) for cls in (0, 1) for i in rng.permutation(np.flatnonzero(labels == cls))[:SELF_TEST_PER_CLASS]]
    pngs = [_png(quantised(crops[i], spec.clip)) for i in picked]
    remade = []
    for k in sorted({next(k for k, i in enumerate(picked) if labels[i] == cls) for cls in (0, 1)} if len(parts) else ()):
        part = parts[picked[k]]
        region, circle = part_region(part.image, part.circle, spec)
        remade.append({"crop": k, "image": _png(region), "circle": [circle.cx, circle.cy, circle.r, circle.squash, circle.axis],
                       "square": _png(crop_square(part.image, part.circle, spec))})  # fmt: skip
    return json.dumps({"clip": spec.clip, "labels": [int(labels[i]) for i in picked], "crops": pngs, "parts": remade})
