"""The model gate: the one validation every model passes before it may judge a part.

Start-up (``run``, ``replay``, ``classify``, ``demo``, ``eval``, ``check-config``), SIGHUP and the
file watch all come through :func:`admit`. A model is admitted when it loads, its metadata and
input shape agree (station.model checks both), its preprocessing is the running one's (on a
reload), and on the bundled labelled sample photos every score is a finite number in [0, 1] and
at least SELF_TEST_ACCURACY of the photos are judged right at its own threshold. An inverted,
NaN-producing or ruined model fails the last two. Anything else it does wrong is a ModelError too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from station.errors import ModelError
from station.model import Model, Threads
from station.preprocess import PreprocessSpec, Quality, preprocess
from station.sources import IMAGE_SUFFIXES, read_image

SAMPLE = Path(__file__).resolve().parent / "sample" / "casting"
SELF_TEST_ACCURACY = 0.8


def self_test(model: Model, sample: Path = SAMPLE) -> str | None:
    """Why ``model`` is unfit to run, judged on the labelled sample photos; None when it is fit. Never raises."""
    photos = [(p, label) for folder, label in (("ok_front", 0), ("def_front", 1)) if (sample / folder).is_dir()
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
    try:  # one crop at a time, as the station scores them (a graph with a fixed batch of 1 is fine)
        scores = np.concatenate([model.score(c[None]) for c in crops])
    except Exception as exc:  # whatever ONNX Runtime raises while running a broken graph
        return f"it cannot score the self-test photos ({type(exc).__name__}: {str(exc).strip()[:160]})"
    if scores.shape != (len(labels),):
        return f"it gives {scores.size} scores for {len(labels)} self-test photos"
    if not np.all(np.isfinite(scores)) or scores.min() < 0.0 or scores.max() > 1.0:
        bad = int(np.sum(~np.isfinite(scores) | (scores < 0) | (scores > 1)))
        return f"{bad} of its {len(labels)} self-test scores are not a finite number in [0, 1]"
    accuracy = float(np.mean((scores > model.info.threshold) == np.array(labels, dtype=bool)))
    if accuracy < SELF_TEST_ACCURACY:
        return f"accuracy {accuracy:.2f} on the {len(labels)} self-test photos (needs {SELF_TEST_ACCURACY})"
    return None


def admit(path: Path, threads: Threads | None = None, spec: PreprocessSpec | None = None) -> Model:
    """The model at ``path`` if it passes the gate (``spec``: the running model's preprocessing); else ModelError."""
    model = Model(path, threads)
    if spec is not None and model.info.spec != spec:
        raise ModelError(f"{path}: its preprocessing (input size, margin, mask) differs from the running model's: restart the station")
    why = self_test(model)
    if why is not None:
        raise ModelError(f"{path}: refused by the self-test: {why}")
    return model
