"""read_bounded: only a regular file, and no more of it than its kind may hold; why: what the caller says after the name."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from station.errors import ConfigError, InputError
from station.files import (
    Refused,
    append_line,
    from_cell,
    not_read,
    open_append,
    open_out,
    read_bounded,
    readable_now,
    replace_file,
    report_apart,
    to_cell,
    why,
)


def test_a_regular_file_within_its_bound_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 100)
    assert read_bounded(tmp_path / "a", 100, "a thing") == b"x" * 100


def test_a_file_larger_than_its_kind_is_refused_with_its_size(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 101)
    with pytest.raises(Refused) as err:
        read_bounded(tmp_path / "a", 100, "a thing")
    assert why(err.value, "cannot read") == "101 bytes, more than 100 for a thing"


def test_a_pipe_is_refused_without_blocking_and_a_device_without_reading_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # opened for reading, it would block until a writer came: the test would hang
    for path in (tmp_path / "pipe", Path("/dev/zero")):
        with pytest.raises(Refused) as err:
            read_bounded(path, 100, "a thing")
        assert why(err.value, "cannot read") == "not a regular file"


def test_a_file_whose_read_would_wait_is_refused_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/proc/kmsg`` calls itself a regular file of 0 bytes and its read waits for the kernel's next line: read without
    waiting it gave None, and `station check-config -c /proc/kmsg` a traceback. A pipe with a writer and no data reads the
    same way; the check that refuses it as a pipe is set aside, as kmsg passes it."""
    os.mkfifo(tmp_path / "kmsg")
    held = os.open(tmp_path / "kmsg", os.O_RDWR)  # a writer that writes nothing: a read waits
    try:
        for read in (lambda p: readable_now(p), lambda p: read_bounded(p, 100, "a thing")):
            monkeypatch.setattr("station.files._check", lambda st, most, what: 0)
            with pytest.raises(Refused) as err:
                read(tmp_path / "kmsg")
            assert why(err.value, "cannot read") == "a file whose read would wait for data (not a regular file's)"
    finally:
        os.close(held)
    (tmp_path / "video").write_bytes(b"x")
    readable_now(tmp_path / "video")  # a regular file is read at once


