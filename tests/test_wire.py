"""The wire contract: typed messages with one encoder and one strict decoder each, and a gateway core free of I/O libraries."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from station.wire import (
    MAX_TEXT,
    CameraState,
    Heartbeat,
    Reason,
    ResendReply,
    ResendRequest,
    StationState,
    Status,
    VerdictMessage,
    WireError,
    decode,
    encode,
    frames,
    read,
    text,
)

from .conftest import ROOT


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_encode_refuses_a_number_that_is_not_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        encode({"score": bad})
    with pytest.raises(ValueError):
        encode({"circle": [1.0, bad, 2.0]})


@pytest.mark.parametrize(
    "data",
    [b'{"score": NaN}', b'{"a": Infinity}', b"[1, 2]", b"[" * 5000 + b"]" * 5000, b"not json",
     b'{"verdict": "reject", "verdict": "pass"}', b'{"a": {"b": 1, "b": 2}}',  # which one wins differs from parser to parser
     '{"a": 1}'.encode("utf-16"), '{"a": 1}'.encode("utf-32"), '{"a": 1}'.encode("utf-8-sig"), b'{"a": "\xff"}',
     b'{"a": "\\ud800"}'],  # a lone surrogate: text no UTF-8 peer can hold
)  # fmt: skip
def test_decode_refuses_what_a_strict_subscriber_must_refuse(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)


def test_a_duplicate_key_is_named() -> None:
    with pytest.raises(WireError, match="verdict: given twice"):
        decode(b'{"verdict": "reject", "score": 0.9, "verdict": "pass"}')


def test_text_is_utf8_and_bounded() -> None:
    name = os.fsdecode(b"part\xff.jpeg")  # a file name that is not UTF-8, as Python keeps it
    assert text(name) == "part\\xff.jpeg" and decode(encode({"image": text(name)})) == {"image": "part\\xff.jpeg"}
    assert text("é" * 5) == "é" * 5
    assert text("a\ud800b") == "a\\ud800b"  # a lone surrogate no file name makes: escaped, never an exception
    long = text("x" * 100_000)
    assert len(long) == MAX_TEXT and long.endswith("...")


def test_round_trip() -> None:
    body = {"v": 1, "score": 0.25, "detail": "é", "circle": [1.5, 2.0, 3.0], "image": None}
    assert decode(encode(body)) == body


def test_importing_the_gateway_core_loads_no_sockets_and_no_metrics() -> None:
    code = "import sys, station.gateway.core; print(sorted(m for m in ('zmq', 'prometheus_client') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr


def _verdict(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "v": 1, "station": "s", "run_id": "r", "seq": 7, "sent_at": 1.5, "part_id": 3, "frame": 40, "verdict": "pass",
        "reason": "ok", "score": 0.01, "captured_at": 1.0, "published_at": 1.5, "deadline_at": 1.5, "model": "m",
        "config": "c", "detail": "score 0.010 below the pass limit 0.050", "circle": [1.5, 2.0, 3.0],
    }  # fmt: skip
    body.update(over)
    return {k: v for k, v in body.items() if v is not None or k == "score"}


def test_each_message_decodes_to_its_class_and_encodes_to_the_same_bytes() -> None:
    data = encode(_verdict())
    msg = read([b"verdict", data])
    assert isinstance(msg, VerdictMessage) and msg.reason is Reason.OK and msg.circle == (1.5, 2.0, 3.0)
    assert msg.encode() == data  # field order as documented: the bytes on the wire are unchanged
    beat = b'{"v": 1, "station": "s", "run_id": "r", "seq": 8, "sent_at": 2.0, "state": "running", "last_seq": 7, "verdicts": 3, '
    beat += b'"camera": "connected"}'
    hb = read([b"heartbeat", beat])
    assert isinstance(hb, Heartbeat) and hb.state is StationState.RUNNING and hb.encode() == beat
    status = Status(station="s", run_id="r", seq=9, sent_at=2.0, state=StationState.STOPPING, camera=CameraState.ENDED)
    assert read(frames(status)) == status


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (_verdict(v=2), "v:"),
        (_verdict(part_id=None), "part_id: missing"),
        (_verdict(extra=1), "extra: unknown field"),
        (_verdict(part_id=True), "part_id: expected int"),
        (_verdict(frame=1.5), "frame: expected int"),
        (_verdict(score="0.1"), "score: expected float"),
        (_verdict(verdict="maybe"), "verdict:"),
        (_verdict(reason="fine"), "reason:"),
        (_verdict(circle=[1, 2]), "circle: expected a list of 3"),
        (_verdict(verdict="pass", reason="defect"), "verdict: pass with reason defect"),
        (_verdict(score=None), "verdict: pass with reason ok and score None"),
        (_verdict(verdict="reject", reason="defect", score=1.5), "score: 1.5 is not in [0, 1]"),
        (_verdict(sent_at=10**400), "sent_at: expected float"),  # too large for a float: refused, not an OverflowError
        (_verdict(score=10**400), "score: expected float"),
        (_verdict(seq=0), "seq: 0 is not in 1..2^53"),
        (_verdict(part_id=-3), "part_id: -3 is not in 1..2^53"),
        (_verdict(part_id=2**60), "part_id: 1152921504606846976 is not in 1..2^53"),
        (_verdict(frame=-1), "frame: -1 is not in 0..2^53"),
        (_verdict(v=True), "v: expected 1"),  # equal to 1 in Python, not the JSON integer 1
        (_verdict(v=1.0), "v: expected 1"),
    ],
)
def test_the_strict_decoder_names_what_is_not_the_contract(body: dict[str, object], names: str) -> None:
    with pytest.raises(WireError, match=re.escape(names)):
        VerdictMessage.decode(encode(body))


@pytest.mark.parametrize("key", ["circle", "image", "where", "shadow"])
def test_an_optional_field_is_absent_when_it_has_no_value_never_null(key: str) -> None:
    body = {**_verdict(), key: None}  # the encoder leaves such a field out: null is no message it sends
    with pytest.raises(WireError, match=re.escape(f"{key}: null")):
        VerdictMessage.decode(encode(body))


@pytest.mark.parametrize(
    ("over", "names"),
    [({"last_seq": 5, "verdicts": 0}, "last_seq: 5 is not seq - 1 (7)"),
     ({"last_seq": 7, "verdicts": -1}, "verdicts: -1 is not in 0..last_seq"),
     ({"last_seq": 7, "verdicts": 8}, "verdicts: 8 is not in 0..last_seq (7)")],
)  # fmt: skip
def test_a_heartbeat_whose_counters_cannot_be_is_refused(over: dict[str, int], names: str) -> None:
    body = {"v": 1, "station": "s", "run_id": "r", "seq": 8, "sent_at": 2.0, "state": "running", "camera": "connected", **over}
    with pytest.raises(WireError, match=re.escape(names)):
        Heartbeat.decode(encode(body))


@pytest.mark.parametrize("topic", [Heartbeat, Status])
def test_a_camera_state_that_is_not_in_the_contract_is_refused_naming_camera(topic: type[Heartbeat] | type[Status]) -> None:
    body = {"v": 1, "station": "s", "run_id": "r", "seq": 8, "sent_at": 2.0, "state": "running", "camera": "on fire"}
    if topic is Heartbeat:
        body |= {"last_seq": 7, "verdicts": 0}
    with pytest.raises(WireError, match="camera: 'on fire' is not one of connecting, connected, disconnected, ended"):
        topic.decode(encode(body))


@pytest.mark.parametrize(
    "parts", [[b"verdict"], [b"bogus", b"{}"], [b"verdict", b"not json"], [b"heartbeat", encode(_verdict())], [b"status", b"[]"]]
)
def test_read_refuses_frames_that_are_not_a_published_message(parts: list[bytes]) -> None:
    with pytest.raises(WireError):
        read(parts)


@pytest.mark.parametrize(
    ("data", "names"),
    [(b'{"from": 1' + b"0" * 3999 + b', "to": 5}', "from: 1000"),
     (b'{"from": 1, "to": 2, "' + b"k" * 5000 + b'": 0}', "kkk"),
     (b'{"' + b"k" * 3000 + b'": 0, "' + b"k" * 3000 + b'": 0, "from": 1, "to": 2}', "kkk': given twice"),
     (b'{"from": 1, "to": 2, "x\\nERROR forged": 0}', "'x\\nERROR forged': unknown field"),
     (b'{"from": 1, "to": ' + b"9" * 500 + b"}", "to: 999")],
    ids=["long-from", "long-key", "long-key-twice", "newline-in-key", "long-to"],
)  # fmt: skip
def test_a_peers_oversized_value_is_echoed_in_a_line_of_bounded_size(data: bytes, names: str) -> None:
    """The station's resend server logs the error a request gets and sends it back: a 4000-digit number or a long key is
    cut, and a key holding a newline escaped (it would forge a second log line)."""
    with pytest.raises(WireError, match=re.escape(names)) as raised:
        ResendRequest.decode(data)
    assert len(str(raised.value)) < 200 and "\n" not in str(raised.value)


def test_a_verdict_that_is_no_verdict_is_shown_cut() -> None:
    with pytest.raises(WireError, match="verdict: 'mmm") as raised:
        VerdictMessage.decode(encode(_verdict(verdict="m" * 10_000)))
    assert len(str(raised.value)) < 200


def test_resend_request_and_reply_as_documented() -> None:
    assert ResendRequest(run_id="r", first=57, last=59).encode() == b'{"run_id": "r", "from": 57, "to": 59}'
    assert ResendRequest.decode(b'{"from": 1, "to": 2}') == ResendRequest(first=1, last=2)
    served = ResendReply(run_id="r", first=57, last=59, gone=None, count=3)
    assert served.encode() == b'{"v": 1, "run_id": "r", "from": 57, "to": 59, "gone": null, "count": 3}'
    assert ResendReply.decode(served.encode()) == served
    for count in (-1, ResendRequest.MAX_SPAN + 1):  # a reply holds at most what one request asks for
        with pytest.raises(WireError, match="count: expected 0 to 1000"):
            ResendReply.decode(served.encode().replace(b'"count": 3', b'"count": %d' % count))
    assert ResendReply(run_id="r", error="x").encode() == b'{"v": 1, "run_id": "r", "error": "x"}'
    for bad in (b'{"from": 2, "to": 1}', b'{"from": 1, "to": 1001}', b'{"from": 1}', b'{"from": 1, "to": 2, "run_id": 5}',
                b'{"from": 10000000000000000000000000, "to": 10000000000000000000000001}',
                b'{"from": 1, "to": 2, "run_id": null}'):  # fmt: skip
        with pytest.raises(WireError):
            ResendRequest.decode(bad)
