"""The line's parts as teaching keeps them: each :class:`Sample` it may learn from, each :class:`Refused` part it may not,
and the :class:`Collection` of both, which says whether they can teach a line at all (before any network learns)."""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from station.errors import InputError
from station.locate import Circle, GrayImage
from station.teach.threshold import ADVISED, MIN_PER_CLASS, meets, shown

TRIGGER_CHECK = (
    "(trigger.direction first, then min_diameter_px, max_diameter_px and contrast) in the config given with -c, "
    "the default config if none was, with station eval VIDEO -c CONFIG: it lists the parts missed"
)
FRAMING = 0.2  # more of the parts than this not inspectable: a framing or light problem, not a model one
MISSED = "missed by the trigger"  # a footage part whose row no trigger fired for
NOWHERE = "located nowhere on the line"  # an exported crop of a part the station never located (a box round it)
FAILED = "error"  # the station's checks failed on it: the line would reject it, error
HELD_SHARE = 0.5  # of the memory free as teaching begins, what the parts' images may take (the networks and batches need the rest)


def free_memory() -> int | None:
    """Bytes of memory the system could give now (Linux's MemAvailable, else its free pages); None where it cannot say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def footage_part(video: Path, part_id: int, frame: int) -> str:
    """A footage part's origin: the video, the trigger's part id and the frame it fired on."""
    return f"{video}#part{part_id}@frame{frame}"


def footage_row(video: Path, row: int) -> str:
    """The origin of a ground-truth row no part was found for (1-based)."""
    return f"{video}#row{row}"


def from_footage(origin: str) -> bool:
    """The origin is a footage part's or row's (:func:`footage_part`, :func:`footage_row`), not a photo file's."""
    return _FOOTAGE.search(origin) is not None


_FOOTAGE = re.compile(r"#(part[0-9]+@frame[0-9]+|row[0-9]+)$")


@dataclass(frozen=True)
class Sample:
    """One labelled part as the station located it: the grey image, the part's circle, the label (1 = defective)."""

    image: GrayImage
    circle: Circle
    label: int
    origin: str  # the file, or VIDEO#part
    base_inspects: bool = True  # False: the base model's own checks refuse it (e.g. off_centre), the taught model's do not
    part: str = ""  # which part it is, where known: a photo's file name, a footage row's source (groups keep one together)
    view: str = ""  # a footage part's frame and blob (preprocess.view_digest), by which eval knows it again
    seen_as: str = ""  # a footage part: its frame's own pixels round it (part_digest), by which eval also knows it again


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


@dataclass(frozen=True)
class Refused:
    """A labelled part the station could not inspect, with its reason (never used for teaching).

    ``kind`` is one of a fixed list (the line's :class:`~station.messages.Cause` and :class:`~station.preprocess.Quality`,
    and teaching's own: :data:`MISSED`, :data:`NOWHERE`, :data:`FAILED`, an export's), so that parts refused for one
    reason count together; ``why`` is the whole reason, with this part's particulars (a size, a file), for the listing.
    """

    origin: str
    label: int
    why: str
    kind: str
    unreadable: bool = False  # the file is no image the station can read: not a part it failed to inspect


