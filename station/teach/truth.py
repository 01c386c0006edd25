"""The ground truth beside a video taught from: which part is which, in order of arrival (the format of
``../shared/spec/line-video.md``: part,label,first_frame,last_frame,source)."""

from __future__ import annotations

import csv
import io
import os
import statistics
from pathlib import Path

from station.config import Config, TriggerMode, resolved_mode
from station.errors import InputError
from station.files import columns_once, ground_truths, read_bounded, why

MAX_TRUTH_BYTES = 16 << 20  # a ground truth CSV: about 40 bytes a part
_MAX_FIT = 16, 64  # rows, and parts seen, a speed is fitted to: every window cut leaves a frame's parts at each end


def truth_csv(video: Path) -> Path | None:
    """The ground truth beside ``video``: VIDEO.csv or VIDEO.EXT.csv; InputError when both are there and differ."""
    found = [c for c in ground_truths(video) if os.path.lexists(c)]
    for c in found:
        if not c.is_file():  # a pipe, a device, a folder, a link that leads nowhere: named, not taken for no ground truth
            raise InputError(f"{c}: the ground truth of {video.name} is not a regular file")
    if len(found) == 2 and _bytes(found[0]) != _bytes(found[1]):
        raise InputError(f"{video}: two ground truths beside it ({found[0].name} and {found[1].name}): keep the right one")
    return found[0] if found else None


def _bytes(path: Path) -> bytes:
    try:
        return read_bounded(path, MAX_TRUTH_BYTES, "a ground truth")
    except OSError as exc:
        raise InputError(f"{path}: {why(exc, 'cannot read the ground truth')}") from None


def frame_a_part(path: Path, truth: list[tuple[int, int, int]], cfg: Config) -> None:
    """InputError when the frame trigger (every frame a part: a hardware-triggered camera's recording) meets a ground
    truth whose parts span several frames (a moving belt's footage): each frame's verdict would go to whichever part's
    window it falls in, another part's as often as not."""
    if resolved_mode(cfg, images=False, live=False) is not TriggerMode.FRAME:
        return
    if (wide := next((k for k, (_, first, last) in enumerate(truth) if last != first), None)) is not None:
        _, first, last = truth[wide]
        raise InputError(f"{path}: line {wide + 2}: frames {first}-{last}, but trigger.mode frame makes every frame a "
                         "part (a hardware-triggered camera's recording: one row a frame); a moving belt's footage is "
                         "judged and taught with the line trigger (trigger.mode line or auto)")  # fmt: skip


def renumbered(video: Path, lost: int, declared: int, exact: bool) -> None:
    """InputError when ``lost`` of the ``declared`` frames could not be read where the video's frame count is ``exact``: a
    damaged stretch the decoder skipped without a failed read renumbers every later frame, and each part after it would
    take another part's row (teach and eval alike; where the count is a guess, each says what it does)."""
    if lost and exact:
        raise InputError(f"{video}: {lost} of the {declared} frames it declares could not be read (damaged or cut short): "
                         "its frames no longer match the ground truth's frame numbers; use an intact copy")  # fmt: skip


def all_after_the_end(video: Path, truth: list[tuple[int, int, int]], frames: int, declared: int | None = None) -> None:
    """InputError when every part of ``truth`` comes after the ``frames`` the video held: no ground truth of this video (a
    photo named .avi is a video of one frame to OpenCV), or a video cut short (it ``declared`` more)."""
    if truth and min(first for _, first, _ in truth) >= frames:
        why = f"it ended after {frames} of the {declared} frames it declares (cut short)" if declared and declared > frames + 1 else (
            "the ground truth is another video's, or the file is no video of the line")  # fmt: skip
        raise InputError(f"{video}: every part its ground truth lists comes after its last frame ({frames - 1}): {why}")


def check_row(path: Path, n: int, rows: list[tuple[int, int, int]]) -> None:
    """The newest row's frames are possible: 0 <= first <= last, not before the previous row's (rows come in order of arrival;
    parts in view together at the start or end share frames), and not the previous row's exactly (a part twice)."""
    _, first, last = rows[-1]
    if not 0 <= first <= last:
        raise InputError(f"{path}: line {n}: first_frame {first} and last_frame {last}: expected 0 <= first_frame <= last_frame")
    if len(rows) > 1 and (first < rows[-2][1] or last < rows[-2][2] or (first, last) == rows[-2][1:]):
        raise InputError(f"{path}: line {n}: frames {first}-{last} do not follow the previous row's (one row per part, in arrival order)")


