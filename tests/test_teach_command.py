"""station teach end to end on the bundled sample (small and quick: one epoch), and its cross-fitting."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import station
from station.config import SHIPPED_MODEL, load_config
from station.gate import admit
from station.metrics import Metrics
from station.model import META_TAUGHT
from station.stills import read_image
from station.teach.candidates import WHAT
from station.teach.command import cross_fit
from station.teach.finetune import Recipe, plain, score
from station.teach.parts import Sample

from .conftest import ROOT, SAMPLE
from .teaching import asked
from .teaching import teach_sample as _teach

pytest.importorskip("torch", reason="station teach needs PyTorch (pip install -e '.[train]')")
SHIPPED_DIGEST = hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest()


def test_every_held_out_score_comes_from_a_network_that_never_saw_the_part() -> None:
    samples = [Sample(np.zeros((4, 4), np.uint8), None, i % 2, f"p{i}") for i in range(12)]  # type: ignore[arg-type]
    crops = np.arange(12, dtype=np.float32)[:, None, None]
    fold = np.array([0, 1, 2] * 4)

    def memorise(part: list[Sample], seed: int, desc: str) -> Any:
        return {int(s.origin[1:]) for s in part}  # the "network" is the set of parts it learnt

    def scorer(seen: Any, c: np.ndarray) -> np.ndarray:
        return np.array([1.0 if int(x[0, 0]) in seen else 0.5 for x in c])

    held_out = cross_fit(samples, crops, fold, memorise, scorer, seed=0)
    assert np.all(held_out == 0.5)


def test_a_qualified_line_is_an_ordinary_model_file_with_what_it_was_taught(taught: tuple[Path, Path]) -> None:
    import onnx

    from station.model import Model

    out, report = taught
    model = admit(out)  # the station's own gate, on the crops of its line it carries
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    info = json.loads(meta[META_TAUGHT])
    assert info["line"] == "test line" and info["counts"] == {"ok": 18, "defective": 18, "not_inspectable": 0, "unreadable": 0}
    assert info["base_model"].startswith("defect-") and info["samples_fingerprint"] and info["validation"]["parts"] == 36
    assert info["validation"]["escape_rate_upper_95"] > 0.15  # 18 held-out defects cannot show that fewer than 15 % pass
    figures = json.loads((report / "metrics.json").read_text())
    assert figures["qualified"] and set(figures["candidates"]) == {"taught", "base-line-threshold", "base-rectified", "base-as-shipped"}
    assert info["network"] == figures["network"]
    assert model.info.version == f"{Model(SHIPPED_MODEL).info.version}+test-line" and "+test-line-" in model.info.model_id
    assert model.info.threshold == figures["threshold"] and list(model.info.band) == figures["uncertain_band"]
    assert figures["pass_limit"] == model.info.band[0], "a part passes under the band's lower edge"
    with (report / "parts.csv").open(newline="") as f:  # each part's row, as a spreadsheet reads it
        rows = list(csv.DictReader(f))
    assert len(rows) == 36 and {r["fold"] for r in rows} <= {"1", "2", "3", "4"} and set(rows[0]) >= set(figures["candidates"])
    assert [r["part"] for r in rows if not r["mistake"]] == [
        p["part"] for p in figures["held_out_scores"] if (p["honest"] == "pass") == (p["label"] == 0)
    ]  # mistakes first
    assert all((r["at_pass_limit"] == "pass") == (float(r["score"]) < model.info.band[0]) for r in rows)
    written = figures["written"]  # the report names the file it is the report of
    assert (written["model"], written["file"], written["station"]) == (model.info.model_id, str(out), station.__version__)
    assert {p.name for p in report.iterdir()} >= {"confusion_matrix.png", "score_histograms.png", "heldout_mistakes.png"}
    scored = [s for s in figures["held_out_scores"] if s["label"] == 1]
    assert all(s["by_candidate"][figures["network"]] == s["score"] and len(s["by_candidate"]) == 4 for s in figures["held_out_scores"])
    assert min(s["score"] for s in scored) >= figures["uncertain_band"][0]  # no held-out defect passes
    assert hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest() == SHIPPED_DIGEST  # teaching never touches the shipped model


def test_a_base_taught_on_some_of_the_parts_is_refused_before_any_teaching(taught: tuple[Path, Path], tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Its figures on the parts it learnt would be no held-out figures: before, the base as shipped won, with the threshold
    set on those very parts by the first teaching, and the report said each part was judged by a network that never saw it."""
    out, _ = taught
    assert len(admit(out).info.taught_parts) == 36  # each part it learnt from, as a digest of its pixels
    some = tmp_path / "some"
    for sub in ("ok_front", "def_front"):
        (some / sub).mkdir(parents=True)
        for p in sorted((SAMPLE / sub).iterdir())[:13]:
            shutil.copy(p, some / sub / p.name)
    code, again, _ = _teach(tmp_path, "--base", str(out), source=some)
    assert code == 2 and not again.exists()
    assert f"{out}: it was taught on 26 of these 26 parts" in capsys.readouterr().err
    other = tmp_path / "other"  # the same photos mirrored: other pixels, so other parts as far as digests go
    for p in some.glob("*/*"):
        (other / p.parent.name).mkdir(parents=True, exist_ok=True)
        image = read_image(p).image
        assert image is not None
        cv2.imwrite(str(other / p.parent.name / f"{p.stem}.png"), image[:, ::-1])
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    code, second, _ = _teach(tmp_path / "b", "--base", str(out), source=other)
    assert code == 0, capsys.readouterr().err[-2000:]
    assert admit(second).info.taught_parts >= admit(out).info.taught_parts  # it holds what its base learnt
    assert len(admit(second).info.taught_parts) == 36 + 26
    code, third, _ = _teach(tmp_path / "c", "--base", str(second), source=some)  # the first base's parts, through the second
    assert code == 2 and not third.exists() and "it was taught on 26 of these 26 parts" in capsys.readouterr().err


