"""station archive export: the archive's crops as a labelled folder, and labels.csv beside it."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from station.errors import InputError
from station.export import COLUMNS, export

from .archived import archived_files, small_png


def test_export_names_every_part_it_cannot_use_and_writes_the_rest(tmp_path: Path) -> None:

    reject, passed = tmp_path / "a" / "2026-01-01" / "reject", tmp_path / "a" / "2026-01-01" / "pass"
    archived_files(reject, "p1", json.dumps({"reason": "defect", "model": "m,1\nx"}))
    archived_files(passed, "p2", json.dumps({"reason": "ok", "review": {"label": "defect", "by": "op", "at": 1}}))
    bad = {"p3": "{not json", "p4": "", "p5": "[1, 2]", "p6": json.dumps({"review": {"by": "x"}}),
           "p7": json.dumps({"reason": "defect", "review": "defect"})}  # fmt: skip
    for stem, text in bad.items():
        archived_files(reject, stem, text)
    archived_files(reject, "p8", b"\xff\xfe{", crop=True)
    archived_files(reject, "p9", json.dumps({"reason": "defect"}), crop=False)
    (reject / "p10.png").mkdir()
    archived_files(reject, "p10", json.dumps({"reason": "defect"}), crop=False)
    os.mkfifo(reject / "p11.json")  # reading it would block the export
    secret = tmp_path / "secret.png"  # a crop that is a link could lead to any file the station can read
    secret.write_bytes(b"\x89PNG\r\n\x1a\n not a crop")
    archived_files(reject, "p12", json.dumps({"reason": "defect"}), crop=False)
    (reject / "p12.png").symlink_to(secret)
    archived_files(reject, "p13", json.dumps({"reason": "defect"}), crop=False)
    (reject / "p13.png").write_text("not a png")
    archived_files(reject, "p14", json.dumps({"reason": 5}))  # teaching would refuse the whole export for it
    archived_files(reject, "p15", '{"reason": "defect", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")  # a RecursionError: a traceback
    archived_files(reject, "p16", '{"reason": "defect", "score": NaN}')
    archived_files(reject, "p17", json.dumps({"reason": ["defect"]}))  # a list: unhashable, a traceback
    archived_files(reject, "p18", json.dumps({"reason": "defect", "review": {"label": {"a": 1}, "by": "x"}}))
    archived_files(reject, "p19", json.dumps({"reason": "defect"}))
    (reject / "p19.png").write_bytes(small_png()[:-20])  # cut short as the disk filled: teach would refuse it, unlabelled
    archived_files(tmp_path / "a" / "2026-01-02" / "reject", "p1", json.dumps({"reason": "defect"}))  # another day, the same name
    done = export(tmp_path / "a", tmp_path / "out")
    assert done.counts == {"def_front": 2, "ok_front": 0, "review": 0}
    named = sorted(Path(why.split(":")[0]).stem for why in done.skipped)
    assert named == sorted(["p1"] + [f"p{i}" for i in range(3, 20)])
    assert any("2026-01-02" in why and "exported already" in why for why in done.skipped)
    assert any("p19.png: the crop's PNG data is not whole" in why and "cut short" in why for why in done.skipped)
    with (tmp_path / "out" / "labels.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows[1:]] == ["def_front/p2.png", "def_front/p1.png"] and rows[2][3] == "m,1\nx"


def test_a_part_located_nowhere_is_exported_for_review_whatever_its_label(tmp_path: Path) -> None:
    """The trigger refused it (too large, never seen whole): its crop is the whole frame, other parts in it, and in a label
    folder it would be judged or taught as one part."""

    day = tmp_path / "a" / "2026-01-01" / "reject"
    good, defect = {"label": "good", "by": "op", "at": 1}, {"label": "defect", "by": "op", "at": 1}
    archived_files(day, "p1", json.dumps({"reason": "unable_to_inspect", "circle": None, "review": good}))
    archived_files(day, "p2", json.dumps({"reason": "defect", "circle": [10.0, 10.0, 5.0], "review": defect}))
    done = export(tmp_path / "a", tmp_path / "out", reviewed_only=True)
    assert done.counts == {"def_front": 1, "ok_front": 0, "review": 1}
    assert (tmp_path / "out" / "review" / "p1.png").exists() and (tmp_path / "out" / "def_front" / "p2.png").exists()


def test_export_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:

    archived_files(tmp_path / "a" / "2026-01-01" / "reject", "p1", json.dumps({"reason": "defect"}))
    export(tmp_path / "a", tmp_path / "out")
    with pytest.raises(InputError, match=r"out: not empty"):
        export(tmp_path / "a", tmp_path / "out", reviewed_only=True)  # the first export's def_front/p1.png would stay
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"file: cannot make the export folder"):
        export(tmp_path / "a", tmp_path / "file")
    (tmp_path / "none").mkdir()
    assert export(tmp_path / "none", tmp_path / "out2").counts == {"def_front": 0, "ok_front": 0, "review": 0}
    assert (tmp_path / "out2" / "labels.csv").read_text().startswith("file,reason")


def test_export_says_when_there_was_nothing_to_export_and_still_writes_a_labelled_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from station.cli import main

    assert main(["archive", "export", str(tmp_path / "nowhere"), str(tmp_path / "o1")]) == 2
    nowhere = f"station: error: {tmp_path / 'nowhere'}: no such archive folder (give archive.dir, the folder the station archives into)"
    assert capsys.readouterr().err.strip() == nowhere
    (tmp_path / "a_file").write_bytes(b"x")
    assert main(["archive", "export", str(tmp_path / "a_file"), str(tmp_path / "o1")]) == 2
    assert f"{tmp_path / 'a_file'}: not a folder (give archive.dir" in capsys.readouterr().err
    (tmp_path / "archive").mkdir()  # an export inside the archive: its quota would prune the crops, its next export read them
    assert main(["archive", "export", str(tmp_path / "archive"), str(tmp_path / "archive" / "trial")]) == 2
    assert "OUT is inside" in capsys.readouterr().err and not (tmp_path / "archive" / "trial").exists()
    photos = tmp_path / "photos"  # a folder of images, not an archive
    photos.mkdir()
    (photos / "a.png").write_bytes(b"x")
    assert main(["archive", "export", str(photos), str(tmp_path / "o2")]) == 0
    assert "holds no archived parts" in capsys.readouterr().err
    assert (tmp_path / "o2" / "def_front").is_dir() and (tmp_path / "o2" / "ok_front").is_dir()  # teach and eval: "too few parts"
    archived_files(tmp_path / "a" / "2026-01-01" / "reject", "p1", json.dumps({"reason": "defect"}))
    assert main(["archive", "export", str(tmp_path / "a"), str(tmp_path / "o3"), "--reviewed-only"]) == 0
    said = capsys.readouterr()
    assert f"no part in {tmp_path / 'a'} is labelled yet" in said.err and "sort" not in said.out
    assert main(["archive", "export", str(tmp_path / "a"), str(tmp_path / "o4")]) == 0
    assert "sorted by the station's verdict, which is not a label: look at every crop" in capsys.readouterr().out


def test_labels_csv_names_each_crop_with_its_facts_and_the_digest_of_the_file_written(tmp_path: Path) -> None:
    """Where to find the part (part id, frame, photo name, capture time in UTC), an empty cell for a fact the sidecar
    lacks (never the word None), and the SHA-256 by which teaching knows the crop it wrote."""
    day = tmp_path / "a" / "2026-01-01" / "reject"
    archived_files(day, "p1", json.dumps({"reason": "defect", "score": 0.93, "part_id": 7, "frame": 412, "captured_at": 1796400000.25}))
    archived_files(day, "p2", json.dumps({"reason": "unable_to_inspect", "score": None, "image": "x.png", "captured_at": 1e300}))
    export(tmp_path / "a", tmp_path / "out")
    with (tmp_path / "out" / "labels.csv").open(newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert tuple(rows["def_front/p1.png"]) == COLUMNS
    one, two = rows["def_front/p1.png"], rows["review/p2.png"]
    assert (one["score"], one["part_id"], one["frame"], one["captured"]) == ("0.93", "7", "412", "2026-12-04T16:00:00.250+00:00")
    assert (two["score"], two["image"], two["captured"], two["part_id"]) == ("", "x.png", "", ""), "a time that is none: empty"
    assert (one["circle"], two["circle"]) == ("", ""), "no circle in the sidecar (kept since 2026-12-01): unknown"
    archived_files(tmp_path / "b" / "2026-01-01" / "reject", "p3", json.dumps({"reason": "late", "circle": None}))
    archived_files(tmp_path / "b" / "2026-01-01" / "reject", "p4", json.dumps({"reason": "defect", "circle": [5.0, 6.0, 7.0]}))
    export(tmp_path / "b", tmp_path / "out2")
    with (tmp_path / "out2" / "labels.csv").open(newline="") as f:
        assert {r["file"]: r["circle"] for r in csv.DictReader(f)} == {"review/p3.png": "null", "def_front/p4.png": "[5.0, 6.0, 7.0]"}
    for name, row in rows.items():
        assert row["sha256"] == hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest()


def test_a_sidecars_text_that_a_spreadsheet_would_take_for_a_formula_is_exported_marked_as_text(tmp_path: Path) -> None:
    """labels.csv is opened in a spreadsheet to put a name in label_by: a model id (or any text from a sidecar) written as
    ``=HYPERLINK(...)`` ran there as a formula."""
    archived_files(tmp_path / "a" / "2026-01-01" / "reject", "p1", json.dumps({"reason": "defect", "model": '=HYPERLINK("http://x")'}))
    export(tmp_path / "a", tmp_path / "out")
    with (tmp_path / "out" / "labels.csv").open(newline="") as f:
        row = next(csv.DictReader(f))
    assert row["model"] == '\'=HYPERLINK("http://x")' and row["reason"] == "defect"


def test_a_sidecar_whose_text_is_no_unicode_is_exported_escaped(tmp_path: Path) -> None:
    """JSON may carry a lone surrogate (\\ud800), which no UTF-8 file can hold: it crashed labels.csv half-way."""
    archived_files(tmp_path / "a" / "2026-01-01" / "reject", "p1", '{"reason": "defect", "image": "\\ud800x", "model": "m"}')
    done = export(tmp_path / "a", tmp_path / "out")
    assert done.counts["def_front"] == 1 and "\\ud800x" in (tmp_path / "out" / "labels.csv").read_text(encoding="utf-8")


def test_folders_the_archive_passes_over_are_each_named_not_silently_left_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Links are never followed and hidden folders never read (the quota and the review page pass them over too): their
    parts are not exported, and the export says so, folder by folder, as the archive is walked."""
    from station.cli import main

    archive, elsewhere = tmp_path / "a", tmp_path / "elsewhere"
    archived_files(archive / "2026-01-01" / "reject", "p1", json.dumps({"reason": "defect"}))
    archived_files(elsewhere / "reject", "p2", json.dumps({"reason": "defect"}))
    archived_files(archive / ".Trash-1000" / "reject", "p3", json.dumps({"reason": "defect"}))
    (archive / "2026-01-02").symlink_to(elsewhere)  # a linked day
    (archive / "2026-01-01" / "pass").symlink_to(elsewhere / "reject")  # a linked kind
    assert main(["archive", "export", str(archive), str(tmp_path / "out")]) == 0
    said = capsys.readouterr()
    assert said.err.splitlines() == [
        f"station archive export: not exported: {archive / '.Trash-1000'}: a hidden folder (a desktop's trash, say), not read as "
        "part of the archive",
        f"station archive export: not exported: {archive / '2026-01-02'}: a link to a folder, never followed (it may lead out of "
        "the archive)",
        f"station archive export: not exported: {archive / '2026-01-01' / 'pass'}: a link to a folder, never followed (it may "
        "lead out of the archive)",
    ]
    assert "def_front 1" in said.out and "3 parts or folders not exported (named above)" in said.out
    assert [p.name for p in (tmp_path / "out" / "def_front").iterdir()] == ["p1.png"]