def _frame(text: str) -> int:
    """A frame number as the ground truth writes it: ASCII digits only (``int`` also takes ``7_0`` as 70, ``+7``, `` 7 ``
    and other scripts' digits, which no generator writes: a sign of a file that is not what it seems). A minus sign is
    read, so that :func:`check_row` can say a negative frame is impossible."""
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(text)
    return int(text)


def read_truth(path: Path) -> tuple[list[tuple[int, int, int]], bytes]:
    """(label, first_frame, last_frame) per row, and the file's bytes; InputError naming the file and row when malformed."""
    rows = []
    try:
        raw = _bytes(path)
        with io.StringIO(raw.decode("utf-8-sig"), newline="") as f:
            reader = csv.DictReader(f)
            columns_once(path, reader.fieldnames)
            if not {"label", "first_frame", "last_frame"} <= set(reader.fieldnames or ()):
                raise InputError(f"{path}: line 1: expected the header part,label,first_frame,last_frame,source")
            for row in reader:
                n = reader.line_num  # the file's own line (blank lines are skipped, and a quoted field may hold a newline)
                try:
                    if None in row.values() or any(row.get(None) or ()):  # short of the header's fields, or a value past them
                        raise ValueError("not the header's fields")  # (a trailing comma's empty field is no value)
                    label = {"ok": 0, "def": 1}[row["label"]]
                    rows.append((label, _frame(row["first_frame"]), _frame(row["last_frame"])))
                except (KeyError, ValueError, TypeError):
                    raise InputError(f"{path}: line {n}: expected part,label(ok|def),first_frame,last_frame,source") from None
                check_row(path, n, rows)
    except csv.Error as exc:  # a field past the csv module's size limit
        raise InputError(f"{path}: not a ground truth CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read the ground truth: {exc}") from None
    if not rows:
        raise InputError(f"{path}: no parts in the ground truth (a header and no rows)")
    return rows, raw


def row_for(frame: int, blob: tuple[float, float, float] | None, width: int, truth: list[tuple[int, int, int]], used: list[bool],
            rtl: bool, end: int | None = None, speed: float | None = None) -> int | None:  # fmt: skip
    """The unused row whose part was where a part the trigger saw in ``frame`` as ``blob`` (cx, cy, diameter) is: each
    row's centre runs from d/2 to width - d/2 over its window, and on at that speed before it.

    Windows of parts in view together overlap, so the frame alone cannot say which part it was;
    its position along the belt can. None when no row's part was within half a diameter of it.
    With no blob (every frame a part), the row whose part was nearest the frame's middle.
    A blob seen before its row's window is the part coming into view, cut by the frame's side (a part the line trigger
    rejected as crossed unseen, never seen whole): the part's centre is taken to be half its size behind the blob's
    leading edge. A window the video cut short, beginning at frame 0 (in view as the video began) or ending at ``end``
    (the video's last frame, where known: still in view as it ended), gives no speed: its part runs at the other rows'
    median speed, to where its window ends or from where it begins (from its cut window's speed, it was looked for far
    from where it was: counted missed, and its verdict extra). Where every window is cut so, ``speed`` (px a frame:
    :func:`fitted_speed`) stands for that median. A part in view from the video's first frame to its last was somewhere
    it stayed in view at that speed (anywhere in view, the speed not known): a blob there is its part where no row's
    part was nearer.
    """
    cx, d = (blob[0], blob[2]) if blob is not None else (width / 2, 0.0)
    along = width - cx if rtl else cx
    best, gap = None, 0.5 * d if d else float(width)
    for k, (a, step, whole_video) in enumerate(_travel(truth, width, d, end, speed)):
        b = truth[k][2]
        throughout = bool(d) and whole_video  # where it was is known only to lie where it stayed in view
        if used[k] or frame > b or (not throughout and frame < a - (d / step if d else 0)):
            continue
        if throughout:  # the last choice of a part there
            off = max(d / 2 + frame * step - along, along - (width - d / 2 - (b - frame) * step), 0.0) + 0.4 * d
        else:
            x = d / 2 + (frame - a) * step
            off = abs(x - (along if frame >= a else 2 * along - d / 2))
        if off <= gap:
            best, gap = k, off
    return best


