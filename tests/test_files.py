"""read_bounded: only a regular file, and no more of it than its kind may hold; why: what the caller says after the name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.errors import InputError
from station.files import Refused, not_read, read_bounded, why


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


def test_a_folder_named_in_another_case_is_pointed_at(tmp_path: Path) -> None:
    from station.files import misnamed

    (tmp_path / "OK_front").mkdir()
    assert misnamed(tmp_path, "ok_front") == " (OK_front is there: the name is ok_front, in lower case)"
    assert misnamed(tmp_path, "def_front") == "" and misnamed(tmp_path / "nowhere", "ok_front") == ""
