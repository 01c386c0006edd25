"""The line's labelled parts, found the way the station finds them: photos, footage, archive exports.

A SOURCE is a labelled folder (``ok_front/`` and ``def_front/``; ``station archive export`` writes
one), or a video with its ground-truth CSV beside it (``VIDEO.csv`` or ``VIDEO.EXT.csv``: one row a part,
``part,label,first_frame,last_frame,source``, read by :mod:`station.teach.truth`). Every part goes through the station's own locator: for a
video, the same trigger (``trigger.mode``) and preprocess stage as ``replay``. A part the station cannot locate
or inspect is never used and never dropped silently: it is a :class:`Refused` with the station's
own reason, and the teaching report counts them.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from station.config import Config, Direction
from station.errors import InputError
from station.files import ground_truths, misnamed, no_ground_truth, not_there, real
from station.locate import OFF_CENTRE, Circle, GrayImage, asymmetry, ellipse_of
from station.messages import Cause, Frame, Part
from station.preprocess import (
    Preprocessed,
    PreprocessSpec,
    Quality,
    part_digest,
    part_region,
    pixels_digest,
    preprocess,
    rectifying,
    to_gray,
    view_digest,
)
from station.sources import VideoFileSource
from station.stages.preprocess import located, preprocess_part
from station.stages.trigger import probe_recording, trigger_for
from station.stills import LABELLED, beside_labels, files_below, read_image
from station.teach import exported
from station.teach.parts import FAILED, MISSED, NOWHERE, Collection, Refused, Sample, footage_part, footage_row
from station.teach.truth import all_after_the_end, fitted_speed, frame_a_part, part_names, read_truth, renumbered, row_for, truth_csv
from station.travel import TravelWatch

CHECKS_FAILED = "error: the station's checks failed on it"  # a part no preprocess could judge: the line would reject it, error
SEARCHED = (Quality.NO_PART, Quality.OUTLINE_MISMATCH)  # what the search itself decides: the same for a taught model's search


def as_taught(pre: Preprocessed | None, judge: Callable[[Circle], Preprocessed]) -> Preprocessed | None:
    """``pre`` (the round search's: its circle is what a sample keeps) with the quality ``judge`` gives, the taught model's
    checks from that circle (it fits an ellipse first): whether a part can be inspected is the taught model's to say, as
    on its line. A tilted part's ellipse seen as a circle is off its centre, and its exposure is judged on another crop.
    What the search decides (no part, an inner ring: SEARCHED) stands, as a ``found`` circle skips those checks. A
    judge that fails gives None: the part is not taught (on the line the taught model would reject it, ``error``), and
    one part does not stop teaching."""
    if pre is None or pre.circle is None or pre.quality in SEARCHED:
        return pre
    try:
        taught = judge(pre.circle)
    except Exception:  # as the preprocess stage: one bad part is that part's refusal, never a stop
        return None
    return replace(pre, quality=taught.quality)


def rectified(col: Collection) -> list[Sample]:
    """``col``'s parts with each rim fitted as an ellipse where it is one: as a model that rectifies locates them. A part
    that does not look the same all round its ellipse, which that model would refuse (OFF_CENTRE), moves from
    ``col.samples`` to ``col.refused``: the list returned and ``col.samples`` stay the same parts in the same order.
    :func:`as_taught` judged each part on this fit already; the check here holds where the fit differs from the one it
    judged (a footage part is judged in the trigger's cut-out of its frame, fitted here in ``part_region``)."""
    kept: list[tuple[Sample, Sample]] = []
    for s in col.samples:
        fitted = replace(s, circle=ellipse_of(s.image, s.circle))
        if fitted.circle != s.circle and not asymmetry(s.image, fitted.circle) <= OFF_CENTRE:
            why = f"{Quality.OFF_CENTRE.value} (about the ellipse its rim fits)"
            col.refused.append(Refused(s.origin, s.label, why, Quality.OFF_CENTRE))
        else:
            kept.append((s, fitted))
    col.samples = [s for s, _ in kept]
    return [f for _, f in kept]


def read_by(src: Path) -> list[Path]:
    """What teaching reads of a SOURCE: a labelled folder's label folders, labels.csv and review/; a video and its ground
    truth. The rest of a labelled folder (a report, the taught model) is never read."""
    if src.is_dir():
        return [src / name for name in (*LABELLED, "labels.csv", "review")]
    return [src, *ground_truths(src)]


def collect(sources: list[Path], spec: PreprocessSpec, cfg: Config) -> Collection:
    """Every labelled part in ``sources``, located as a model with ``spec`` but no rectification would locate it
    (:func:`rectified` adds that); InputError naming the first source that is none of the kinds."""
    spec = replace(spec, rectify=False)
    col = Collection()
    given: dict[Path, Path] = {}
    for src in sources:
        if src.is_dir():  # a video given twice: its content says so
            key = real(src)
            if key in given:  # by the same path or another
                col.notes.append(f"{src}: the same folder as {given[key]}, used once")
                continue
            given[key] = src
        if src.is_dir() and any((src / sub).is_dir() for sub in LABELLED):
            had = len(col.samples) + len(col.refused) + len(col.copies)
            _folder(src, spec, col)
            if len(col.samples) + len(col.refused) + len(col.copies) == had:  # given to teach from, so never passed over silently
                raise InputError(f"{src}: no photo in {' or '.join(f'{sub}/' for sub in LABELLED)}: nothing to teach from")
        elif src.is_file() and truth_csv(src) is not None:
            _video(src, spec, cfg, col)
        elif src.is_file():
            raise InputError(no_ground_truth(src))
        elif src.is_dir():
            raise InputError(f"{src}: not a labelled folder (expected ok_front/ and def_front/ in it)")
        elif src.exists():
            raise InputError(f"{src}: not a regular file or folder (a pipe or a device is no video to teach from)")
        else:
            raise InputError(f"{src}: {not_there(src)}")
    if col.copies:
        copy, first = col.copies[0]
        n = len(col.copies)
        what = "photos are exact copies of others and were" if n > 1 else "photo is an exact copy of another and was"
        col.notes.append(f"{n} {what} used once (the first: {copy} = {first}; every one: the report's copies)")
    return col


def _folder(root: Path, spec: PreprocessSpec, col: Collection) -> None:
    labels = exported.read_labels(root) if os.path.lexists(root / "labels.csv") else None  # an export (a link that leads nowhere: named)
    met: set[str] = set()
    changed: list[str] = []
    read: list[str] = []  # the names of the files read, for labels.csv
    review = root / "review"
    if review.is_dir():  # an export's, or one made by hand: named, never taught
        n = sum(1 for p in review.iterdir() if p.is_file())
        if n:
            col.notes.append(f"{review}: {n} crops not used (unlabelled: move each into ok_front/ or def_front/ to teach with it)")
    for sub, label in LABELLED.items():
        d = root / sub
        if d.exists() and not d.is_dir():
            raise InputError(f"{d}: not a folder (the {'defective' if label else 'good'} parts go in a folder of that name)")
        if not d.is_dir():
            col.notes.append(f"{d}: missing, so no {'defective' if label else 'good'} parts from {root}{misnamed(root, sub)}")
            continue
        for p in _photos(d, label, col):
            grab = read_image(p)
            read.append(p.name)
            if grab.image is None:
                col.refused.append(Refused(str(p), label, (grab.error or "unreadable").removeprefix(f"{p}: "), Cause.UNREADABLE, True))
                continue
            content = pixels_digest(grab.image)
            first = col.seen.setdefault(content, here := (str(p), label))
            if first is not here and first[1] == label:  # an exact copy of a photo met before: used once
                col.copies.append((str(p), first[0]))
                continue
            col.read(b"%d" % label, content)  # a photo's label and pixels, not its name: a copy met first elsewhere is the same
            rel = p.relative_to(root).as_posix()
            if _add(grab.image, label, p, spec, col, labels, changed):
                met.add(rel)
            if first[1] != label and any(s.origin in (str(p), first[0]) for s in col.samples):  # a copy taught: a label is wrong
                kind = ("good", "defective")
                raise InputError(
                    f"{p}: the same photo as {first[0]}, which is labelled {kind[first[1]]}, but here {kind[label]}: fix a label"
                )
    col.notes += [note for note in (labels.unlisted(read), labels.unchecked(met)) if note] if labels is not None else []
    col.notes += [note for note in (beside_labels(root, ("review", "labels.csv")),) if note]
    if changed:
        col.notes.append(f"{len(changed)} files differ from the crops the export wrote under their names (the first: "
                         f"{changed[0]}): each was read as a photo, its part located afresh")  # fmt: skip


def _photos(d: Path, label: int, col: Collection) -> list[Path]:
    """The files to read in a labelled folder and the folders below it (as ``station eval`` reads them); the rest named in notes.

    A folder below it that cannot be listed is an InputError, as the labelled folder itself is: its
    parts would be missing from the line without a word.
    """
    found = files_below(d, strict=True)  # the folder itself too, even when it is a link to one that cannot be listed
    col.notes += [f"{why}, not used" for _, why in found if why]
    photos = [p for p, why in found if why is None]
    below = Counter(p.parent for p in photos if p.parent != d)
    kind = "defective" if label else "good"
    col.notes += [f"{folder}: {n} photos, taught as {kind} parts like those in {d.name}/" for folder, n in below.items()]
    return photos


def _add(image: GrayImage, label: int, path: Path, spec: PreprocessSpec, col: Collection, labels: exported.Labels | None,
         changed: list[str]) -> bool:  # fmt: skip
    """One image, as the station would locate and inspect its part (True: a part to learn from, False: refused); ``labels``:
    an export's (its crops are centred on their parts); ``changed`` gets each file that is not the crop it wrote."""
    origin = str(path)
    reason = labels.reasons.get(path.name) if labels is not None else None  # a file the export did not write: a photo
    written = labels.as_written(path) if labels is not None and reason is not None else None
    if written is False:
        changed.append(origin)
        reason = None
    elif labels is not None and path.name in labels.nowhere:  # a late or failed part's box, moved out of review/
        col.refused.append(Refused(origin, label, f"{NOWHERE} (its crop is a box round it, not its rim)", NOWHERE))
        return False
    base: Preprocessed | None
    if reason is None:
        base, why = preprocess(image, spec), ""
    else:  # an export's crop: on the circle it was centred on
        base, why = exported.inspect(image, spec, reason, written)
    pre = as_taught(base, lambda c: preprocess(image, rectifying(spec), found=c))  # a photo's and an export's alike
    inspects = base is not None and base.quality is Quality.OK
    if pre is None or pre.quality is not Quality.OK or pre.circle is None:  # None: an export's crop and why, or checks that failed
        why, kind = (pre.quality.value, pre.quality) if pre is not None else (why, why) if why else (CHECKS_FAILED, FAILED)
        col.refused.append(Refused(origin, label, why, kind))
        return False
    col.hold(Sample(image, pre.circle, label, origin, inspects, path.name))
    return True


def _video(video: Path, spec: PreprocessSpec, cfg: Config, col: Collection) -> None:
    """The parts the trigger fires on (as ``replay`` would), each matched to its ground-truth row by position."""
    truth_path = truth_csv(video)
    assert truth_path is not None
    truth, raw = read_truth(truth_path)
    frame_a_part(truth_path, truth, cfg)
    names = part_names(raw)
    try:
        with video.open("rb") as f:
            content = hashlib.file_digest(f, "sha256").digest()
    except OSError as exc:
        raise InputError(f"{video}: cannot read the video: {exc.strerror or exc}") from None
    if content in col.videos:
        first, its_truth = col.videos[content]
        if its_truth != truth:
            raise InputError(f"{video}: the same video as {first}, but its ground truth {truth_path.name} differs: fix one")
        col.notes.append(f"{video}: the same video as {first}, used once")
        return
    col.videos[content] = (str(video), truth)
    used = [False] * len(truth)
    source = VideoFileSource(video)
    travel = TravelWatch(cfg.trigger.direction)
    trigger = trigger_for(cfg, source, travel=travel)
    rtl = cfg.trigger.direction is Direction.RIGHT_TO_LEFT
    probe_recording(cfg, source)
    source.open()
    index, seen = 0, []  # matched to rows once the video's end is known: a part in view as it ended had its window cut there
    try:
        while (grab := source.read()) is not None:
            if grab.image is not None:
                seen += [_seen(video, p, spec) for p in trigger(Frame(index, grab.image, index / (source.fps or 25.0), 0.0))]
            index += 1
        seen += [_seen(video, p, spec) for p in trigger.flush()]  # parts in view at the end, as replay's drain inspects them
    finally:
        source.close()
    where = [(s.frame, s.blob) for s in seen]
    speed = fitted_speed(where, seen[0].width, truth, rtl, index - 1) if seen else None  # every window cut: from the parts
    for s in seen:
        if not s.matched(truth, used, col, rtl, names, index - 1, speed):
            col.notes.append(f"{s.origin}: where it fired, no part of the ground truth was (a fragment?), not used")
    if travel.mostly_against():  # its parts were matched to rows where they entered the view, not at the line
        raise InputError(f"{video}: {travel.summary()} (the config given with -c)")
    _lost(video, source, col)
    col.read(content, raw)
    _unmatched(video, truth, used, index, col, source.frame_count)


def _lost(video: Path, source: VideoFileSource, col: Collection) -> None:
    """A video that yields fewer frames than it declares: refused where the count is exact (:func:`renumbered`), else
    noted."""
    if not (lost := source.frames_lost()):
        return
    renumbered(video, lost, source.frame_count or 0, source.count_is_exact)
    col.notes.append(f"{video}: {lost} of the {source.frame_count} frames it declares could not be read: usual for a clip "
                     "cut without re-encoding or a variable frame rate; were the file damaged, "
                     "its parts after the loss would carry other parts' labels (the held-out mistakes would show them)")  # fmt: skip


def _unmatched(video: Path, truth: list[tuple[int, int, int]], used: list[bool], frames: int, col: Collection,
               declared: int | None) -> None:  # fmt: skip
    """Rows no part was matched to: missed by the trigger, or (a mistake of the ground truth) after the video's end;
    InputError when every row is after it (no ground truth of this video: a photo named .avi is a video of one frame)."""
    all_after_the_end(video, truth, frames, declared)
    for k, done in enumerate(used):
        label, first, last = truth[k]
        if done:
            continue
        if first >= frames:  # no verdict was due
            col.notes.append(f"{footage_row(video, k + 1)}: frames {first}-{last}, after the video's last frame ({frames - 1}), not used")
        else:
            col.refused.append(Refused(footage_row(video, k + 1), label, MISSED, MISSED))


@dataclass(frozen=True)
class _Seen:
    """A footage part as matching to its row needs it, without its frame (an hour of footage is thousands of parts):
    where the trigger saw it, and what teaching may take of it (the pixels its crops can use) or why not."""

    origin: str
    frame: int
    blob: tuple[float, float, float] | None
    width: int
    refused: tuple[str, str] | None  # why it cannot be taught, and that reason's kind (Refused)
    kept: tuple[GrayImage, Circle, bool, str, str] | None  # the region round the part, its circle there, whether the base
    # inspects it, its view (preprocess.view_digest), and the digest of its frame's own pixels round it

    def matched(self, truth: list[tuple[int, int, int]], used: list[bool], col: Collection, rtl: bool, names: list[str],
                end: int, speed: float | None) -> bool:  # fmt: skip
        """The part to its ground-truth row (``end``: the video's last frame; ``speed``: the belt's, where every window is
        cut: :func:`station.teach.truth.fitted_speed`): kept, or refused with why; False when no row's part was where it
        fired."""
        row = row_for(self.frame, self.blob, self.width, truth, used, rtl, end, speed)
        if row is None:
            return False
        used[row] = True
        label = truth[row][0]
        if self.kept is None:
            why, kind = self.refused or (CHECKS_FAILED, FAILED)
            col.refused.append(Refused(self.origin, label, why, kind))
        else:
            region, circle, inspects, view, seen_as = self.kept
            col.hold(Sample(region, circle, label, self.origin, inspects, names[row], view, seen_as))
        return True


def _seen(video: Path, part: Part, spec: PreprocessSpec) -> _Seen:
    """One footage part judged as the taught model will (:func:`as_taught`), and whether the base model's preprocessing
    inspects it; a part the station refused keeps why (its failure, or the quality that would reject it)."""
    origin = footage_part(video, part.part_id, part.frame.index)
    frame, width = part.frame.index if part.seen is None else part.seen, part.frame.image.shape[1]
    if part.failure is not None:
        return _Seen(origin, frame, part.blob, width, (part.failure.detail, part.failure.cause or FAILED), None)
    try:  # the base model's preprocessing, as its stage runs it, with the pixels it crops the part from
        base, pixels, (x0, y0) = located(part, spec)
    except Exception:  # as the stage (crop_part): one part's exception is that part's refusal, never a stop
        return _Seen(origin, frame, part.blob, width, (CHECKS_FAILED, FAILED), None)
    inspects = base.quality is Quality.OK
    pre = as_taught(base, lambda c: preprocess_part(part, rectifying(spec), found=c))
    if pre is None or pre.quality is not Quality.OK or pre.circle is None:
        refused = (pre.quality.value, pre.quality) if pre is not None else (CHECKS_FAILED, FAILED)
        return _Seen(origin, frame, part.blob, width, refused, None)
    gray = to_gray(part.frame.image)
    # the pixels the station crops it from (the trigger's cut-out, painted outside the blob): the same crops, made or turned
    region, circle = part_region(to_gray(pixels), replace(pre.circle, cx=pre.circle.cx - x0, cy=pre.circle.cy - y0), spec)
    view = view_digest(gray, part.blob) if part.blob is not None else ""
    seen_as = part_digest(part_region(gray, pre.circle, spec)[0])  # as eval knows a part of footage re-triggered otherwise
    return _Seen(origin, frame, part.blob, width, None, (region.copy(), circle, inspects, view, seen_as))  # a copy: the frame goes
