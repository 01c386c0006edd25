"""The model gate: the one validation every model passes before it may judge a part.

Start-up (``run``, ``replay``, ``classify``, ``demo``, ``eval``, ``check-config``), SIGHUP and the
file watch all come through :func:`admit`. A model is admitted when it loads, its metadata and
input shape agree (station.model checks both), it scores a blank crop (what the station warms it up
with) without failing, and on the bundled labelled sample photos every
score is a finite number in [0, 1], at least SELF_TEST_ACCURACY of the photos are judged right
as the decision would judge them, and no defective one passes (a taught model: on the crops of its
own line that it carries, two of which its own preprocessing must remake from the pixels it keeps of
them; one taught before its self-test said ``rejected`` keeps the 80 % alone). An inverted,
NaN-producing or ruined model fails the last two, a taught model with changed crop settings the
remake. A model whose output is no probability (integers, booleans: station.model) or whose every
self-test score is exactly 0 or 1 (a hard decision, which no uncertain band can hold back) is
refused too. Anything else it does wrong is a ModelError too.

The gate catches broken and mistaken models, not forged ones: a file crafted to invert its graph
*and* the labels of the self-test it carries passes it. A model file is trusted as the program is
(who may write the model folder; docs/commissioning.md).
"""

from __future__ import annotations

import base64
import json
import math
import threading
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from station.errors import ConfigError, ModelError, NotJudged
from station.imagesize import claimed_size
from station.locate import Circle, FloatImage, GrayImage
from station.model import META_SELF_TEST, Model, Threads
from station.preprocess import Quality, crop_square, dequantised, normalise, preprocess, quantised
from station.score import SCORE_DIGITS, passing
from station.stills import IMAGE_SUFFIXES, LABELLED, MAX_IMAGE_SIDE, read_image

SAMPLE = Path(__file__).resolve().parent / "sample" / "casting"
SELF_TEST_ACCURACY = 0.8
TAUGHT_PER_CLASS = 8  # a taught model's own self-test: at least this many crops of each class
REJECTED = "rejected"  # a taught self-test's key: true when each defective crop is one the model rejected when written
REMADE_TOLERANCE = 3  # grey levels: a square crop remade from its stored pixels differs by rounding (1 measured), no more