def test_a_taught_models_version_names_its_line_once() -> None:
    from station.model import MAX_VERSION
    from station.teach.command import taught_version

    assert taught_version("1.0.0", "Line A / shift 2") == "1.0.0+line-a-shift-2" and taught_version("1.0.0", "") == "1.0.0+taught"
    assert taught_version("1.0.0+line-a", "line b") == "1.0.0+line-b"  # taught again from a taught base
    long = taught_version("1.0.0", "a" * 70_000)  # the whole name is in the teach record; the id every verdict carries stays short
    assert long == "1.0.0+" + "a" * 58 and len(long) == MAX_VERSION
    assert taught_version("9" * MAX_VERSION, "line a") == "9" * MAX_VERSION


def test_station_teach_fine_tunes_with_the_anchor_and_from_scratch_without(taught: tuple[Path, Path], tmp_path: Path) -> None:
    """The recipe the command used, as its report says (what the anchor does: test_teach_finetune.py)."""
    _, report = taught
    assert json.loads((report / "metrics.json").read_text())["recipe"]["anchor"] == Recipe.anchor > 0
    code, _, scratch = _teach(tmp_path, "--from-scratch", "--max-escape-rate", "100", "--max-false-reject-rate", "100")
    assert code in (0, 1)  # written or refused, the recipe is in the report either way
    assert json.loads((scratch / "metrics.json").read_text())["recipe"]["anchor"] == 0.0


