"""The reject archive: every rejected part (and a sample of passes) on disk, for review and retraining.

Layout: ``DIR/YYYY-MM-DD/{reject,pass}/<run>-<part>.png`` (the part's crop, grey, unmodified
pixels) with a sidecar ``.json`` (verdict, reason, score, model, config hash, times, circle, where,
blob, shadow), a heat map ``.heat.png`` for a ``defect`` or ``uncertain`` reject (the model's crop with the
network's evidence over it, station.evidence), and the full frame as ``.frame.png`` when
``archive.full_frame`` is on. A shadow disagreement is kept whatever ``archive.pass_sample`` says. Writes are atomic (temp file, then
rename) and happen on the archive's own thread, fed by a bounded queue that drops (and counts)
when full, so the hot path never waits for the disk. A quota by bytes and by age deletes the
oldest passes first, then the oldest rejects. A full or read-only disk moves an error counter and
makes /healthz say "degraded"; inspection goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from station.archive_layout import CROP, DAY, FRAME, HEAT, KIND, PART, SIDECAR, SUFFIXES, atomic_write, kind_folders, split_name
from station.config import ArchiveSection
from station.errors import ConfigError
from station.files import hold_folder
from station.imagesize import png_bytes
from station.locate import u8
from station.messages import Verdict
from station.metrics import Metrics
from station.stages.base import Worker
from station.wire import Disposition, VerdictMessage

log = structlog.get_logger()


@dataclass(frozen=True)
class _Item:
    verdict: Verdict
    msg: VerdictMessage


@dataclass
class _Entry:
    mtime: float
    size: int
    stem: Path  # path without suffix; the entry is its files of SUFFIXES
    kind: str


CROP_MARGIN = 0.12  # an archived crop is the part's circle grown by this share, centred (station teach reads exports so)


def crop_of(v: Verdict, margin: float = CROP_MARGIN) -> Any:
    """The part's square around its circle; where it was not located, around the trigger's blob (line mode) or the
    whole frame (a frame is a part)."""
    assert v.image is not None
    img = u8(v.image)
    if v.circle is not None:
        cx, cy, r = v.circle.cx, v.circle.cy, v.circle.r
    elif v.blob is not None:
        cx, cy, r = v.blob[0], v.blob[1], v.blob[2] / 2
    else:
        return img
    r *= 1 + margin
    h, w = img.shape
    x0, y0 = max(0, int(cx - r)), max(0, int(cy - r))
    x1, y1 = min(w, int(cx + r) + 1), min(h, int(cy + r) + 1)
    return img[y0:y1, x0:x1]


def probe(root: Path, key: str = "archive.dir") -> None:
    """Refuse an archive folder that cannot be written, before anything starts (run and check-config alike).

    The folder, or its nearest existing parent when it is not made yet (the archive makes it on
    its first write; a check makes nothing), must be a folder, writable by mode (the service runs
    as an unprivileged user: root would write past a read-only mode and hide the problem until the
    line runs) and, when it exists, take a file.
    """
    here = root
    try:
        while not here.exists() and here != here.parent:
            here = here.parent
        if not here.is_dir():
            raise ConfigError(key, f"{root}: {here} is not a folder")
        if not here.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(here, os.W_OK):
            raise ConfigError(key, f"{root}: {'the folder' if here == root else here} is read-only")
        if here == root:
            fd, name = tempfile.mkstemp(prefix=".probe-", dir=root)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        raise ConfigError(key, f"{root}: cannot write there: {exc.strerror or exc}") from None


class Archive(Worker):
    """``submit()`` from the publish stage; writing, quota and errors on this thread."""

    def __init__(self, cfg: ArchiveSection, metrics: Metrics, run_id: str, config_hash: str) -> None:
        assert cfg.dir is not None
        self.cfg = cfg
        self.root = cfg.dir
        self.metrics = metrics
        self.run_id = run_id
        self.config_hash = config_hash
        self.failing: str | None = None
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=cfg.queue_size)
        self._rng = random.Random(0)
        self._entries: list[_Entry] = []
        self._bytes = 0
        with contextlib.suppress(OSError):  # one that cannot be made is said by the first write
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._hold = hold_folder(self.root)  # the quota counts this process's parts: a second writer would double it
        except BlockingIOError:
            raise ConfigError("archive.dir", f"{self.root}: another station archives into this folder (each keeps its own "
                              "archive.max_bytes there); give each station a folder of its own") from None  # fmt: skip
        super().__init__("archive")

    def release(self) -> None:
        """Let go of the folder (the thread's end, or a start-up that failed after the archive was made)."""
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None

    def _finish(self) -> None:
        self.release()

    def submit(self, v: Verdict, msg: VerdictMessage) -> None:
        """Queue a verdict for the archive if it is kept (all rejects and shadow disagreements, a sample of passes); never blocks."""
        if v.image is None or not v.image.size:
            return
        disagree = v.shadow is not None and v.shadow.verdict != v.verdict
        if v.verdict is Disposition.PASS and not disagree and self._rng.random() >= self.cfg.pass_sample:
            return
        try:
            self._queue.put_nowait(_Item(v, msg))
        except queue.Full:
            self.metrics.archive_dropped.inc()

    def drain(self, timeout_s: float) -> None:
        """Write what is queued, then end the thread; past ``timeout_s`` the rest is abandoned (logged).

        The end marker goes behind the queued parts and the thread ends when it reaches it: stopping
        it at once would abandon whatever it had not yet written.
        """
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(queue.Full):  # still full at the deadline: the thread is found busy below
            self._queue.put(None, timeout=timeout_s)
        self.join(max(0.0, deadline - time.monotonic()))
        if self.is_alive():
            log.error("archive_drain_timed_out", stage="archive", queued=self._queue.qsize())
            self.stop()
            self.join(1.0)

    def _run(self) -> None:
        self._scan()
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is None:
                return
            try:
                self._write(item)
                self._enforce_quota()
            except Exception as exc:  # the archive is not the line: a bug or a codec error degrades, never stops inspection
                self.metrics.archive_errors.inc()
                self.failing = f"{type(exc).__name__}: {exc}"
                log.error("archive_failing", stage="archive", error=self.failing)

    def _fail(self, what: str, exc: OSError) -> None:
        self.metrics.archive_errors.inc()
        why = f"{what}: {exc.strerror or exc}"
        if self.failing != why:
            log.error("archive_failing", stage="archive", error=why)
        self.failing = why

    def _delete(self, stem: Path) -> None:
        """An archived part's files (those the archive writes: nothing else a name starts with), its sidecar last (a review
        label racing this sees its crop go first), and only when the rest went: a crop left without its sidecar would be
        out of every later count of the archive."""
        files = [f for suffix in SUFFIXES if os.path.lexists(f := stem.with_name(stem.name + suffix))]
        for i, p in enumerate(files):
            if p.name.endswith(SIDECAR) and any(f.exists() for f in files[:i]):
                return
            try:
                p.unlink(missing_ok=True)  # a review label may have removed the sidecar meanwhile
            except OSError as exc:
                self._fail(f"deleting {p}", exc)

    def _write(self, item: _Item) -> None:
        v, msg = item.verdict, item.msg
        kind = v.verdict
        day = datetime.fromtimestamp(v.captured_at, tz=UTC).strftime("%Y-%m-%d")
        stem = self.root / day / kind / f"{self.run_id}-{v.part_id:07d}"
        body = msg.body()
        keep = ("part_id", "frame", "verdict", "reason", "score", "detail", "model", "captured_at", "circle", "where")
        side = {k: body.get(k) for k in keep}
        side["blob"] = None if v.blob is None else [round(x, 1) for x in v.blob]  # where the trigger saw it (line mode)
        if "shadow" in body:  # both models' verdicts and scores; a disagreement is archived whatever the pass sample
            side["shadow"] = body["shadow"]
        side.update({"run_id": self.run_id, "config": self.config_hash, "archived_at": time.time(), "image": v.name})
        assert v.image is not None  # submit() keeps only verdicts with their frame
        files = [(stem.with_suffix(CROP), crop_of(v))]
        if self.cfg.full_frame:
            files.append((stem.with_suffix(FRAME), u8(v.image)))
        if v.evidence is not None and v.circle is not None:  # a defect or uncertain reject: where the network saw it
            files.append((stem.with_suffix(HEAT), v.evidence.picture(u8(v.image), v.circle)))
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            for path, img in files:
                png = png_bytes(img, path.name)  # a picture OpenCV cannot encode: the whole entry is not written
                atomic_write(path, png)
                size += len(png)
            data = json.dumps(side, indent=1).encode()
            atomic_write(stem.with_suffix(SIDECAR), data)  # last: a sidecar means the entry is whole
        except OSError as exc:
            self._fail(f"writing {stem}", exc)
            for path, _ in files:  # without its sidecar, no count of the archive would ever see (or delete) it
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            return
        self.failing = None
        self.metrics.archive_writes.labels(kind=kind).inc()
        self._add(_Entry(time.time(), size + len(data), stem, kind))

    def _add(self, e: _Entry) -> None:
        self._entries.append(e)
        self._bytes += e.size
        self.metrics.archive_bytes.set(self._bytes)

    def _scan(self) -> None:
        """Index what an earlier run left, so the quota covers it too: each folder listed once (a trial run leaves tens of
        thousands of parts; a listing per part took minutes, the archive writing nothing meanwhile)."""
        for folder in kind_folders(self.root):
            if not (re.fullmatch(DAY, folder.parent.name) and re.fullmatch(KIND, folder.name)):
                continue  # no folder the archive writes: its files are never the quota's to delete
            sizes: dict[str, int] = {}
            sides: dict[str, float] = {}
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for e in entries:
                stem, suffix = split_name(e.name)
                try:
                    if suffix is None or not re.fullmatch(PART, stem) or not e.is_file(follow_symlinks=False):
                        continue
                    st = e.stat(follow_symlinks=False)
                except OSError:  # gone since the listing (a review label's rename): the rest of the folder still counts
                    continue
                sizes[stem] = sizes.get(stem, 0) + st.st_size
                if suffix == SIDECAR:
                    sides[stem] = st.st_mtime
            for stem, mtime in sides.items():
                self._add(_Entry(mtime, sizes[stem], folder / stem, folder.name))
        self._entries.sort(key=lambda e: e.mtime)

    def _enforce_quota(self) -> None:
        max_age = self.cfg.max_age_days * 86400.0
        now = time.time()
        while self._entries and (self._bytes > self.cfg.max_bytes or now - self._entries[0].mtime > max_age):
            over_age = now - self._entries[0].mtime > max_age
            passes = [e for e in self._entries if e.kind == Disposition.PASS]
            victim = self._entries[0] if over_age or not passes else passes[0]
            self._delete(victim.stem)
            self._entries.remove(victim)
            self._bytes -= victim.size
        self.metrics.archive_bytes.set(self._bytes)