def _photos(model: Model, sample: Path) -> tuple[list[FloatImage], list[int]] | str:
    """The bundled labelled photos, cropped by the model's own preprocessing; or why there are none."""
    photos = [(p, label) for folder, label in LABELLED.items() if (sample / folder).is_dir()
              for p in sorted((sample / folder).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]  # fmt: skip
    if len({label for _, label in photos}) < 2:
        return f"{sample}: the self-test photos are missing"
    crops, labels = [], []
    try:
        for p, label in photos:
            image = read_image(p).image
            pre = preprocess(image, model.info.spec) if image is not None else None
            if pre is not None and pre.crop is not None and pre.quality is Quality.OK:
                crops.append(pre.crop)
                labels.append(label)
    except Exception as exc:  # metadata that describes a crop the station cannot make (wrong types, sizes)
        return f"its preprocessing cannot run ({type(exc).__name__}: {str(exc).strip()[:160]})"
    if len(set(labels)) < 2:
        return f"its preprocessing finds no inspectable part in the {len(photos)} self-test photos"
    return crops, labels


def _grey_png(b64: object, side: int | None = None) -> GrayImage:
    """A stored image (``side``: one that must be ``side`` x ``side``, known before it is decoded); ValueError if it is none."""
    if not isinstance(b64, str) or not b64:
        raise ValueError("an image that is not base64 text")
    data = base64.b64decode(b64, validate=True)
    claimed = claimed_size(data)
    if claimed is None or max(claimed) > MAX_IMAGE_SIDE:  # the file is input too: never decoded to gigabytes
        raise ValueError(f"an image that is not a grey PNG of at most {MAX_IMAGE_SIDE} px a side")
    if side is not None and tuple(claimed) != (side, side):  # 12000 px crops of 140 kB each took 144 MB a crop to decode
        raise ValueError(f"a crop of {claimed[0]} x {claimed[1]} px, not of the input size ({side} px)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("an image that is not a grey PNG")
    return cast(GrayImage, img)


def _off(a: GrayImage, b: GrayImage) -> int:
    """The largest difference between two grey images, in grey levels."""
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _taught(model: Model) -> tuple[list[FloatImage], list[int], bool] | str:
    """A taught model's own line: the labelled crops ``station teach`` stored in it (grey levels over +-clip), and whether
    its defective crops are all ones it rejected when written (``REJECTED``: taught since 2026-12-06; each must still be).

    Where it also kept the pixels some crops were cut from, those crops are remade with the model's
    own preprocessing and must come out the same: a file whose crop settings were changed is refused.
    """
    try:
        raw = json.loads(model.info.self_test)
        clip, labels = float(raw["clip"]), [int(v) for v in raw["labels"]]
        if clip != model.info.spec.clip:  # the crops were stored over the clip the model crops with
            return f"its self-test crops were stored with clip {clip}, its input's {model.info.spec.clip}: its metadata was changed"
        size = model.info.spec.size
        if len(raw["crops"]) != len(labels) or len(raw.get("parts", [])) > len(set(labels)):  # before any is decoded
            raise ValueError("crops and labels do not match, or more remade parts than one of each class")
        stored = [_grey_png(b64, size) for b64 in raw["crops"]]
        if min(labels.count(0), labels.count(1)) < TAUGHT_PER_CLASS or set(labels) != {0, 1}:  # one crop a label: above
            raise ValueError(f"crops and labels do not match, or fewer than {TAUGHT_PER_CLASS} crops of a class")
        for part in raw.get("parts", []):
            k, (cx, cy, r, squash, axis) = int(part["crop"]), (float(v) for v in part["circle"])
            if not (all(math.isfinite(v) for v in (cx, cy, r, axis)) and r > 0 and 0 < squash <= 1):
                raise ValueError(f"self-test part {k}: a circle that is not one")
            circle = Circle(cx, cy, r, squash, axis) if model.info.spec.rectify else Circle(cx, cy, r)  # as the station finds it
            square = _grey_png(part["square"], size)
            cut = crop_square(_grey_png(part["image"]), circle, model.info.spec)  # the geometry: margin, size, rectification
            again = quantised(normalise(square, model.info.spec)[0], clip)  # the grey levels: clip, mask
            if cut.shape != square.shape or _off(cut, square) > REMADE_TOLERANCE or _off(again, stored[k]) > 1:
                return f"its preprocessing does not remake the crops it was taught on (self-test crop {k}): its input metadata was changed"
    except RecursionError:  # JSON nested past Python's stack
        return f"its {META_SELF_TEST} metadata is malformed (nested too deep)"
    except (ValueError, KeyError, TypeError, IndexError, ArithmeticError, cv2.error) as exc:
        return f"its {META_SELF_TEST} metadata is malformed ({str(exc).strip()[:160]})"
    return [dequantised(img, clip) for img in stored], labels, raw.get(REJECTED) is True


STOPPED = "not finished: the station is stopping"  # the self-test's answer once ``stop`` is set


def self_test(model: Model, sample: Path = SAMPLE, stop: threading.Event | None = None) -> str | None:
    """Why ``model`` is unfit to run, judged on its labelled self-test crops; None when it is fit. Never raises.

    A model taught for a line (``station teach``) carries crops of that line's parts and is judged
    on them; any other model on the bundled sample photos. Once ``stop`` is set it gives up between
    two crops, answering :data:`STOPPED` (a slow model's self-test must not hold up a stop).
    """
    lo = model.info.band[0]
    if round(lo, SCORE_DIGITS) != lo:  # a score is judged as published (score.passes): one a hair over the limit would pass
        return f"its pass limit {lo!r} is not in whole millionths, as scores are published and judged; a score just above it would pass"
    try:  # what the station runs it on first (Model.warm_up): a model that fails on it would fail the start or the reload
        model.warm_up(runs=1)
    except Exception as exc:
        return f"it cannot score a blank crop ({type(exc).__name__}: {str(exc).strip()[:160]})"
    if model.info.self_test:  # its own line's crops judge it; the bundled photos still must score as numbers
        photos = _photos(model, sample)
        if isinstance(photos, str):
            return photos
        why = _judge(model, *photos, accuracy_needed=0.0, stop=stop)
        if why is not None:
            return why
    if not model.info.self_test:
        got = _photos(model, sample)
        return got if isinstance(got, str) else _judge(model, *got, accuracy_needed=SELF_TEST_ACCURACY, stop=stop, no_escape=True)
    taught = _taught(model)
    if isinstance(taught, str):
        return taught
    crops, labels, rejected = taught  # a model taught before REJECTED was written may carry defects it passed: 80 % for it
    return _judge(model, crops, labels, accuracy_needed=SELF_TEST_ACCURACY, stop=stop, no_escape=rejected)


def _judge(model: Model, crops: list[FloatImage], labels: list[int], accuracy_needed: float,
           stop: threading.Event | None = None, no_escape: bool = False) -> str | None:  # fmt: skip
    """Every score a finite number in [0, 1], and at least ``accuracy_needed`` judged as the decision would; with
    ``no_escape``, no defective photo passed: a model whose threshold or band was moved to let one through is refused. The
    shipped model rejects the bundled defects by 3.0 log-odds at least (its weakest 0.92 against a pass limit of 0.38; a
    limit edited up to 0.92 is admitted: docs/reliability.md, "Not defended"); a taught model carries only defective crops
    it rejected by a margin when it was written (station.teach.selftest)."""
    scored = []
    try:  # one crop at a time, as the station scores them (a graph with a fixed batch of 1 is fine), with the evidence
        for c in crops:
            if stop is not None and stop.is_set():
                return STOPPED
            scored.append(model.score_with_evidence(c[None])[0])
        scores = np.concatenate(scored)
    except Exception as exc:  # whatever ONNX Runtime raises while running a broken graph
        return f"it cannot score the self-test photos ({type(exc).__name__}: {str(exc).strip()[:160]})"
    if scores.shape != (len(labels),):
        return f"it gives {scores.size} scores for {len(labels)} self-test photos"
    if not np.all(np.isfinite(scores)) or scores.min() < 0.0 or scores.max() > 1.0:
        bad = int(np.sum(~np.isfinite(scores) | (scores < 0) | (scores > 1)))
        return f"{bad} of its {len(labels)} self-test scores are not a finite number in [0, 1]"
    if np.all((scores == 0.0) | (scores == 1.0)):  # no sigmoid gives exactly 0 to every good part: rounded, or a rule
        return f"all its {len(labels)} self-test scores are exactly 0 or 1: hard decisions, which no uncertain band can hold back"
    lo = model.info.band[0]  # the station passes a part only below its uncertain band (station/score.py)
    defective = np.array(labels, dtype=bool)
    accuracy = float(np.mean((scores >= min(lo, model.info.threshold)) == defective))
    if accuracy < accuracy_needed:
        return f"accuracy {accuracy:.2f} on the {len(labels)} self-test photos (needs {accuracy_needed})"
    if no_escape and (passed := int(passing(scores[defective], lo).sum())):  # judged as the line judges
        return f"it passes {passed} of the {int(defective.sum())} defective self-test photos (pass limit {lo:g}): each must be rejected"
    return None


def admit(path: Path, threads: Threads | None = None, stop: threading.Event | None = None) -> Model:
    """The model at ``path`` if it passes the gate; else ModelError (NotJudged once ``stop`` is set: :func:`self_test`)."""
    if stop is not None and stop.is_set():  # not even the session built: a large model takes seconds
        raise NotJudged(f"{path}: {STOPPED}")
    model = Model(path, threads)
    why = self_test(model, stop=stop)
    if why == STOPPED:
        raise NotJudged(f"{path}: {STOPPED}")
    if why is not None:
        raise ModelError(f"{path}: refused by the self-test: {why}")
    return model


def admit_configured(path: Path, key: str, threads: Threads | None = None) -> Model:
    """:func:`admit` for a model the config names: a refusal is a ConfigError naming ``key`` (exit 2)."""
    try:
        return admit(path, threads)
    except ModelError as exc:
        raise ConfigError(key, str(exc)) from None
