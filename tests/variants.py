"""Model files derived from the shipped one for tests: the same network with another operating point or preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from station.model import META_BAND, META_INPUT, META_THRESHOLD, META_VERSION

from .conftest import MODEL

STRICT = (0.0068, (0.0065, 0.0068))  # rejects good parts the shipped model passes (0.26): disagreements on purpose


def candidate(dst: Path, threshold: float, band: tuple[float, float], rectify: bool = False, version: str = "9.9.9") -> Path:
    """The shipped network as another model: its own threshold, band, version and (optionally) ellipse rectification."""
    m = onnx.load(str(MODEL))
    for p in m.metadata_props:
        if p.key == META_THRESHOLD:
            p.value = f"{threshold:.6f}"
        elif p.key == META_BAND:
            p.value = json.dumps(list(band))
        elif p.key == META_VERSION:
            p.value = version
        elif p.key == META_INPUT:
            p.value = json.dumps({**json.loads(p.value), "rectify": rectify})
    onnx.save(m, str(dst))
    return dst
