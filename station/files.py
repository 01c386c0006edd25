"""Reading a file the station is given by name: a regular file only, and no more of it than its kind may hold.

A pipe or a device named like a config or an image would block the read for ever (a pipe) or never end
(``/dev/zero``); a file far larger than its kind would fill the memory. Each caller says which file it
read in its own words, and :func:`why` what went wrong.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import secrets
import stat
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import IO

from station.errors import ConfigError, InputError


def read_bounded(path: Path, most: int, what: str, follow: bool = True) -> bytes:
    """The bytes of ``path``, a regular file of at most ``most`` bytes (``what``: "a config file", for the message).

    OSError otherwise: the system's own (no such file, no permission, a link that loops), or :class:`Refused` ("not a
    regular file", or its size). A file that grows past ``most`` while it is read is refused too. With ``follow`` False,
    a link is refused too (ELOOP): a file the station wrote itself, which a link in its place must not lead elsewhere.
    """
    _check(path.stat(follow_symlinks=follow), most, what)  # nothing else is opened: opening some devices does something
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        with os.fdopen(os.open(path, flags), "rb") as f:  # a pipe put there since cannot block the open
            size = _check(os.fstat(f.fileno()), most, what)  # ... nor the read: the file opened is the one checked
            data = _now(f.read(size + 1))  # its size, not the bound: a buffer of the bound for every image would be 256 MiB
            if len(data) > size:  # it grew since: read on, up to one byte past the bound
                data += _now(f.read(most + 1 - len(data)))
    except MemoryError:  # a memory limit (systemd's, an edge box without overcommit) below the file: said, not a traceback
        raise Refused(errno.ENOMEM, f"too large to read into the memory left ({what})") from None
    if len(data) > most:
        raise Refused(errno.EFBIG, f"more than {most} bytes for {what}")
    return data


def _now(data: bytes | None) -> bytes:
    """What a read without waiting gave; Refused where it would have waited: a file that calls itself regular and whose
    data comes when something else writes it (``/proc/kmsg``), which a read would wait on for ever, deaf to SIGTERM."""
    if data is None:
        raise Refused(errno.EAGAIN, "a file whose read would wait for data (not a regular file's)")
    return data


def readable_now(path: Path) -> None:
    """OSError unless ``path`` can be opened and its first byte read without waiting (for a file another library opens
    and reads as it will, such as a video's decoder): the system's own error, or Refused as :func:`_now` says."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
        _now(f.read(1))


def open_append(path: Path, truncate: bool = False) -> IO[str]:
    """``path`` opened to append text lines (``truncate``: emptied first), without waiting for ever to open it: a pipe
    with nothing reading it is refused at once (OSError), where a plain open waits for a reader, deaf to SIGTERM, and so is
    a file with other names (hard links: an input's, the model's), which a write would change under them too. Writes
    block as usual (a line is never torn), so a reader that stalls stalls the writer: the station's stall check then says
    so."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ENXIO and _is_fifo(path):
            raise OSError(errno.ENXIO, "a pipe with nothing reading it") from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:  # an input's or the model's other name: written through, it is lost
            raise OSError(errno.EMLINK, f"a file with {st.st_nlink - 1} other name(s) (hard links) that a write would change too")
        if truncate and stat.S_ISREG(st.st_mode):
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def append_line(f: IO[str], line: str) -> None:
    """``line`` appended whole to ``f`` (a file :func:`open_append` opened, or standard output), or not at all: written
    by one call to the file itself, and on a failure partway (a disk that fills mid-line) the file is cut back to where
    it was, so no torn line is left for a reader to choke on; OSError says why. (Written through the text file's
    buffer, a full disk left half a line, and the next flush wrote another part of a later one.)"""
    f.flush()
    try:
        fd, data = f.fileno(), line.encode("utf-8")
    except io.UnsupportedOperation:  # a stream of no file (a test's captured output): its own write
        f.write(line)
        f.flush()
        return
    try:
        end: int | None = os.lseek(fd, 0, os.SEEK_END)  # where an append starts
    except OSError:  # a pipe: nothing to cut back
        end = None
    try:
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, "the line was cut short: the disk is full")
    except OSError:
        if end is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
        raise


def replace_file(path: Path, data: bytes) -> None:
    """``path`` made a new regular file holding ``data``: written beside it under another name, then renamed over it, so
    that whatever was there (a link to another file, a pipe nothing reads) is replaced, never written through or waited
    on, and no reader ever sees half a file. OSError when the folder cannot take it, or ``path`` is a folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_out(path: Path) -> IO[str]:
    """:func:`open_append` for a command's ``--out``: a file it cannot open is a ConfigError naming ``--out``."""
    try:
        return open_append(path)
    except OSError as exc:
        raise ConfigError("--out", f"{path}: cannot open for writing: {exc.strerror or exc}") from None


def _is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


class Refused(OSError):
    """A file :func:`read_bounded` would not read: not a regular file, or larger than its kind may be."""


def why(exc: OSError, reading: str) -> str:
    """What to say after a file's name: why it was refused, or ``reading`` ("cannot read config file") and the system's
    error."""
    said = exc.strerror or str(exc)
    return said if isinstance(exc, Refused) else f"{reading}: {said}"


def _check(st: os.stat_result, most: int, what: str) -> int:
    """The file's size, when it is a regular file of at most ``most`` bytes; else Refused."""
    if not stat.S_ISREG(st.st_mode):
        raise Refused(errno.EINVAL, "not a regular file")
    if st.st_size > most:
        raise Refused(errno.EFBIG, f"{st.st_size} bytes, more than {most} for {what}")
    return st.st_size


def hold_folder(folder: Path) -> int | None:
    """An exclusive hold on ``folder`` (``flock``) for as long as the descriptor returned stays open (``os.close`` it, or
    the process ends); BlockingIOError when another holds it; None when the folder cannot be opened (whoever writes there
    says why) or its file system takes no locks."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # held: EWOULDBLOCK
        os.close(fd)
        raise
    except OSError:  # a file system without locks (some NFS, CIFS or FUSE mounts): no one's hold to respect
        os.close(fd)
        return None
    return fd


def not_there(path: Path) -> str:
    """Why ``path``, which does not exist, is not there: a link to nothing (or round in a loop), or nothing at all."""
    return "a link that leads nowhere, or round in a loop" if path.is_symlink() else "no such file or folder"


def real(path: Path) -> Path:
    """``path`` made absolute with its links followed (a path not there yet: as far as it goes); InputError naming it when
    its links go round in a loop."""
    try:
        return path.resolve(strict=True)  # a loop raises: RuntimeError to 3.12, OSError (ELOOP) from 3.13
    except (RuntimeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            return path.resolve()  # not there (yet), or not a folder on the way: whoever opens it says so
        raise InputError(f"{path}: cannot follow its links ({exc})") from None


def not_read(path: Path, what: str, read: Sequence[Path]) -> None:
    """InputError when ``path``, which a command writes (``what``: "--out"), is one of the files or lies in one of the
    folders the command reads (``read``): it would destroy an input, or be read back as one."""
    where = real(path)
    for r in read:
        mine = real(r)
        if _one_file(where, mine) or (where.is_relative_to(mine) and mine.is_dir()):
            how = "" if where == mine else "inside " if mine.is_dir() else "another name (a hard link) of "
            raise InputError(f"{path}: {what} is {how}{r}, which this command reads; write it elsewhere")


def report_apart(report: Path, names: Collection[str], read: Sequence[Path]) -> None:
    """InputError when one of the files a report writes in the folder ``report`` (``names``) is a file the command reads
    (``read``): the report would replace it (the config, the model, a photo), or remove it as an earlier run's picture."""
    for name in names:
        where = real(report / name)
        for r in read:
            if _one_file(where, real(r)):
                raise InputError(f"{report}: --report would write its {name} over {r}, which this command reads; give "
                                 "another report folder")  # fmt: skip
        if name.endswith(".csv") and (video := _video_of(report / name)) is not None:  # another video's, or made one
            raise InputError(f"{report}: --report would write its {name} where {video.name}'s ground truth lies; give "
                             "another report folder")  # fmt: skip


def _video_of(truth: Path) -> Path | None:
    """A file beside ``truth`` whose ground truth it is (:func:`ground_truths`: VIDEO.csv or VIDEO.EXT.csv), if any."""
    try:
        beside = list(truth.parent.iterdir())
    except OSError:
        return None
    return next((p for p in beside if p != truth and truth in ground_truths(p) and p.is_file()), None)


def _one_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` (followed: :func:`real`) are one path, or one file under two names (a hard link)."""
    try:
        return a == b or os.path.samefile(a, b)
    except OSError:  # either not there (yet)
        return False


def inputs_apart(out: Path, what: str, inputs: Sequence[Path], suffixes: Collection[str], also: Sequence[Path] = ()) -> None:
    """:func:`not_read` for a command that reads ``inputs`` (files, and the files of ``suffixes`` in folders) and ``also``
    (its model, its config): a video's ground truth counts as read, and ``out`` may lie in an input folder unless it
    has one of those suffixes."""
    read = [*also]
    for p in inputs:
        if not p.is_dir():
            read += [p, *ground_truths(p)]
        elif out.suffix.lower() in suffixes:
            read.append(p)
    not_read(out, what, read)


def ground_truths(video: Path) -> tuple[Path, ...]:
    """Where a video's ground truth may lie (docs: line-video.md): VIDEO.csv, or VIDEO.EXT.csv; never the video itself (a
    video named ``v.csv`` was its own ground truth, beside ``v.csv.csv``)."""
    return tuple(p for p in (video.with_suffix(".csv"), video.with_name(video.name + ".csv")) if p != video)


def no_ground_truth(video: Path) -> str:
    """What a video without its ground truth beside it is told: where it may lie (one name, for a file with no extension)."""
    names = " or ".join(dict.fromkeys(p.name for p in reversed(ground_truths(video))))
    return f"{video}: a video needs its ground truth beside it ({names})"


def misnamed(folder: Path, name: str) -> str:
    """Where ``folder``/``name`` is missing: the entry there whose name differs from it in case only, as a hint for the
    message (``" (OK_front is there: the name is ok_front, in lower case)"``), or an empty string."""
    try:
        near = [p.name for p in folder.iterdir() if p.name.lower() == name.lower() and p.name != name]
    except OSError:
        return ""
    return f" ({near[0]} is there: the name is {name}, in lower case)" if near else ""


def opencv_name(name: str | Path) -> bool:
    """Whether OpenCV may be given ``name``: a name that is not UTF-8 (Linux names are bytes; Python keeps the others as
    lone surrogates) crashes it, with no error to catch."""
    try:
        str(name).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def columns_once(path: Path, columns: Sequence[str] | None) -> None:
    """InputError naming ``path`` when its CSV header names a column twice: a reader by name takes the last, so a second
    ``label`` column would relabel every part without a word."""
    seen: set[str] = set()
    for c in columns or ():
        if not c.strip():  # the unnamed columns a spreadsheet adds at the end (part,label,...,source,,): never read
            continue
        if c in seen:
            raise InputError(f"{path}: line 1: the column {c!r} is named twice; which one holds the value cannot be told")
        seen.add(c)


_FORMULA = re.compile(r"'*[=+\-@\t\r]")  # what a spreadsheet takes a cell starting so for: a formula (after the quotes)


def to_cell(text: str) -> str:
    """``text`` as a cell of a CSV the station writes (a report, an export's labels), such that a spreadsheet shows it
    as the text it is: one that would start a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return, as in a
    photo named ``=HYPERLINK(...).png`` or a reviewer's name; a number such as ``-0.5`` is a number) gets an apostrophe
    in front, the spreadsheet's mark of text, as does one that starts with apostrophes before such a character, so that
    :func:`from_cell` gives back exactly the text."""
    if _FORMULA.match(text) and (text[0] == "'" or not _number(text)):
        return "'" + text
    return text


def from_cell(cell: str) -> str:
    """The text of a cell :func:`to_cell` wrote: its one apostrophe in front of a formula's start taken off (a cell saved
    again by a spreadsheet has none, and is its text)."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell) else cell


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