def test_what_lies_where_the_archive_keeps_its_folders_and_parts_but_is_neither_is_named(tmp_path: Path) -> None:
    """A file where a day or kind folder belongs, a folder or a crop without its sidecar among a kind's parts, a sidecar
    that is a folder: each was passed over without a word."""
    archive = tmp_path / "a"
    kind = archive / "2026-01-01" / "reject"
    archived_files(kind, "p1", json.dumps({"reason": "defect"}))
    (archive / "notes.txt").write_text("x")
    (archive / "2026-01-01" / "pass").write_text("x")  # a kind that is a file
    (kind / "p2.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # its sidecar gone
    (kind / "p3.json").mkdir()  # a sidecar that is a folder
    (kind / "deeper").mkdir()
    done = export(archive, tmp_path / "out")
    assert done.counts == {"def_front": 1, "ok_front": 0, "review": 0}
    assert sorted(why.split(": ")[0].removeprefix(str(archive) + "/") for why in done.skipped) == [
        "2026-01-01/pass",
        "2026-01-01/reject/deeper",
        "2026-01-01/reject/p2.png",
        "2026-01-01/reject/p3.json",
        "notes.txt",
    ]


def test_a_crop_the_disk_fills_while_it_is_written_is_named_and_not_left_cut_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Teach would refuse the whole folder for a crop cut short: the part is named, its file removed, the rest exported."""
    reject = tmp_path / "a" / "2026-01-01" / "reject"
    for stem in ("p1", "p2"):
        archived_files(reject, stem, json.dumps({"reason": "defect"}))
    written = Path.write_bytes

    def disk_fills(self: Path, data: bytes) -> int:
        if self.name != "p1.png":
            return written(self, data)
        written(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_fills)
    done = export(tmp_path / "a", tmp_path / "out")
    assert done.counts["def_front"] == 1 and [Path(w.split(":")[0]).name for w in done.skipped] == ["p1.png"]
    assert "No space left on device" in done.skipped[0]
    assert sorted(p.name for p in (tmp_path / "out" / "def_front").iterdir()) == ["p2.png"]


@pytest.mark.parametrize("made", [False, True])
def test_an_export_stopped_or_failed_partway_leaves_nothing_to_read_as_labelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made: bool
) -> None:
    """Stopped after its first crop, or its labels.csv refused by a full disk: the crops written so far lay sorted by the
    station's own verdict with no labels.csv (or one cut short) saying so, and teach took them as an operator's labels
    (before 2026-12-07). Now nothing is left at OUT (an empty folder given stays empty), and no folder beside it."""
    from station.signals import Stopped

    reject = tmp_path / "a" / "2026-01-01" / "reject"
    for stem in ("p1", "p2", "p3"):
        archived_files(reject, stem, json.dumps({"reason": "defect"}))
    out = tmp_path / "out"
    if made:
        out.mkdir()
    written = Path.write_bytes

    def stopped_after_one(self: Path, data: bytes) -> int:
        if self.name == "p2.png":
            raise Stopped(15)
        return written(self, data)

    monkeypatch.setattr(Path, "write_bytes", stopped_after_one)
    with pytest.raises(Stopped):
        export(tmp_path / "a", out)
    monkeypatch.setattr(Path, "write_bytes", written)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["a", "out"] if made else ["a"])
    assert not made or list(out.iterdir()) == []

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("station.export.replace_file", disk_full)
    with pytest.raises(InputError, match=r"out/labels.csv: cannot write: No space left on device"):
        export(tmp_path / "a", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["a", "out"] if made else ["a"])


def test_an_export_sent_sigterm_partway_says_so_exits_128_plus_it_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real SIGTERM to this process after the first crop is written: the command's handler turns it into a stop, the
    export made so far is removed, and the command says so (before 2026-12-07: killed, the crops left behind)."""
    import signal

    from station import export as export_module
    from station.cli import main

    reject = tmp_path / "a" / "2026-01-01" / "reject"
    for stem in ("p1", "p2", "p3"):
        archived_files(reject, stem, json.dumps({"reason": "defect"}))
    crop, calls = export_module._crop, []

    def crop_then_sigterm(src: Path, dest: Path) -> bytes:
        calls.append(src.name)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return crop(src, dest)

    monkeypatch.setattr(export_module, "_crop", crop_then_sigterm)
    assert main(["archive", "export", str(tmp_path / "a"), str(tmp_path / "out")]) == 128 + signal.SIGTERM
    assert "station archive export: stopped by SIGTERM; nothing exported" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_an_export_into_the_current_folder_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ "." has no name to make the export beside it (a traceback, found by review), and renaming over the current folder
    would leave the shell in a deleted one."""
    archived_files(tmp_path / "a" / "2026-01-01" / "reject", "p1", json.dumps({"reason": "defect"}))
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(InputError, match=r"^\.: the current folder; export into a new folder"):
        export(tmp_path / "a", Path("."))
    assert export(tmp_path / "a", Path("out")).counts["def_front"] == 1 and (tmp_path / "here" / "out" / "labels.csv").is_file()
