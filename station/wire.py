"""The wire contract: typed messages, each with one encoder and one strict decoder; no I/O.

Every message the station sends (``verdict``, ``heartbeat``, ``status`` on the PUB socket; the
``resend`` reply header on the ROUTER socket) and the gateway's resend request is a frozen class
here. ``encode()`` writes the bytes (strict JSON: never NaN or Infinity, fields in the documented
order); ``decode()`` reads them back and raises :class:`WireError` naming the field for anything
that is not the contract: a missing or unknown field, a wrong type, a number that is not finite,
another protocol version. docs/protocol.md is the contract in words. This module is the bottom of
the import graph: the gateway's I/O-free core and the station's messages import it.
"""

from __future__ import annotations

import json
import math
import reprlib
import types
import typing
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self

PROTOCOL_VERSION = 1


class Topic(StrEnum):
    VERDICT = "verdict"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    RESEND = "resend"


class Reason(StrEnum):
    """Why a verdict is what it is: ``ok`` is the only reason that passes."""

    OK = "ok"
    DEFECT = "defect"
    UNCERTAIN = "uncertain"
    UNABLE = "unable_to_inspect"
    ERROR = "error"
    LATE = "late"


class Disposition(StrEnum):
    """What becomes of the part (a verdict's ``verdict``): it passes for reason ``ok`` alone (:meth:`of`)."""

    PASS = "pass"
    REJECT = "reject"

    @classmethod
    def of(cls, reason: Reason) -> Disposition:
        return cls.PASS if reason is Reason.OK else cls.REJECT


REASONS = frozenset(r.value for r in Reason)  # the strings a reason may be: sidecars and an export's labels.csv are checked


class StationState(StrEnum):
    """What the heartbeats say; the metric station_state has one series per value."""

    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPING = "stopping"


