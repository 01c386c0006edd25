"""The station's HTTP endpoints on ``metrics.host:metrics.port``.

- ``/metrics``: Prometheus exposition of the station's registry.
- ``/healthz``: 200 when the camera is connected and frames arrived within
  ``metrics.healthy_within_s``, else 503; both with a JSON body saying why.
- ``/``: the operator's live page (one self-contained HTML file, no build step, no external assets),
  fed by ``/state.json`` (last verdicts, counters) and ``/frame.jpg`` (the last inspected frame,
  annotated with the part's outline, verdict colour and score).

The server has its own thread and the bounds of ``station.httpserve``: at most MAX_CLIENTS
connections at once (more closed, counted in ``station_http_connections_refused_total``), REQUEST_S
for a whole request. So no number of slow or idle clients can take the threads, the file
descriptors or the CPU the inspection needs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import cv2
import numpy as np
import numpy.typing as npt
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from station.errors import InputError
from station.httpserve import BoundedHandler, BoundedServer, Served, bind_key
from station.locate import u8
from station.messages import Reason, Verdict
from station.metrics import Metrics
from station.review import Review
from station.wire import VerdictMessage, WireError, decode

COLOURS = {"pass": (60, 180, 60), "reject": (40, 40, 220), "uncertain": (0, 160, 255)}  # BGR
GLARE_WARN = 0.25  # image share at full white that the live page warns of (the StationGlare alert's level)


@dataclass(frozen=True)
class Health:
    ok: bool
    body: dict[str, Any]


class LiveView:
    """The last verdicts and the last inspected frame, kept for the live page (thread-safe)."""

    def __init__(self, metrics: Metrics, keep: int = 20, max_width: int = 800) -> None:
        self.metrics = metrics
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._last: Verdict | None = None
        self._jpeg: tuple[int, bytes] | None = None
        self._max_width = max_width

    def record(self, v: Verdict, msg: VerdictMessage) -> None:
        """One published verdict: ``v`` is the one sent, ``msg`` its wire form."""
        body = msg.body()
        row = {k: body.get(k) for k in ("part_id", "frame", "verdict", "reason", "score", "published_at", "detail")}
        with self._lock:
            self._recent.appendleft(row)
            if v.image is not None and v.image.size:
                self._last = v

    def state(self) -> dict[str, Any]:
        counts: dict[str, float] = {}
        for metric in self.metrics.parts.collect():
            for s in metric.samples:
                if s.name.endswith("_total"):
                    counts[s.labels["reason"]] = counts.get(s.labels["reason"], 0.0) + s.value
        clipped = next(iter(self.metrics.clipped.collect())).samples[0].value
        with self._lock:
            last = self._last.part_id if self._last else None
            return {"recent": list(self._recent), "counts": counts, "frame_part": last, "clipped": clipped, "clipped_warn": GLARE_WARN}

    def frame_jpeg(self) -> bytes | None:
        with self._lock:
            last = self._last
            cached = self._jpeg
        if last is None:
            return None
        v = last
        if cached is not None and cached[0] == v.part_id:
            return cached[1]
        data = annotate(v, self._max_width)
        with self._lock:
            self._jpeg = (v.part_id, data)
        return data


def _inset_heat(img: npt.NDArray[np.uint8], v: Verdict) -> None:
    """The part as the model saw it, with its heat map (red: where the defect score came from), in the top right corner."""
    if v.evidence is None or v.circle is None or v.image is None:
        return
    side = min(img.shape[0] - 32, img.shape[1] // 3)
    if side < 32:
        return
    pic = cv2.resize(v.evidence.picture(u8(v.image), v.circle), (side, side), interpolation=cv2.INTER_AREA)
    img[30 : 30 + side, img.shape[1] - side :] = pic
    cv2.rectangle(img, (img.shape[1] - side, 30), (img.shape[1] - 1, 29 + side), (0, 255, 255), 1)


def annotate(v: Verdict, max_width: int) -> bytes:
    """The frame in colour with the part's circle, where the defect is (yellow), the heat map inset, and a label, as JPEG."""
    assert v.image is not None
    img = u8(cv2.cvtColor(u8(v.image), cv2.COLOR_GRAY2BGR))
    scale = min(1.0, max_width / img.shape[1])
    if scale < 1.0:
        img = u8(cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    colour = COLOURS["uncertain" if v.reason is Reason.UNCERTAIN else v.verdict]
    thick = max(2, img.shape[1] // 300)
    if v.circle is not None:
        centre = (round(v.circle.cx * scale), round(v.circle.cy * scale))
        cv2.circle(img, centre, round(v.circle.r * scale), colour, thick, cv2.LINE_AA)
    elif v.blob is not None:  # not located: the trigger's box round the part meant
        (x, y, d) = (c * scale for c in v.blob)
        cv2.rectangle(img, (round(x - d / 2), round(y - d / 2)), (round(x + d / 2), round(y + d / 2)), colour, thick)
    if v.where is not None:  # where the network saw the defect: a cross-hair ring on the point
        at, size = (round(v.where[0] * scale), round(v.where[1] * scale)), max(8, img.shape[1] // 60)
        cv2.circle(img, at, size, (0, 255, 255), thick, cv2.LINE_AA)
        cv2.drawMarker(img, at, (0, 255, 255), cv2.MARKER_CROSS, 2 * size, max(1, thick // 2), cv2.LINE_AA)
    _inset_heat(img, v)
    score = "-" if v.score is None else f"{v.score:.3f}"
    label = f"#{v.part_id} {v.verdict.upper()} {v.reason.value} {score}"
    cv2.rectangle(img, (0, 0), (img.shape[1], 28), (0, 0, 0), -1)
    cv2.putText(img, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return bytes(buf.tobytes()) if ok else b""


def _page(name: str = "live.html") -> bytes:
    return resources.files("station").joinpath(name).read_bytes()


MAX_BODY = 4096  # bytes of a review request (a label is about 100)
NOT_FRAMED = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}  # no page of another site lays
# the review page under its own to steer an operator's clicks
Query = dict[str, list[str]]


class WebServer(Served):
    """/metrics, /healthz, / (live page), /state.json, /frame.jpg on one port, in one thread."""

    def __init__(
        self, host: str, port: int, metrics: Metrics, live: LiveView, health: Callable[[], Health], review: Review | None = None
    ) -> None:
        site = _Site(metrics, live, health, _page(), _page("review.html"), review)
        handler = type("Handler", (_Handler,), {"site": site})
        super().__init__(host, port, handler, metrics.http_refused, bind_key("metrics.port"))


@dataclass(frozen=True)
class _Site:
    """What the handler serves: one per server."""

    metrics: Metrics
    live: LiveView
    health: Callable[[], Health]
    page: bytes
    review_page: bytes
    review: Review | None


class _Handler(BoundedHandler):
    """One request; :class:`WebServer` subclasses it with its own :class:`_Site`."""

    site: _Site

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        serve = GET_ROUTES.get(path)
        if serve is None:
            self._send(404, "text/plain", b"not found\n")
        else:
            serve(self, parse_qs(query))

    def _metrics(self, _query: Query) -> None:
        self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.site.metrics.registry))

    def _health(self, _query: Query) -> None:
        h = self.site.health()
        self._send(200 if h.ok else 503, "application/json", json.dumps(h.body).encode())

    def _live_page(self, _query: Query) -> None:
        self._send(200, "text/html; charset=utf-8", self.site.page)

    def _state(self, _query: Query) -> None:
        self._send(200, "application/json", json.dumps(self.site.live.state()).encode())

    def _frame(self, _query: Query) -> None:
        data = self.site.live.frame_jpeg()
        self._send(200 if data else 404, "image/jpeg" if data else "text/plain", data or b"no part inspected yet\n")

    def do_POST(self) -> None:
        review = self.site.review
        path = self.path.partition("?")[0]
        if path != "/review/label":
            known = path in GET_ROUTES
            self._send(405 if known else 404, "text/plain", b"POST is only for /review/label\n", {"Allow": "GET"} if known else None)
            return
        if not self._review_ok():
            return
        assert review is not None
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) != 1 or "Transfer-Encoding" in self.headers:  # one body, framed one way (never two ways to read)
            self._send(400, "text/plain", b"a label request has one Content-Length and no Transfer-Encoding\n")
            return
        size = int(lengths[0]) if lengths[0].isascii() and lengths[0].isdigit() else -1  # int() also takes "0_7", " 7"
        if not 0 < size <= MAX_BODY:
            self._send(413, "text/plain", f"a label request is 1-{MAX_BODY} bytes\n".encode())
            return
        try:
            body = decode(self.rfile.read(size))
            if extra := sorted(set(body) - {"id", "label", "who"}):
                raise InputError(f"a label request has id, label and who, not {', '.join(map(repr, extra))}"[:200])
            item, label, who = (body.get(k) for k in ("id", "label", "who"))
            if not all(isinstance(x, str) for x in (item, label, who)):
                raise InputError("id, label and who must be strings")
            meta = review.label(str(item), str(label), str(who), time.time())
        except (WireError, InputError) as exc:
            self._send(400, "text/plain", f"{exc}\n".encode())
            return
        self._send(200, "application/json", json.dumps({"id": item, "review": meta["review"]}).encode())

    def _review_ok(self) -> bool:
        """Review is on and the request carries its token; otherwise answered (404 or 403) here."""
        review = self.site.review
        if review is None:
            self._send(404, "text/plain", b"review is off (review.token_file)\n")
            return False
        if not review.allowed(self.headers.get("X-Review-Token")):
            self._send(403, "text/plain", b"a review request needs the token (X-Review-Token)\n")
            if isinstance(self.server, BoundedServer):  # someone guessing it is said, a few lines at most
                self.server.note("review_token", "review_token_refused", client=str(self.client_address[0]), path=self.path[:80])
            return False
        return True

    def _review_page(self, _query: Query) -> None:
        """The page itself holds nothing: it asks for the token, then for the data."""
        if self.site.review is None:
            self._send(404, "text/plain", b"review is off (review.token_file)\n")
        else:
            self._send(200, "text/html; charset=utf-8", self.site.review_page, NOT_FRAMED)

    def _review_items(self, query: Query) -> None:
        if self._review_ok():
            assert self.site.review is not None
            passes = query.get("passes", ["0"])[0] == "1"  # a trial run: its good parts are confirmed too
            self._send(200, "application/json", json.dumps({"items": self.site.review.items(passes)}).encode())

    def _review_image(self, query: Query) -> None:
        if not self._review_ok():
            return
        assert self.site.review is not None
        try:
            data = self.site.review.image(query.get("id", [""])[0], query.get("kind", ["crop"])[0])
        except InputError as exc:
            self._send(404, "text/plain", f"{exc}\n".encode())
            return
        self._send(200, "image/png", data)


GET_ROUTES: dict[str, Callable[[_Handler, Query], None]] = {
    "/": _Handler._live_page,
    "/metrics": _Handler._metrics,
    "/healthz": _Handler._health,
    "/state.json": _Handler._state,
    "/frame.jpg": _Handler._frame,
    "/review": _Handler._review_page,
    "/review/items": _Handler._review_items,
    "/review/image": _Handler._review_image,
}  # every path GET serves; POST answers 405 on these (only /review/label takes a POST)
