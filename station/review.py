"""Operator review: archived rejects and shadow disagreements, labelled ``defect`` or ``good`` by a person.

The live page's review view (``/review``) lists the newest archived parts (every reject, and every
pass the shadow model would have rejected) with their crop and heat map; an operator marks each
one. The label goes into that part's sidecar, atomically (temp file, then rename), as
``review: {label, by, at}``; ``station archive export --reviewed-only`` turns the labelled parts
into a training folder. Changing data over HTTP needs protection: review is off unless
``review.token_file`` is set, and every request must carry that token (``X-Review-Token``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import structlog

from station.archive_layout import CROP, DAY, HEAT, KIND, LABELS, PART, STATION_LABELLER, Label, atomic_write, read_sidecar, sidecars
from station.config import Config, ReviewSection
from station.errors import ConfigError, InputError
from station.files import read_bounded, why
from station.keys import credential, credential_hint, warn_if_others_read
from station.metrics import Metrics
from station.wire import Disposition

MIN_TOKEN = 16  # characters: a token shorter than this is refused at start
MIN_KINDS = 4  # different characters in it at least (a random 16-digit token has fewer than 8 one time in four)
MAX_TOKEN_FILE = 4096  # bytes: a token is one word
_ID = re.compile(rf"{DAY}/({KIND})/{PART}")  # as the archive names a part
_WHO = re.compile(r"[\w .@'-]{1,64}")  # both matched whole (fullmatch: no newline after the end)
log = structlog.get_logger()


def load_token(cfg: Config, warn: bool = True) -> str | None:
    """The review token from ``review.token_file`` (under systemd, a credential of the file's own name in its place: the
    service's dynamic user cannot read a file only root may read), or None when review is off; ConfigError naming the key.
    ``warn``: say when others may read the file (once a start: the command line checks it first, then the pipeline reads
    it again)."""
    if cfg.review.token_file is None:
        return None
    if cfg.archive.dir is None:
        raise ConfigError("review.token_file", "review labels archived parts: set archive.dir too")
    path = credential(cfg.review.token_file, "review.token_file")  # under systemd, its copy (LoadCredential), as a key's
    try:
        token = read_bounded(path, MAX_TOKEN_FILE, "a token file").decode("utf-8").strip()
    except OSError as exc:
        raise ConfigError("review.token_file", f"{path}: {why(exc, 'cannot read')}{credential_hint(exc, path)}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("review.token_file", f"{path}: not text (UTF-8): byte {exc.start} cannot be read") from None
    if len(token) < MIN_TOKEN or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise ConfigError(
            "review.token_file", f"{path}: the token must be one word of at least {MIN_TOKEN} printable ASCII characters (an HTTP header)"
        )
    if len(set(token)) < MIN_KINDS:  # 'aaaaaaaaaaaaaaaa', '1212121212121212': guessed in a few tries
        raise ConfigError("review.token_file", f"{path}: the token has fewer than {MIN_KINDS} different characters, which is "
                          "guessable: make one with python3 -c 'import secrets; print(secrets.token_urlsafe(24))'")  # fmt: skip
    if warn:
        warn_if_others_read(path, "review.token_file", "review_token_readable")
    return token


MAX_ARCHIVED_IMAGE = 64 << 20  # bytes: a 1920 x 1080 frame's PNG is about 2 MB, a noisy 20 MP frame's 10 (a larger one is
# not served: "no crop image")


class Review:
    """The archive seen for review: listing, images and labels; the HTTP handler's only door to it."""

    def __init__(self, root: Path, token: str, metrics: Metrics, recent: int = ReviewSection.model_fields["recent"].default) -> None:
        self.root = root
        self._token = token
        self.metrics = metrics
        self.recent = recent
        self._named: set[Path] = set()  # sidecars the listing cannot read, each logged once
        self._read: dict[Path, tuple[tuple[int, int, int], dict[str, Any] | None]] = {}  # each sidecar's entry, as last read
        self._reading = threading.Lock()  # one listing at a time (each web request has its thread) keeps _read whole
        self._labelling = threading.Lock()

    def allowed(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self._token.encode())

    def _side(self, item: str) -> Path:
        if not _ID.fullmatch(item):
            raise InputError(f"id {item[:80]!r} is not an archived part")
        side = self.root / f"{item}.json"
        if not side.is_file() or any(p.is_symlink() for p in (side, side.parent, side.parent.parent)):  # never out of the archive
            raise InputError(f"id {item}: no such archived part (deleted by the archive's quota?)")
        return side

    def items(self, passes: bool = False) -> list[dict[str, Any]]:
        """The newest archived rejects and disagreements, newest first, as the page shows them; with ``passes``, the
        archived passes too (a trial run with ``archive.pass_sample: 1``, whose good parts a person confirms as well).
        A sidecar is read again only when it changed (a trial run leaves tens of thousands: each page poll read them all)."""
        sides: list[tuple[float, Path, tuple[int, int, int]]] = []
        for side in sidecars(self.root):
            try:
                st = side.stat(follow_symlinks=False)
            except OSError:
                continue  # deleted meanwhile by the quota
            sides.append((st.st_mtime, side, (st.st_ino, st.st_ctime_ns, st.st_size)))  # a label replaces it: ctime moves
        seen = {side for _, side, _ in sides}
        out: list[dict[str, Any]] = []
        with self._reading:
            for gone in [p for p in self._read if p not in seen]:  # the quota deleted them: held no longer
                del self._read[gone]
            for _, side, version in sorted(sides, key=lambda s: (s[0], s[1]), reverse=True):
                entry = self._entry(side, version)
                if entry is None or (not passes and entry["verdict"] != Disposition.REJECT and not entry["disagreement"]):
                    continue
                out.append(entry)
                if len(out) >= self.recent:
                    break
        return out

    def _entry(self, side: Path, version: tuple[int, int, int]) -> dict[str, Any] | None:
        """The page's entry for one sidecar, read when it is new or changed since (``version``: its inode, change time and
        size: a label sets the modification time back, never the change time); None
        when it is no sidecar the archive wrote (named once in the log)."""
        held = self._read.get(side)
        if held is not None and held[0] == version:
            return held[1]
        try:
            meta = read_sidecar(side)
        except ValueError as exc:  # not listed; named once in the log, unless the quota deleted it meanwhile
            if side.exists() and side not in self._named:
                self._named.add(side)
                log.warning("review_sidecar_unreadable", stage="review", why=f"{side}: {exc}")
            self._read[side] = (version, None)
            return None
        shadow = meta.get("shadow")
        disagree = isinstance(shadow, dict) and shadow.get("verdict") != meta.get("verdict")
        item = side.relative_to(self.root).with_suffix("").as_posix()
        keep = ("part_id", "verdict", "reason", "score", "where", "shadow", "review", "captured_at", "model")
        heat = side.with_suffix(HEAT).exists()
        entry = {"id": item, "disagreement": disagree, "heat": heat, **{k: meta.get(k) for k in keep}}
        self._read[side] = (version, entry)
        return entry

    def image(self, item: str, kind: str) -> bytes:
        """The part's crop (``crop``) or heat map (``heat``), PNG bytes."""
        side = self._side(item)
        path = side.with_suffix(CROP) if kind == "crop" else side.with_suffix(HEAT) if kind == "heat" else None
        if path is None:
            raise InputError(f"kind {kind[:20]!r} is not crop or heat")
        try:  # a regular file the archive wrote: never a pipe (it would hold this thread), a link out of it, a huge file
            return read_bounded(path, MAX_ARCHIVED_IMAGE, "an archived image", follow=False)
        except OSError:
            raise InputError(f"id {item}: no {kind} image") from None

    def label(self, item: str, label: str, who: str, now: float) -> dict[str, Any]:
        """Write the operator's label into the part's sidecar, atomically; the sidecar as written."""
        if label not in LABELS:
            raise InputError(f"label {label[:20]!r} is not {Label.DEFECT} or {Label.GOOD}")
        if not _WHO.fullmatch(who) or not who.strip():
            raise InputError("who: a name of 1-64 letters, digits, spaces or .@'-")
        if who.strip().lower() == STATION_LABELLER:  # an export tells the station's own verdicts by their label_by
            raise InputError(f"who: '{STATION_LABELLER}' is how an export names the station's own verdicts; give the person's name")
        with self._labelling:  # two at once: each read the sidecar before either wrote, and one label was lost
            return self._label(self._side(item), item, label, who, now)

    def _label(self, side: Path, item: str, label: str, who: str, now: float) -> dict[str, Any]:
        crop = side.with_suffix(CROP)
        try:
            meta = read_sidecar(side)
            archived = side.stat().st_mtime
        except (ValueError, OSError) as exc:
            raise InputError(f"id {item}: its sidecar cannot be labelled: {getattr(exc, 'strerror', None) or exc}") from None
        if not crop.is_file():
            raise InputError(f"id {item}: no crop beside its sidecar: nothing an operator could have judged")
        before = meta.get("review")
        meta["review"] = {"label": label, "by": who, "at": round(now, 3)}
        atomic_write(side, json.dumps(meta, indent=1).encode())
        with contextlib.suppress(OSError):  # the part keeps its place in the listing (newest archived first) and its age
            os.utime(side, (archived, archived))
        if not crop.is_file():  # the quota deleted the part while it was labelled: its sidecar goes too, as the quota meant
            side.unlink(missing_ok=True)
            raise InputError(f"id {item}: no such archived part (deleted by the archive's quota?)")
        if isinstance(before, dict) and before.get("label") == label:  # the same label again (a second click, two operators)
            return meta
        self.metrics.reviewed.inc()
        if (label == Label.GOOD) == (meta.get("verdict") == Disposition.REJECT):
            self.metrics.review_overruled.inc()
        return meta