class CameraState(StrEnum):
    """What the heartbeats say of the camera; the capture stage alone writes it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ENDED = "ended"


MAX_TEXT = 2000  # characters of free text (a verdict's detail, an image name): a message stays far below 64 KiB


class WireError(ValueError):
    """Bytes that are not the contract; the message names the field."""


_SHOWN = reprlib.Repr()  # a bad value, shown in its error, in a line of its own size (keywords need Python 3.12)
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 3, 80, 80, 40


def shown(value: object) -> str:
    """``value`` as an error shows it: a peer's 4000-digit number or 10 kB string is cut to a line; an integer too
    long for Python to write out (over 4300 digits) is said in words."""
    try:
        return _SHOWN.repr(value)
    except ValueError:
        return "an integer of thousands of digits"


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """A message class's field types, read once: each decode read them again (compiling every annotation), 345 µs a
    verdict, and a gateway stopping with 5000 verdicts in its socket took 3 s to read them."""
    if (hints := _HINTS.get(cls)) is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def encode(body: dict[str, Any]) -> bytes:
    """One JSON object as strict JSON (ValueError for NaN or Infinity anywhere in it)."""
    return json.dumps(body, allow_nan=False).encode()


def _refuse(name: str) -> object:
    raise WireError(f"{name} is not JSON")


def text(s: str, limit: int = MAX_TEXT) -> str:
    """``s`` as text every strict decoder reads: a byte of a file name that is not UTF-8 (Python keeps it as a lone
    surrogate) written as ``\\xff``, and at most ``limit`` characters (a frame over a gateway's bound loses the peer)."""
    try:
        out = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if not s.isascii() else s
    except UnicodeEncodeError:  # a lone surrogate no file name makes (outside U+DC80-U+DCFF): written as its escape
        out = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return out if len(out) <= limit else out[: limit - 3] + "..."


def _key(k: str) -> str:
    """A peer's key as an error names it: as it is when it reads as a field's name, else cut and escaped (a key holding a
    newline would forge a second log line)."""
    return k if len(k) <= 80 and k.isascii() and k.isprintable() else shown(k)


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:  # parsers differ on which of two keys wins: a reject could be read as a pass
            raise WireError(f"{_key(k)}: given twice")
        out[k] = v
    return out


def decode(data: bytes | str) -> dict[str, Any]:
    """A JSON object from strict JSON (UTF-8, each key once, no lone surrogates), without NaN or Infinity; WireError
    otherwise."""
    try:
        raw = data.decode("utf-8") if isinstance(data, bytes) else data  # json.loads would guess UTF-16 or -32 from bytes
        out = json.loads(raw, parse_constant=_refuse, object_pairs_hook=_once)
        json.dumps(out, ensure_ascii=False).encode("utf-8")  # a "\ud800" escape: text no UTF-8 peer can hold
    except RecursionError:
        raise WireError("nested too deeply") from None
    except UnicodeError:
        raise WireError("not UTF-8 text, or a lone surrogate in a string") from None
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(out, dict):
        raise WireError("not a JSON object")
    return out


def _number(v: object) -> bool:
    """A finite JSON number: an integer too large for a float (400 digits) is not one (math.isfinite would raise)."""
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _check(name: str, kind: Any, v: object) -> object:
    """``v`` as a value of ``kind`` (the field's type), or WireError naming the field."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):  # X | None
        return None if v is None else _check(name, next(a for a in args if a is not type(None)), v)
    if origin is Literal:
        if v not in args:
            raise WireError(f"{name}: {shown(v)} is not one of {', '.join(map(str, args))}")
        return v
    if origin is tuple:
        if not isinstance(v, list) or len(v) != len(args):
            raise WireError(f"{name}: expected a list of {len(args)}")
        return tuple(_check(f"{name}[{i}]", a, x) for i, (a, x) in enumerate(zip(args, v, strict=True)))
    if isinstance(kind, type) and issubclass(kind, _Body):
        if not isinstance(v, dict):
            raise WireError(f"{name}: expected an object")
        try:
            return kind.from_body(v)
        except WireError as exc:
            raise WireError(f"{name}.{exc}") from None
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        if not isinstance(v, str) or v not in {m.value for m in kind}:
            raise WireError(f"{name}: {shown(v)} is not one of {', '.join(kind)}")
        return kind(v)
    ok = {int: lambda: isinstance(v, int) and not isinstance(v, bool), float: lambda: _number(v), str: lambda: isinstance(v, str)}[kind]()
    if not ok:
        raise WireError(f"{name}: expected {kind.__name__}, got {type(v).__name__}")
    return float(v) if kind is float else v  # type: ignore[arg-type]


def _is(v: object, n: int) -> bool:
    """``v`` is the JSON integer ``n`` (``true`` and ``1.0`` equal 1 in Python, but are not the integer 1)."""
    return type(v) is int and v == n


class _Body:
    """Strict JSON <-> frozen dataclass, field by field, in declaration order."""

    RENAME: ClassVar[dict[str, str]] = {}  # Python name -> wire name (``from`` is a keyword)
    VERSIONED: ClassVar[bool] = True  # carries ``v``
    NULLABLE: ClassVar[frozenset[str]] = frozenset()  # optional fields sent as null when they have no value (others: absent)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": PROTOCOL_VERSION} if self.VERSIONED else {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if v is None and f.default is None:
                continue  # an optional field is absent, never null
            out[self.RENAME.get(f.name, f.name)] = list(v) if isinstance(v, tuple) else v.body() if isinstance(v, _Body) else v
        return out

    def encode(self) -> bytes:
        return encode(self.body())

    @classmethod
    def decode(cls, data: bytes | str) -> Self:
        return cls.from_body(decode(data))

    @classmethod
    def from_body(cls, raw: dict[str, Any]) -> Self:
        raw = dict(raw)
        if cls.VERSIONED and not _is(raw.pop("v", None), PROTOCOL_VERSION):
            raise WireError(f"v: expected {PROTOCOL_VERSION}")
        hints = _hints(cls)
        values: dict[str, object] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            key = cls.RENAME.get(f.name, f.name)
            if key not in raw:
                if f.default is None:
                    continue
                raise WireError(f"{key}: missing")
            value = raw.pop(key)
            if value is None and f.default is None and key not in cls.NULLABLE:
                raise WireError(f"{key}: null (absent when it has no value)")
            values[f.name] = _check(key, hints[f.name], value)
        if raw:
            raise WireError(f"{_key(sorted(raw)[0])}: unknown field")
        return cls(**values)


MAX_COUNT = 2**53  # seqs, part ids and frames count from 1 (frames from 0) and stay below this: exact as floats too


def _counted(name: str, v: int, least: int = 1) -> None:
    if not least <= v < MAX_COUNT:
        raise WireError(f"{name}: {shown(v)} is not in {least}..2^53")


@dataclass(frozen=True, kw_only=True)
class _Envelope(_Body):
    """What every published message carries."""

    station: str
    run_id: str
    seq: int
    sent_at: float

    def __post_init__(self) -> None:
        _counted("seq", self.seq)


def _consistent(verdict: Disposition, reason: Reason, score: float | None) -> None:
    """Only ``pass``/``ok`` with a score passes; a score is a number in [0, 1]."""
    if verdict != Disposition.of(reason) or (verdict == Disposition.PASS and score is None):
        raise WireError(f"verdict: {verdict} with reason {reason.value} and score {score!r}")
    if score is not None and not 0.0 <= score <= 1.0:
        raise WireError(f"score: {score!r} is not in [0, 1]")


@dataclass(frozen=True, kw_only=True)
class ShadowVerdict(_Body):
    """What the shadow model would have published alone on the part (its own threshold and band)."""

    VERSIONED: ClassVar[bool] = False
    verdict: Disposition
    reason: Reason
    score: float | None
    model: str

    def __post_init__(self) -> None:
        _consistent(self.verdict, self.reason, self.score)


@dataclass(frozen=True, kw_only=True)
class VerdictMessage(_Envelope):
    """The one verdict for a part (``topic`` verdict)."""

    TOPIC: ClassVar[Topic] = Topic.VERDICT
    part_id: int
    frame: int
    verdict: Disposition
    reason: Reason
    score: float | None
    captured_at: float
    published_at: float
    deadline_at: float
    model: str
    config: str
    detail: str
    circle: tuple[float, float, float] | None = None
    image: str | None = None
    where: tuple[float, float] | None = None  # defect or uncertain: frame pixels of the point that drove the score
    shadow: ShadowVerdict | None = None  # present when a shadow model scored the part (model.shadow)

    def __post_init__(self) -> None:
        super().__post_init__()
        _counted("part_id", self.part_id)
        _counted("frame", self.frame, least=0)
        _consistent(self.verdict, self.reason, self.score)


@dataclass(frozen=True, kw_only=True)
class Heartbeat(_Envelope):
    TOPIC: ClassVar[Topic] = Topic.HEARTBEAT
    state: StationState
    last_seq: int
    verdicts: int
    camera: CameraState

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.last_seq != self.seq - 1:
            raise WireError(f"last_seq: {shown(self.last_seq)} is not seq - 1 ({self.seq - 1})")
        if not 0 <= self.verdicts <= self.last_seq:  # each verdict is one of the messages before this one
            raise WireError(f"verdicts: {shown(self.verdicts)} is not in 0..last_seq ({self.last_seq})")


@dataclass(frozen=True, kw_only=True)
class Status(_Envelope):
    TOPIC: ClassVar[Topic] = Topic.STATUS
    state: StationState
    camera: CameraState


Message = VerdictMessage | Heartbeat | Status
_BY_TOPIC: dict[bytes, type[VerdictMessage] | type[Heartbeat] | type[Status]] = {
    c.TOPIC.encode(): c for c in (VerdictMessage, Heartbeat, Status)
}


def frames(msg: Message) -> list[bytes]:
    """The two frames of a published message: topic, JSON."""
    return [msg.TOPIC.encode(), msg.encode()]


def read(parts: list[bytes]) -> Message:
    """A published message from its frames; WireError naming what is wrong."""
    if len(parts) != 2:
        raise WireError(f"expected two frames (topic, JSON), got {len(parts)}")
    cls = _BY_TOPIC.get(parts[0])
    if cls is None:
        raise WireError(f"topic: {parts[0][:32]!r} is not verdict, heartbeat or status")
    return cls.decode(parts[1])


@dataclass(frozen=True, kw_only=True)
class ResendRequest(_Body):
    """A gateway's ask for seqs ``first``..``last`` (inclusive) of run ``run_id``."""

    RENAME: ClassVar[dict[str, str]] = {"first": "from", "last": "to"}
    VERSIONED: ClassVar[bool] = False
    MAX_SPAN: ClassVar[int] = 1000
    run_id: str | None = None
    first: int
    last: int

    def __post_init__(self) -> None:
        _counted("from", self.first)
        _counted("to", self.last)
        if not 1 <= self.first <= self.last:
            raise WireError("from, to: expected 1 <= from <= to")
        if self.last - self.first + 1 > self.MAX_SPAN:
            raise WireError(f"from, to: at most {self.MAX_SPAN} messages per request")


@dataclass(frozen=True, kw_only=True)
class ResendReply(_Body):
    """The header of a resend reply; the ``count`` messages held follow it, as first sent.

    Without ``first`` (a request not understood) only ``run_id`` and ``error`` are sent.
    """

    RENAME: ClassVar[dict[str, str]] = {"first": "from", "last": "to"}
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"gone"})
    run_id: str
    first: int | None = None
    last: int | None = None
    gone: tuple[int, int] | None = None
    count: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.count is not None and not 0 <= self.count <= ResendRequest.MAX_SPAN:  # what a reply can hold: one request's span
            raise WireError(f"count: expected 0 to {ResendRequest.MAX_SPAN} messages (the most one request asks for)")

    def body(self) -> dict[str, Any]:
        out = super().body()
        if self.first is not None:
            out = {**{k: out.get(k) for k in ("v", "run_id", "from", "to", "gone", "count")}, **out}  # gone: null when none
        return out
