"""How an archive lies on disk: a part's files told by their names, and a sidecar read strictly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.archive_layout import MAX_SIDECAR, atomic_write, read_sidecar, sidecars, split_name


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("ab12-0000007.png", ("ab12-0000007", ".png")),
        ("ab12-0000007.frame.png", ("ab12-0000007", ".frame.png")),  # not a crop of a part named "...frame"
        ("ab12-0000007.heat.png", ("ab12-0000007", ".heat.png")),
        ("ab12-0000007.json", ("ab12-0000007", ".json")),
        ("notes.txt", ("notes.txt", None)),
        (".png", (".png", None)),  # a suffix alone names no part
    ],
)
def test_a_files_name_says_its_part_and_which_of_its_files_it_is(name: str, split: tuple[str, str | None]) -> None:
    assert split_name(name) == split


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"score": NaN}', "NaN is no number the archive writes"),
        (b'{"score": 1e999}', "1e999 is no number the archive writes"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (b"\xff\xfe", "not a sidecar the archive wrote"),
    ],
)
def test_a_sidecar_the_archive_could_not_have_written_is_refused_saying_why(tmp_path: Path, body: bytes, said: str) -> None:
    side = tmp_path / "ab12-0000001.json"
    side.write_bytes(body)
    with pytest.raises(ValueError, match="not a sidecar the archive wrote") as err:
        read_sidecar(side)
    assert said in str(err.value)


def test_a_sidecar_far_larger_than_one_or_a_pipe_is_never_read(tmp_path: Path) -> None:
    big = tmp_path / "ab12-0000001.json"
    big.write_bytes(b'{"x": "' + b"a" * MAX_SIDECAR + b'"}')
    with pytest.raises(ValueError, match="not a sidecar"):
        read_sidecar(big)
    pipe = tmp_path / "ab12-0000002.json"
    os.mkfifo(pipe)
    with pytest.raises(ValueError, match="not a sidecar"):  # opened, the read would block for ever
        read_sidecar(pipe)


def test_sidecars_are_listed_and_a_file_without_one_is_passed_over_and_said(tmp_path: Path) -> None:
    kind = tmp_path / "2026-12-07" / "reject"
    kind.mkdir(parents=True)
    atomic_write(kind / "ab12-0000001.json", b"{}")
    atomic_write(kind / "ab12-0000001.png", b"png")
    atomic_write(kind / "ab12-0000002.png", b"png")  # its sidecar gone
    passed: list[str] = []
    assert list(sidecars(tmp_path, passed.append)) == [kind / "ab12-0000001.json"]
    assert passed == [f"{kind / 'ab12-0000002.png'}: no sidecar beside it (the part's facts are gone), not exported"]
    assert sorted(p.name for p in kind.iterdir()) == ["ab12-0000001.json", "ab12-0000001.png", "ab12-0000002.png"]  # no temp left