def _travel(truth: list[tuple[int, int, int]], width: int, d: float, end: int | None,
            speed: float | None) -> list[tuple[float, float, bool]]:  # fmt: skip
    """Each row's first frame entirely in view, its speed (px a frame), and whether it was in view from the video's
    first frame to its last (then it has no place in the video, only where it may have been: :func:`row_for`). A window
    cut by the video's start or ``end`` takes the median speed of the windows it did not cut (none: ``speed``), and one
    cut at its start is placed from its end."""
    run = max(width - d, 1.0)  # the centre's travel over a whole window
    cut_end = end if end is not None else -1
    truth = _in_video(truth, end)
    whole = [run / (b - a) for _, a, b in truth if _whole(a, b, cut_end)]
    median = statistics.median(whole) if whole else speed
    out = []
    for _, a, b in truth:
        if a == 0 and b == cut_end:  # in view throughout
            out.append((0.0, median or 0.0, True))
        elif median is not None and a == 0:  # in view as the video began: placed from where its window ends
            out.append((b - run / median, median, False))
        elif median is not None and b == cut_end:  # in view as the video ended: placed from where its window begins
            out.append((float(a), median, False))
        else:
            out.append((float(a), run / max(b - a, 1), False))
    return out


def _in_video(truth: list[tuple[int, int, int]], end: int | None) -> list[tuple[int, int, int]]:
    """``truth`` with each window that runs past the video's last frame (``end``, where known) cut there, as a part still
    in view as the video ended: a video cut short, or a last frame no video of the line has (99999999999999999999 took
    the window for a part crawling across, placed nowhere near its own: missed, and its verdict extra)."""
    return truth if end is None or end < 0 else [(label, a, min(b, end)) for label, a, b in truth]


def _whole(first: int, last: int, end: int) -> bool:
    """A window the video did not cut (it begins after frame 0 and ends before ``end``, the video's last frame): its
    length says how fast its part moved."""
    return 0 < first < last and last != end


def fitted_speed(seen: list[tuple[int, tuple[float, float, float] | None]], width: int, truth: list[tuple[int, int, int]],
                 rtl: bool, end: int) -> float | None:  # fmt: skip
    """The belt's speed (px a frame) that places the most of the parts ``seen`` (each: the frame the trigger saw it in, and
    its blob) on a row of ``truth``, where every row's window is cut by the video's start or its ``end`` (3 parts in view
    as a short clip begins): then no window says how fast the parts move, and each row's cut window, taken for a whole
    one, put its part far from where it was (eval counted it missed and its verdict extra; teach refused it as missed).
    Each part and row give a speed: the one that takes the row's part from where the video cut its window to the part's
    place; the speed that places the most parts wins (ties: the median of those speeds). None where a window is whole
    (:func:`row_for` reads the speed from those) or no part and row give one, and where there are more rows or parts
    than a video's two ends show (``_MAX_FIT``: the fit tries each part against each row)."""
    truth = _in_video(truth, end)
    if any(_whole(a, b, end) for _, a, b in truth) or len(truth) > _MAX_FIT[0] or len(seen) > _MAX_FIT[1]:
        return None
    tried = []
    for f, blob in seen:
        if blob is None:
            continue
        along, d = (width - blob[0] if rtl else blob[0]), blob[2]
        for _, a, b in truth:
            if a == 0 and b != end and b > f:  # in view as the video began: its centre reaches width - d/2 at frame b
                tried.append((width - d / 2 - along) / (b - f))
            elif a > 0 and b == end and f > a:  # in view as it ended: its centre was at d/2 at frame a
                tried.append((along - d / 2) / (f - a))
    scored = [(_placed(v, seen, width, truth, rtl, end), v) for v in tried if v > 0]
    best = max((n for n, _ in scored), default=0)
    return statistics.median(v for n, v in scored if n == best) if best else None


def _placed(speed: float, seen: list[tuple[int, tuple[float, float, float] | None]], width: int, truth: list[tuple[int, int, int]],
            rtl: bool, end: int) -> int:  # fmt: skip
    """How many of the parts ``seen`` :func:`row_for` finds a row for, the belt moving at ``speed``."""
    used = [False] * len(truth)
    for f, blob in seen:
        if (row := row_for(f, blob, width, truth, used, rtl, end, speed)) is not None:
            used[row] = True
    return sum(used)


def part_names(raw: bytes) -> list[str]:
    """Each row's ``source`` of a ground truth :func:`read_truth` took (its bytes): which part it is, where the file names
    it (a serial number, the photo a video was composed from; its file name, a path's folders dropped), else ''."""
    with io.StringIO(raw.decode("utf-8-sig"), newline="") as f:
        return [Path((row.get("source") or "").strip()).name for row in csv.DictReader(f)]
