"""The wire contract's bottom layer: protocol version, topics and strict JSON, importing nothing with I/O.

Everything that goes out on a socket or into ``--out`` is encoded by :func:`encode` (strict: a
number that is not finite is an error, never ``NaN`` in the output); everything read from the
wire by a subscriber that must be strict is decoded by :func:`decode`. docs/protocol.md is the
contract in words. The gateway's I/O-free core imports this module, not the publisher.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

PROTOCOL_VERSION = 1


class Topic(StrEnum):
    VERDICT = "verdict"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    RESEND = "resend"


def encode(body: dict[str, Any]) -> bytes:
    """One message body as strict JSON (ValueError for NaN or Infinity anywhere in it)."""
    return json.dumps(body, allow_nan=False).encode()


def _refuse(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def decode(data: bytes | str) -> dict[str, Any]:
    """A message body from strict JSON: a JSON object, without NaN or Infinity; ValueError otherwise."""
    try:
        out = json.loads(data, parse_constant=_refuse)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(out, dict):
        raise ValueError("not a JSON object")
    return out