def test_from_scratch_the_network_written_is_one_network_taught_on_every_part_and_a_base_for_more_teaching(tmp_path: Path) -> None:
    from station.model import Model
    from station.teach.command import _taught_network, fresh_start
    from station.teach.finetune import fit
    from station.teach.samples import collect
    from station.teach.weights import from_onnx, write_model

    base = Model(SHIPPED_MODEL)
    samples = collect([SAMPLE], base.info.spec, load_config(None, [])).samples
    args = asked("--from-scratch", "--seed", "3", "--folds", "2")
    start, recipe = fresh_start(base, 3), Recipe(epochs=1, anchor=0.0)
    folds = [fit(start, samples[k::2], base.info.spec, recipe, k, "fold", fresh=True) for k in (0, 1)]
    net = _taught_network(True, folds, args, start, samples, base.info.spec, recipe)
    alone = fit(start, samples, base.info.spec, recipe, 3 + 2, "all parts", fresh=True)  # seed + folds, as teach's final network
    assert type(net) is type(start)  # one network, not the fold networks' mean
    weights = [[p.detach().numpy() for p in n.parameters()] for n in (net, alone, start)]
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))  # that network: the folds play no part
    assert any(not np.array_equal(a, c) for a, c in zip(weights[0], weights[2], strict=True))  # it learnt
    write_model(net, tmp_path / "scratch.onnx", base.info, 0.5, (0.4, 0.5), {})
    again = from_onnx(tmp_path / "scratch.onnx", Model(tmp_path / "scratch.onnx"))  # it can be the base of another line's teaching
    crops = plain(samples, base.info.spec)
    assert np.allclose(score(again, crops), score(net, crops), atol=1e-4)


def test_a_network_from_scratch_starts_from_weights_its_seed_draws() -> None:
    from station.model import Model
    from station.teach.command import fresh_start

    base = Model(SHIPPED_MODEL)
    a, b, c = fresh_start(base, 7), fresh_start(base, 7), fresh_start(base, 8)
    first = [p.detach().numpy() for p in a.parameters()]
    assert all(np.array_equal(x, y.detach().numpy()) for x, y in zip(first, b.parameters(), strict=True))
    assert any(not np.array_equal(x, y.detach().numpy()) for x, y in zip(first, c.parameters(), strict=True))


def test_the_gate_refuses_a_line_it_cannot_learn_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shuffled = tmp_path / "shuffled"  # labels drawn at random: nothing to learn
    rng = np.random.default_rng(1)
    photos = sorted(SAMPLE.glob("*/*.jpeg"))
    for p, label in zip(photos, rng.permutation([0, 1] * (len(photos) // 2)), strict=True):
        dest = shuffled / ("def_front" if label else "ok_front")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dest / p.name)
    code, out, report = _teach(tmp_path, source=shuffled)
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert (
        "not qualified" in err
        and "collect more" in err
        and "(95% upper bounds, each photo counted as a part, for the best of 4 candidates): at most" in err
    )
    figures = json.loads((report / "metrics.json").read_text())
    assert figures["qualified"] is False
    assert figures["advice"] and all(f"not qualified: {a}" in err for a in figures["advice"])  # the report keeps what was said
    parts, held = figures["held_out_scores"], figures["held_out"]  # each part's honest verdict: the parts behind the counts
    assert sum(p["label"] == 1 and p["honest"] == "pass" for p in parts) == held["escapes"] > 0
    assert sum(p["label"] == 0 and p["honest"] == "reject" for p in parts) == held["false_rejects"]
    assert all((p["score"] < p["judged_at"]) == (p["honest"] == "pass") for p in parts)


def test_a_line_with_many_parts_it_cannot_inspect_is_refused_before_teaching_with_its_parts_in_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    line = tmp_path / "line"
    shutil.copytree(SAMPLE, line)
    for k in range(10):  # 10 of 46 parts (22 %) the station cannot read
        (line / "ok_front" / f"torn_{k}.jpeg").write_bytes(b"not a photo")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "heldout_mistakes.png").write_bytes(b"an earlier run's")
    code, out, report = _teach(tmp_path, "--epochs", "200", source=line)  # were it taught, it would take an hour
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert "10 of the 46 parts (21.7%, allowed 20%) could not be inspected or read" in err and "not a decodable image" in err
    assert "; 0 could not be inspected, 10 files no image can be read from" in err and "no image (not a decodable image" in err
    assert "a file problem, not a model one" in err  # not a framing one: no part was ever seen
    assert "folds learnt" not in err and "nothing written" in err
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["qualified"] is False and len(metrics["not_inspectable"]) == 10
    assert not (report / "heldout_mistakes.png").exists()  # no picture of an earlier run beside this refusal


def test_without_the_train_extra_it_says_what_to_install(tmp_path: Path) -> None:
    code = "import sys; sys.modules['torch'] = None; from station.cli import main; sys.exit(main(sys.argv[1:]))"
    p = subprocess.run([sys.executable, "-c", code, "teach", str(SAMPLE), "--out", str(tmp_path / "m.onnx")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["station: error: station teach needs PyTorch and onnx: pip install '.[train]'"]


@pytest.mark.integration
def test_a_trial_run_reviewed_and_exported_teaches_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The commissioning loop: a trial run archives every part, an operator labels each on the review page's code path,
    the export of the reviewed parts is a source teaching reads, and the model it writes is admitted."""
    from station import supervisor
    from station.export import export
    from station.model import Model
    from station.pipeline import RunOptions
    from station.review import Review
    from station.sources import source_for

    archive = tmp_path / "archive"
    run = ["metrics.enabled=false", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]
    cfg = load_config(None, [*run, f"archive.dir={archive}", "archive.pass_sample=1.0"])
    for folder in ("ok_front", "def_front"):  # two trial runs into one archive
        opts = RunOptions(out=tmp_path / f"{folder}.jsonl")
        assert supervisor.run_pipeline(cfg, Model(SHIPPED_MODEL), source_for(str(SAMPLE / folder)), opts) == 0
    review = Review(archive, "a-token-of-sixteen-chars", Metrics())
    sides = sorted(archive.glob("*/*/*.json"))
    truth = {"def_front": "defect", "ok_front": "good"}
    for side in sides:  # the operator labels every part by what it is (the photo's folder is the ground truth)
        image = Path(json.loads(side.read_text())["image"])
        review.label(side.relative_to(archive).with_suffix("").as_posix(), truth[image.parent.name], "Ana", 0.0)
    counts = export(archive, tmp_path / "export", reviewed_only=True).counts
    photos = {k: len(list((SAMPLE / k).iterdir())) for k in truth}
    assert counts == {**photos, "review": 0} and len(sides) == sum(photos.values())
    capsys.readouterr()
    gate = ("--max-false-reject-rate", "6")  # the shipped model rejects 1 of the sample's 18 good parts (cast_ok_0_6134): 5.6 %
    code, out, report = _teach(tmp_path, *gate, source=tmp_path / "export")
    assert code == 0, "the sample's line qualifies"
    said = capsys.readouterr().err
    figures = json.loads((report / "metrics.json").read_text())
    assert f"wrote {out}: {WHAT[figures['network']]}; parts pass under {figures['pass_limit']:.3f} (the base model: under" in said
    assert "fewer than the 100 parts of each kind advised" in said, "18 of each: the figures cannot say much"
    assert said.count(": network taught (") >= 2, "no terminal for the bar: a line for each network (2 folds, maybe a final one)"
    assert "replacing" not in said
    assert _teach(tmp_path, *gate, source=tmp_path / "export")[0] == 0
    assert f"wrote {out} (replacing the file that was there): " in capsys.readouterr().err, "taught again into one file: said"
    import onnx

    admit(out)
    info = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}[META_TAUGHT])
    assert info["counts"] == {"ok": photos["ok_front"], "defective": photos["def_front"], "not_inspectable": 0, "unreadable": 0}
    assert json.loads((report / "metrics.json").read_text())["sources"] == [str(tmp_path / "export")]


def test_the_base_network_made_round_is_written_as_the_base_network_that_rectifies(tmp_path: Path) -> None:
    """A base candidate that wins is the base model's own graph with the line's operating point and preprocessing."""
    from station.model import Model
    from station.teach.candidates import Candidate
    from station.teach.command import _write, taught_spec
    from station.teach.samples import collect
    from station.teach.threshold import Outcome, operating_point

    base = Model(SHIPPED_MODEL)
    spec = taught_spec(base)
    col = collect([SAMPLE], spec, load_config(None, []))
    labels = np.array([s.label for s in col.samples], np.int64)
    crops = plain(col.samples, spec)
    scores = base.score(crops).astype(np.float64)
    thr, band = operating_point(scores, labels)
    pick = Candidate("base-rectified", spec, crops, scores, Outcome(len(labels), int(labels.sum()), 0, 0), thr, band)
    figures = {"line": "tilted", "counts": col.counts(), "held_out": pick.judged.as_dict(), "margin": 1.0,
               "gate": {"max_escape_rate": 0.0, "max_false_reject_rate": 0.03}}  # fmt: skip
    out = tmp_path / "round.onnx"
    assert _write(out, None, base, pick, figures, col, labels, seed=1) is None
    written = Model(out)
    assert written.info.spec == spec and spec.rectify and not base.info.spec.rectify
    assert (written.info.threshold, written.info.band) == (thr, band)
    assert np.array_equal(written.score(crops), base.score(crops))
    assert list(tmp_path.iterdir()) == [out]  # no .part left behind


@pytest.mark.integration
def test_sigterm_stops_teaching_at_once_with_one_line_and_leaves_no_file_behind(tmp_path: Path) -> None:
    import signal
    import time

    out, report, log = tmp_path / "out" / "line.onnx", tmp_path / "report", tmp_path / "stderr.txt"
    out.parent.mkdir()
    with log.open("w") as stderr:  # 200 epochs: minutes of teaching, stopped in the first fold
        proc = subprocess.Popen([sys.executable, "-m", "station", "teach", str(SAMPLE), "--out", str(out), "--report", str(report),
                                 "--epochs", "200"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and "parts to learn from" not in log.read_text() and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = log.read_text()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == "station teach: stopped by SIGTERM; no model written"
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []


def test_more_folds_than_groups_of_parts_are_as_many_folds_as_there_are_groups_and_said(capsys: pytest.CaptureFixture[str]) -> None:
    from station.model import Model
    from station.teach.command import _folds
    from station.teach.samples import collect, rectified

    spec = Model(SHIPPED_MODEL).info.spec
    samples = rectified(collect([SAMPLE], spec, load_config(None, [])))
    labels = np.array([s.label for s in samples], np.int64)
    fold, used, fewest = _folds(samples, replace(spec, rectify=True), labels, 1000, 3)
    assert used == int(fold.max()) + 1 == len(np.unique(fold)) < 1000
    assert fewest == min(len(np.unique(fold[labels == c])) for c in (0, 1)) <= used  # the kind with fewest groups fills as many folds
    assert f"{used} folds, not 1000: the parts of one kind fall into at most" in capsys.readouterr().err
    assert _folds(samples, replace(spec, rectify=True), labels, 2, 3)[1] == 2


def test_taught_networks_that_give_parts_no_number_are_said_to_have_diverged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Such a candidate is never written; before, a base candidate was written without a word about why."""
    from station.teach import command

    def diverged(net: Any, crops: np.ndarray) -> np.ndarray:
        return np.full(len(crops), np.nan)

    monkeypatch.setattr(command, "score", diverged)
    code, out, report = _teach(tmp_path)
    assert "the taught networks gave 36 of 36 parts no number (they diverged: teach with a smaller --lr)" in capsys.readouterr().err
    assert json.loads((report / "metrics.json").read_text())["network"] != "taught"
    assert code in (0, 1) and out.exists() == (code == 0)


def test_the_written_networks_scores_as_the_station_runs_its_file_are_onnx_runtimes_of_that_file() -> None:
    """What the last check judges besides PyTorch's scores: the network written as the model would be, and scored by the
    station's own Model (ONNX Runtime, its unwrap). The shipped network, rebuilt, scores as the shipped file does."""
    from station.model import Model
    from station.teach.candidates import Candidate
    from station.teach.command import as_file, taught_spec
    from station.teach.samples import collect
    from station.teach.threshold import Outcome
    from station.teach.weights import from_onnx

    base = Model(SHIPPED_MODEL)
    samples = collect([SAMPLE], taught_spec(base), load_config(None, [])).samples
    crops = plain(samples, base.info.spec)
    judged = Outcome(len(samples), sum(s.label for s in samples), 0, 0)
    pick = Candidate("taught", base.info.spec, crops, np.zeros(len(samples)), judged, base.info.threshold, base.info.band)
    with as_file(from_onnx(SHIPPED_MODEL, base), base, pick) as run:
        got = run(crops)
    assert got.shape == (len(samples),) and np.allclose(got, base.score(crops), atol=1e-5)
