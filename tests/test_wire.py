"""The wire contract's bottom layer: strict JSON both ways, and a gateway core free of I/O libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from station.wire import decode, encode

from .conftest import ROOT


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_encode_refuses_a_number_that_is_not_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        encode({"score": bad})
    with pytest.raises(ValueError):
        encode({"circle": [1.0, bad, 2.0]})


@pytest.mark.parametrize("data", [b'{"score": NaN}', b'{"a": Infinity}', b"[1, 2]", b"[" * 5000 + b"]" * 5000, b"not json"])
def test_decode_refuses_what_a_strict_subscriber_must_refuse(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)


def test_round_trip() -> None:
    body = {"v": 1, "score": 0.25, "detail": "é", "circle": [1.5, 2.0, 3.0], "image": None}
    assert decode(encode(body)) == body


def test_importing_the_gateway_core_loads_no_sockets_and_no_metrics() -> None:
    code = "import sys, station.gateway.core; print(sorted(m for m in ('zmq', 'prometheus_client') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr
