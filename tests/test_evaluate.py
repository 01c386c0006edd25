from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.errors import StationError
from station.model import Model
from station.offline.evaluate import Row, auc, evaluate_folder, metrics_at, tile_label, write_csv
from station.preprocess import part_digest
from station.stills import read_image

from .conftest import MODEL, SAMPLE, deny_listing, sample_line


def test_auc_and_metrics_on_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert auc(np.array([0.1, 0.2, 0.8, 0.9]), y) == 1.0
    assert auc(np.array([0.9, 0.8, 0.2, 0.1]), y) == 0.0
    assert auc(np.array([0.5, 0.5, 0.5, 0.5]), y) == 0.5
    m = metrics_at(np.array([False, True, False, True]), y, np.array([0.1, 0.6, 0.2, 0.9]))
    assert m["escapes"] == 1 and m["false_rejects"] == 1 and m["accuracy"] == 0.5 and m["f1"] == 0.5


def test_eval_writes_the_report(tmp_path: Path, capsys: object) -> None:
    rc = evaluate_folder(SAMPLE, Model(MODEL), tmp_path / "r")
    assert rc == 0
    figures = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert figures["images"] == 36 and {"accuracy", "escapes", "false_rejects", "f1", "auc"} <= set(figures)
    for name in ("confusion_matrix.png", "score_histograms.png", "worst_mistakes.png"):
        img = cv2.imread(str(tmp_path / "r" / name))
        assert img is not None and img.size > 0, name


def test_the_report_lists_every_photo_mistakes_first_and_says_where_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """parts.csv: which photo each figure counts, so that an escape can be found and looked at."""
    import csv

    assert evaluate_folder(SAMPLE, Model(MODEL), tmp_path / "r") == 0
    figures = json.loads((tmp_path / "r" / "metrics.json").read_text())
    with (tmp_path / "r" / "parts.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 36 and {r["file"].split("/")[0] for r in rows} == {"ok_front", "def_front"}
    mistakes = [r["mistake"] for r in rows]
    n = figures["escapes"] + figures["false_rejects"]
    assert mistakes.count("escape") == figures["escapes"] and mistakes.count("false_reject") == figures["false_rejects"]
    assert all(mistakes[:n]) and not any(mistakes[n:]), "mistakes first"
    assert all((r["label"] == "def") == (r["file"].startswith("def_front/")) for r in rows)
    assert f"report in {tmp_path / 'r'}/" in capsys.readouterr().err


def test_the_report_says_why_each_part_that_could_not_be_inspected_was_not(tmp_path: Path) -> None:
    """Framing against light: 40 good parts cut off by the frame read differently from 40 too dark to see."""
    import csv

    root = sample_line(tmp_path, 2)
    cv2.imwrite(str(root / "ok_front" / "blank.png"), np.full((300, 300), 128, np.uint8))
    assert evaluate_folder(root, Model(MODEL), tmp_path / "r") == 0
    figures = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert figures["not_inspected"] == 1 and figures["not_inspected_causes"] == {"no_part": 1}
    with (tmp_path / "r" / "parts.csv").open(newline="") as f:
        causes = {r["file"]: r["cause"] for r in csv.DictReader(f)}
    assert causes.pop("ok_front/blank.png") == "no_part" and set(causes.values()) == {""}


def test_swapped_label_folders_are_suspected_aloud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(SAMPLE / "ok_front", tmp_path / "line" / "def_front")
    shutil.copytree(SAMPLE / "def_front", tmp_path / "line" / "ok_front")
    assert evaluate_folder(tmp_path / "line", Model(MODEL), tmp_path / "r") == 0
    assert "the scores rank these labels backwards" in capsys.readouterr().err
    assert evaluate_folder(SAMPLE, Model(MODEL), tmp_path / "r2") == 0
    assert "backwards" not in capsys.readouterr().err


def test_what_eval_does_not_judge_and_crops_still_labelled_by_the_station_are_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Photos beside the label folders, a misnamed folder and an export's review/ are named, not passed over; an export's
    crops that still carry the station's own verdict are counted (the figures on them compare the model with itself)."""
    root = sample_line(tmp_path, 2)
    shutil.copy(next((root / "def_front").iterdir()), root / "loose.jpeg")
    (root / "def_front_2").mkdir()
    (root / "review").mkdir()
    name = sorted((root / "ok_front").iterdir())[0].name
    (root / "labels.csv").write_text(f"file,reason,label_by\nok_front/{name},ok,station\ndef_front/gone.png,defect,station\n")
    assert evaluate_folder(root, Model(MODEL), tmp_path / "r") == 0
    err = capsys.readouterr().err
    assert f"station: note: {root}: not read, as not in ok_front/ or def_front/: def_front_2/, loose.jpeg, review/ (" in err
    assert "station: note: 1 of these crops are labelled by the station's own verdict (labels.csv, label_by station)" in err
    (root / "labels.csv").write_text("file\nx.png\n")  # which crops an operator labelled is not known: as teach, refused
    assert evaluate_folder(root, Model(MODEL), tmp_path / "r") == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "labels.csv: not an export's labels (expected the columns file and reason)" in said[0], said


def test_a_mistakes_tile_names_its_file_and_a_sheet_with_none_says_so(tmp_path: Path) -> None:
    from station.offline.evaluate import TILE, worst_png

    photo = sorted((SAMPLE / "def_front").iterdir())[0]
    escape = worst_png([Row(photo, 1, "pass", "ok", 0.01)])
    assert escape.shape[:2] == (TILE, TILE * 6) and int(escape[5:18, 10:100].min()) == 0, "a dark caption strip on top"
    assert int(escape[5:18, 10:100].max()) > 200, "white text on it"
    none = worst_png([Row(photo, 1, "reject", "defect", 0.99)])
    assert int(none.min()) < 200, "the words 'no mistakes', not a blank sheet"


def test_a_tile_names_why_a_part_has_no_score() -> None:
    assert tile_label(Row(Path("a.jpg"), 1, "pass", "ok", 0.0123)) == ("ESCAPE 0.012",)
    assert tile_label(Row(Path("b.jpg"), 0, "reject", "unable_to_inspect", float("nan"))) == ("FALSE REJ", "unable to inspect")


def test_eval_needs_both_class_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok_front").mkdir()
    assert evaluate_folder(tmp_path, Model(MODEL), tmp_path / "r") == 2
    (tmp_path / "Def_Front").mkdir()
    assert evaluate_folder(tmp_path, Model(MODEL), tmp_path / "r") == 2
    assert capsys.readouterr().err.rstrip().endswith("(Def_Front is there: the name is def_front, in lower case)")


def test_a_folder_below_a_label_that_cannot_be_listed_stops_eval_with_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    line = sample_line(tmp_path, 1)
    (line / "ok_front" / "tuesday").mkdir()
    deny_listing(monkeypatch, "tuesday")
    assert evaluate_folder(line, Model(MODEL), tmp_path / "r") == 2  # figures without its good parts would read f1 1.0
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith("tuesday: cannot list folder: Permission denied") and len(err.strip().splitlines()) == 1


def test_entries_that_are_not_files_are_named_and_one_class_gives_no_auc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok, bad = tmp_path / "ok_front", tmp_path / "def_front"
    ok.mkdir()
    bad.mkdir()
    for p in sorted((SAMPLE / "ok_front").iterdir())[:2]:
        shutil.copy(p, ok / p.name)
    (bad / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (bad / "loop.jpg").symlink_to(bad / "loop.jpg")
    os.mkfifo(bad / "pipe.jpg")  # reading it would block
    assert evaluate_folder(tmp_path, Model(MODEL), tmp_path / "r") == 0
    out, err = capsys.readouterr()
    for said in ("gone.jpg: a link that leads nowhere", "loop.jpg: a link that leads nowhere", "pipe.jpg: not a regular file"):
        assert said in err
    figures = json.loads(out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert figures["images"] == 2 and figures["auc"] is None and figures["skipped_files"] == 3


def test_a_link_or_a_pipe_in_the_report_folder_is_replaced_not_written_through(tmp_path: Path) -> None:
    report = tmp_path / "r"
    report.mkdir()
    victim = tmp_path / "station.yaml"
    victim.write_text("camera: {}\n")
    (report / "parts.csv").symlink_to(victim)
    os.mkfifo(report / "metrics.json")  # written through, it would wait for a reader for ever
    assert evaluate_folder(SAMPLE, Model(MODEL), report) == 0
    assert victim.read_text() == "camera: {}\n"
    assert json.loads((report / "metrics.json").read_text())["images"] == 36
    assert (report / "parts.csv").read_text().startswith("file,label,verdict") and not (report / "parts.csv").is_symlink()


def test_a_shadow_model_in_the_config_is_said_to_be_set_aside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """eval judges model.path alone; a shadow given with it is not silently taken for judged."""
    from station.cli import main

    assert main(["eval", str(SAMPLE), "--report", str(tmp_path / "plain")]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["eval", str(SAMPLE), "--report", str(tmp_path / "r"), "--set", f"model.shadow={MODEL}"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == plain
    assert f"station: note: model.shadow ({MODEL}) is not judged: eval judges model.path alone" in err


def test_a_report_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from station.cli import main
    from station.offline.evaluate import write_png

    with pytest.raises(StationError, match=r"nowhere/a\.png: cannot write the report picture"):
        write_png(tmp_path / "nowhere" / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "r").write_text("a file where the report folder should be")
    assert main(["eval", str(SAMPLE), "--report", str(tmp_path / "r")]) == 2
    out, err = capsys.readouterr()
    assert out == "", "refused before a photo was judged, not after"
    assert err.strip().splitlines() == [f"station: error: {tmp_path / 'r'}: cannot make the report folder: File exists"]
    assert main(["eval", str(SAMPLE), "--report", str(tmp_path / "r" / "below")]) == 2
    assert "cannot make the report folder" in capsys.readouterr().err
    assert main(["eval", str(SAMPLE), "--report", str(SAMPLE / "def_front" / "report")]) == 2  # judged as parts next time
    assert "--report is inside" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # the working directory: its files replaced without a word; a usage error
        main(["eval", str(SAMPLE), "--report", ""])
    assert stop.value.code == 2 and "--report: give the report's folder" in capsys.readouterr().err
    assert not (SAMPLE / "def_front" / "report").exists()


def test_eval_says_when_the_model_was_taught_on_the_photos_it_judges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = Model(MODEL)
    learnt = sorted((SAMPLE / "ok_front").iterdir())[:5]
    model.info = replace(model.info, taught_parts=frozenset(part_digest(read_image(p).image) for p in learnt))  # type: ignore[arg-type]
    assert evaluate_folder(SAMPLE, model, tmp_path / "r") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["taught_on"] == 5
    assert "was taught on 5 of these 36 photos" in err
    assert evaluate_folder(SAMPLE, Model(MODEL), tmp_path / "r") == 0
    assert "taught_on" not in json.loads(capsys.readouterr().out)


def test_an_exact_copy_counts_once_and_one_photo_under_both_labels_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As teaching treats them: before, a copy was judged twice, and a photo under both labels was a silent false reject
    or escape, whichever it was."""
    for sub in ("ok_front", "def_front"):
        (tmp_path / sub).mkdir()
        for p in sorted((SAMPLE / sub).iterdir())[:2]:
            shutil.copy(p, tmp_path / sub / p.name)
    good = sorted((tmp_path / "ok_front").iterdir())[0]
    shutil.copy(good, tmp_path / "ok_front" / "zz-again.jpeg")
    assert evaluate_folder(tmp_path, Model(MODEL), tmp_path / "r") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["images"] == 4 and f"zz-again.jpeg: an exact copy of {good}, counted once" in err
    shutil.copy(good, tmp_path / "def_front" / "zz-wrong.jpeg")
    assert evaluate_folder(tmp_path, Model(MODEL), tmp_path / "r") == 2
    assert f"zz-wrong.jpeg: the same photo as {good}, labelled defective here and good there: fix a label" in capsys.readouterr().err
    (tmp_path / "def_front" / "zz-wrong.jpeg").unlink()
    for sub in ("ok_front", "def_front"):  # a blank under both labels: not inspectable, a reject either way (teaching takes it)
        cv2.imwrite(str(tmp_path / sub / "blank.png"), np.full((300, 300), 128, np.uint8))
    assert evaluate_folder(tmp_path, Model(MODEL), tmp_path / "r") == 0
    assert json.loads(capsys.readouterr().out)["not_inspected"] == 2


def test_a_file_name_that_is_not_utf8_is_escaped_in_the_report_and_drawn_as_ascii(tmp_path: Path) -> None:
    """Linux names are bytes: one that is not UTF-8 crashed parts.csv, and as a tile's caption it crashed OpenCV."""
    root = tmp_path / "line"
    for sub in ("ok_front", "def_front"):
        shutil.copytree(SAMPLE / sub, root / sub)
    odd = os.fsdecode(bytes(root / "ok_front") + b"/part\xff.jpeg")  # a defective photo labelled good: a false reject, drawn
    photo = read_image(sorted((SAMPLE / "def_front").iterdir())[0]).image
    assert photo is not None
    Path(odd).write_bytes(cv2.imencode(".png", photo[:, ::-1])[1].tobytes())  # mirrored: no copy of the defective one
    assert evaluate_folder(root, Model(MODEL), tmp_path / "r") == 0
    assert "ok_front/part\\udcff.jpeg" in (tmp_path / "r" / "parts.csv").read_text(encoding="utf-8")
    assert cv2.imread(str(tmp_path / "r" / "worst_mistakes.png")) is not None


def test_a_reports_cell_a_spreadsheet_would_take_for_a_formula_is_written_as_text(tmp_path: Path) -> None:
    """parts.csv names each photo as its path has it: a photo named =1+1.png was a formula in a spreadsheet."""
    write_csv(tmp_path / "parts.csv", ["file", "score"], [["def_front/=1+1.png", "0.5"], ["=1+1.png", "-0.25"]])
    assert (tmp_path / "parts.csv").read_text().splitlines() == ["file,score", "def_front/=1+1.png,0.5", "'=1+1.png,-0.25"]


def test_one_part_in_a_bin_is_a_bar_you_can_see_beside_hundreds() -> None:
    """One escape among 464 defects was drawn 0 px tall, and on a linear axis next to the good parts' bar: the histogram hid
    the one part that mattered."""
    from station.offline.evaluate import histogram_png

    scores = np.concatenate([np.full(464, 0.999), [0.06], np.full(333, 0.001)])
    y = np.array([1] * 465 + [0] * 333)
    img = histogram_png(scores, y, 0.5)
    red = (img[360 - 42] == (60, 60, 200)).all(axis=1)  # the row just above the axis
    bars = np.flatnonzero(np.diff(red.astype(np.int8)) == 1)  # where a red bar begins
    assert len(bars) == 2  # the 464 near 1.0, and the one at 0.06, on a log-odds axis far apart


def test_scores_that_crowd_at_0_are_told_apart_on_the_histograms_log_odds_axis() -> None:
    """A good part at 0.02 and 333 at 0.0001 fell in one bar of a linear axis (0 to 0.025): the part nearest the limit was
    hidden among those furthest from it."""
    from station.offline.evaluate import histogram_png

    img = histogram_png(np.concatenate([np.full(333, 0.0001), [0.02]]), np.zeros(334, np.int64), 0.5)
    green = (img[360 - 42] == (60, 160, 60)).all(axis=1)
    assert len(np.flatnonzero(np.diff(green.astype(np.int8)) == 1)) == 2