def test_what_the_system_refuses_is_said_after_the_caller_s_words(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for path in (tmp_path / "none", tmp_path / "loop"):
        with pytest.raises(OSError) as err:
            read_bounded(path, 100, "a thing")
        assert not isinstance(err.value, Refused)
        assert why(err.value, "cannot read config file").startswith("cannot read config file: ")


def test_a_file_that_grows_past_its_bound_while_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The read is sized by the file (a buffer of the bound for every image was 256 MiB); one that grew is read on."""
    path = tmp_path / "a"
    path.write_bytes(b"x" * 10)
    real = os.fstat

    def grown(fd: int) -> os.stat_result:  # the file as checked, then 200 more bytes appended before the read
        st = real(fd)
        with path.open("ab") as f:
            f.write(b"y" * 200)
        return st

    monkeypatch.setattr(os, "fstat", grown)
    with pytest.raises(Refused, match="more than 100 bytes for a thing"):
        read_bounded(path, 100, "a thing")
    monkeypatch.undo()
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, 100, "a thing") == b"x" * 10


def test_a_path_a_command_writes_is_refused_where_it_reads(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "truth.csv").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    read = [tmp_path / "photos", tmp_path / "truth.csv", tmp_path / "missing"]
    for path, said in [
        (tmp_path / "photos" / "a.jpeg", "--out is inside .*photos, which this command reads"),
        (tmp_path / "truth.csv", "--out is .*truth.csv, which this command reads"),
        (tmp_path / "missing", "--out is .*missing, which this command reads"),  # a folder made later is read too
        (tmp_path / "loop", "loop: cannot follow its links"),
    ]:
        with pytest.raises(InputError, match=said):
            not_read(path, "--out", read)
    not_read(tmp_path / "model.onnx", "--out", read)  # beside them: fine
    not_read(tmp_path / "missing-not", "--out", read)


def test_a_hard_link_of_a_file_a_command_reads_is_refused_as_that_file(tmp_path: Path) -> None:
    """Another name of the model or a photo is the file itself: compared by path alone, it got past (before 2026-12-07)."""
    (tmp_path / "m.onnx").write_bytes(b"model")
    os.link(tmp_path / "m.onnx", tmp_path / "v.jsonl")
    with pytest.raises(InputError, match=r"v.jsonl: --out is another name \(a hard link\) of .*m.onnx, which this command reads"):
        not_read(tmp_path / "v.jsonl", "--out", [tmp_path / "m.onnx"])


def test_a_report_that_would_write_one_of_its_files_over_a_file_read_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "metrics.json").write_text("model: {}\n")  # a config kept under a report's name
    os.link(tmp_path / "r" / "metrics.json", tmp_path / "station.yaml")
    for read in (tmp_path / "r" / "metrics.json", tmp_path / "station.yaml"):
        with pytest.raises(InputError, match=r"r: --report would write its metrics.json over .*, which this command reads"):
            report_apart(tmp_path / "r", ("parts.csv", "metrics.json"), [read])
    report_apart(tmp_path / "r", ("parts.csv",), [tmp_path / "station.yaml"])  # another name: fine


def test_a_folder_named_in_another_case_is_pointed_at(tmp_path: Path) -> None:
    from station.files import misnamed

    (tmp_path / "OK_front").mkdir()
    assert misnamed(tmp_path, "ok_front") == " (OK_front is there: the name is ok_front, in lower case)"
    assert misnamed(tmp_path, "def_front") == "" and misnamed(tmp_path / "nowhere", "ok_front") == ""


def _opened_within(path: Path, bound_s: float = 5.0) -> object:
    """open_append(path) on a thread, waited for at most ``bound_s``: what it returned or raised."""
    got: list[object] = []

    def work() -> None:
        try:
            got.append(open_append(path))
        except OSError as exc:
            got.append(exc)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(bound_s)
    assert got, f"opening {path} did not return within {bound_s} s"
    return got[0]


def test_a_pipe_nothing_reads_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    got = _opened_within(tmp_path / "pipe")
    assert isinstance(got, OSError) and got.strerror == "a pipe with nothing reading it"


def test_a_pipe_with_a_reader_gets_every_line_whole_however_slowly_it_reads(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    reader = os.open(tmp_path / "pipe", os.O_RDONLY | os.O_NONBLOCK)  # there, reading late
    lines = [json.dumps({"part_id": i, "pad": "x" * 500}) + "\n" for i in range(400)]  # 200 KB: more than a pipe holds

    def write() -> None:
        with open_append(tmp_path / "pipe") as out:
            for line in lines:
                out.write(line)
                out.flush()

    writer = threading.Thread(target=write, daemon=True)
    got = b""
    try:
        writer.start()
        time.sleep(0.3)  # the writer waits on the full pipe meanwhile: it does not drop or tear a line
        os.set_blocking(reader, True)
        while chunk := os.read(reader, 65536):
            got += chunk
    finally:
        os.close(reader)
    writer.join(5)
    assert got.decode().splitlines(keepends=True) == lines


def test_a_regular_file_is_appended_to(tmp_path: Path) -> None:
    (tmp_path / "v.jsonl").write_text("one\n")
    with open_append(tmp_path / "v.jsonl") as out:
        out.write("two\n")
    assert (tmp_path / "v.jsonl").read_text() == "one\ntwo\n"


def test_an_out_file_that_cannot_be_opened_is_a_config_error_naming_out(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    for path, said in ((tmp_path, "Is a directory"), (tmp_path / "pipe", "a pipe with nothing reading it")):
        with pytest.raises(ConfigError) as caught:
            open_out(path)
        assert caught.value.key == "--out" and str(caught.value).endswith(f"{path}: cannot open for writing: {said}")


def test_a_file_the_station_makes_replaces_a_link_or_a_pipe_in_its_place_never_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "model.onnx"
    victim.write_bytes(b"the model")
    (tmp_path / "metrics.json").symlink_to(victim)  # a report file linked to a file a report must never touch
    os.mkfifo(tmp_path / "parts.csv")  # nothing reads it: writing through it would wait for ever
    for name in ("metrics.json", "parts.csv"):
        replace_file(tmp_path / name, b"figures")
        assert (tmp_path / name).read_bytes() == b"figures" and stat.S_ISREG((tmp_path / name).lstat().st_mode)
    assert victim.read_bytes() == b"the model"
    with pytest.raises(IsADirectoryError):
        replace_file(tmp_path, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model.onnx", "parts.csv"], "no temporary file left"


def test_a_file_opened_to_be_emptied_is_emptied_and_a_pipe_nothing_reads_is_refused(tmp_path: Path) -> None:
    (tmp_path / "v.jsonl").write_text("old\n")
    with open_append(tmp_path / "v.jsonl", truncate=True) as out:
        out.write("new\n")
    assert (tmp_path / "v.jsonl").read_text() == "new\n"
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OSError, match="a pipe with nothing reading it"):
        open_append(tmp_path / "pipe", truncate=True)


@pytest.mark.parametrize("truncate", [False, True])
def test_a_file_with_other_names_is_never_written_through_nor_emptied(tmp_path: Path, truncate: bool) -> None:
    """A hard link of a photo or the model as ``--out``: classify emptied the photo, replay appended verdicts to the model
    (before 2026-12-07); now refused, and the file as it was."""
    (tmp_path / "m.onnx").write_bytes(b"model")
    os.link(tmp_path / "m.onnx", tmp_path / "v.jsonl")
    with pytest.raises(OSError, match=r"a file with 1 other name\(s\) \(hard links\)"):
        open_append(tmp_path / "v.jsonl", truncate=truncate)
    with pytest.raises(ConfigError, match=r"--out.*hard links"):
        open_out(tmp_path / "v.jsonl")
    assert (tmp_path / "m.onnx").read_bytes() == b"model"


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1 555", "-rm", "@SUM(A1)", "\t=1", "\r=1", "'=1", "''+x"])
def test_a_cell_a_spreadsheet_would_take_for_a_formula_is_written_as_text_and_read_back_as_it_was(text: str) -> None:
    assert to_cell(text).startswith("'") and to_cell(text)[1:] == text
    assert from_cell(to_cell(text)) == text


@pytest.mark.parametrize("text", ["-0.5", "+3", "1e-3", "def_front/p1.png", "station", "'quoted", "", "0.93"])
def test_numbers_and_plain_text_are_written_as_they_are(text: str) -> None:
    assert to_cell(text) == text and from_cell(text) == text


def test_a_cell_a_spreadsheet_saved_again_without_its_mark_is_read_as_its_text() -> None:
    assert from_cell("=1+1") == "=1+1" and from_cell("'=1+1") == "=1+1"


def test_a_line_that_does_not_fit_is_cut_back_never_left_torn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fills mid-line: the text file's buffer left half a line, and a later flush wrote part of another."""
    path = tmp_path / "out.jsonl"
    with open_append(path) as f:
        append_line(f, '{"part_id": 1}\n')
        real = os.write
        monkeypatch.setattr(os, "write", lambda fd, data: real(fd, data[: len(data) // 2]))  # half of it fits
        with pytest.raises(OSError, match="cut short"):
            append_line(f, '{"part_id": 2, "verdict": "reject"}\n')
        monkeypatch.setattr(os, "write", real)
        append_line(f, '{"part_id": 3}\n')
    assert path.read_text() == '{"part_id": 1}\n{"part_id": 3}\n'