@dataclass
class Collection:
    samples: list[Sample] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what else was found and not used (unlabelled review/ crops, stray files)
    pieces: list[bytes] = field(default_factory=list)  # each file's own digest, for :meth:`fingerprint`
    seen: dict[bytes, tuple[str, int]] = field(default_factory=dict)  # each photo's content -> where it was first met, its label
    copies: list[tuple[str, str]] = field(default_factory=list)  # (a photo, the photo it is an exact copy of): used once
    videos: dict[bytes, tuple[str, list[tuple[int, int, int]]]] = field(default_factory=dict)  # content -> first path, its truth
    budget: int | None = field(default_factory=lambda: None if (n := free_memory()) is None else int(n * HELD_SHARE))
    held: int = 0  # bytes of the samples' images

    def read(self, *what: bytes) -> None:
        """A file read: a photo's label and pixels, or a video's content and its ground truth's, into the fingerprint."""
        self.pieces.append(hashlib.sha256(b"\0".join(hashlib.sha256(w).digest() for w in what)).digest())

    def fingerprint(self) -> str:
        """What was read, whatever the order the sources were given in: each file's own digest, sorted, hashed."""
        return hashlib.sha256(b"".join(sorted(self.pieces))).hexdigest()

    def hold(self, sample: Sample) -> None:
        """``sample`` kept to learn from; InputError naming it when its image would take the images held past ``budget``
        (a photo is held whole: a few of 1 Gpixel would have the system kill teaching without a word)."""
        if self.budget is not None and self.held + sample.image.nbytes > self.budget:
            h, w = sample.image.shape[:2]
            raise InputError(
                f"{sample.origin}: teaching holds each part's image whole, and this one ({w} x {h}) would take the "
                f"{len(self.samples)} held so far past {_size(self.budget)}, {HELD_SHARE:.0%} of the memory free as "
                "it began: teach from an archive export's crops (station archive export), or photos cut round their parts"
            )
        self.held += sample.image.nbytes
        self.samples.append(sample)

    def listed(self) -> dict[str, Any]:
        """What the report lists beside the figures: every part not inspected, every exact copy used once, the notes."""
        return {"not_inspectable": [asdict(r) for r in self.refused], "copies": [{"photo": c, "copy_of": f} for c, f in self.copies],
                "notes": self.notes}  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Parts learnt from, by label; parts the station could not inspect; files that are no image it can read (a file
        problem, never a part the line will show it)."""
        n_def, unreadable = sum(s.label for s in self.samples), sum(r.unreadable for r in self.refused)
        return {"ok": len(self.samples) - n_def, "defective": n_def, "not_inspectable": len(self.refused) - unreadable,
                "unreadable": unreadable}  # fmt: skip

    def unteachable(self, max_escape_rate: float = 0.0) -> list[str]:
        """Why these parts cannot teach a line at all, known before any network learns (too few of a class, too many the
        station cannot inspect, defective footage parts the trigger missed), each with what would help; empty when they can."""
        c, why = self.counts(), self._missed_defects(max_escape_rate)
        if c["ok"] < MIN_PER_CLASS or c["defective"] < MIN_PER_CLASS:
            why.append(f"too few inspectable parts ({c['ok']} good, {c['defective']} defective): collect at least {MIN_PER_CLASS} "
                       f"of each, {ADVISED} of each for a model you can trust")  # fmt: skip
        total = len(self.samples) + len(self.refused)
        if len(self.refused) > FRAMING * total:
            reason, n = Counter(r.kind for r in self.refused).most_common(1)[0]
            hint = (f" For footage, check the trigger settings {TRIGGER_CHECK}: its parts went by uncounted" if reason == MISSED
                    else "")  # fmt: skip
            files = any(r.unreadable for r in self.refused if r.kind == reason)
            check = ("a file problem, not a model one. Check that each file is a photo of one part" if files else
                     "a framing or light problem, not a model one. Check that each part is whole in view, sharp, and neither washed "
                     "out nor dark")  # fmt: skip
            why.append(
                f"{len(self.refused)} of the {total} parts ({len(self.refused) / total:.1%}, allowed {FRAMING:.0%}) could not be "
                f"inspected or read, most of them ({n}) {reason}: {check} (every part and its reason: the report's "
                f"not_inspectable).{hint}"
            )
        return why

    def _missed_defects(self, max_escape_rate: float) -> list[str]:
        """Defective footage parts the trigger fired for none of: on the line they get no verdict, so they pass whatever the
        model; more of them than the gate lets pass (of the footage's defective parts) is a trigger problem."""
        _, missed = self.refused_by_label(missed=True)
        if not missed:
            return []
        parts: list[Sample | Refused] = [*self.samples, *self.refused]
        defective = sum(p.label for p in parts if from_footage(p.origin))
        if meets(missed / defective, max_escape_rate):
            return []
        rate = shown(missed / defective, max_escape_rate)
        return [f"{missed} of the footage's {defective} defective parts got no verdict, the trigger never firing for them ({rate}; "
                f"the report's not_inspectable names them, '{MISSED}'): on the line such a defect passes whatever the model. "
                f"Check the trigger settings {TRIGGER_CHECK}, then teach again"]  # fmt: skip

    def refused_by_label(self, missed: bool = False) -> tuple[int, int]:
        """(good, defective) parts that could not be inspected: rejects that were never scored (a file no image can be read
        from is none: the line never shows the station a file). With ``missed``, instead the footage parts no trigger fired
        for: on the line they get no verdict, so no reject either."""
        mine = [r for r in self.refused if (r.why == MISSED) == missed and not r.unreadable]
        n_def = sum(r.label for r in mine)
        return len(mine) - n_def, n_def
