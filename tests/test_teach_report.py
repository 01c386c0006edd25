"""The teaching report: what station teach leaves in its folder, refused or not, and when the folder will not take it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from station.errors import ModelError
from station.gate import admit

from .teaching import teach_sample as _teach

pytest.importorskip("torch", reason="station teach needs PyTorch (pip install -e '.[train]')")


def test_a_qualified_model_the_stations_gate_refuses_exits_1_and_the_report_says_not_qualified(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from station.teach import command

    def admit_all_but_the_written(path: Path) -> Any:
        if path.name.endswith(".part"):
            raise ModelError(f"{path}: refused by the self-test: scores are not numbers")
        return admit(path)

    monkeypatch.setattr(command, "admit", admit_all_but_the_written)
    code, out, report = _teach(tmp_path)
    assert code == 1 and not out.exists() and not list(tmp_path.glob("*.part"))
    assert f"not written: {out}: the taught model failed the station's own gate" in capsys.readouterr().err
    figures = json.loads((report / "metrics.json").read_text())
    assert figures["qualified"] is False and "scores are not numbers" in figures["refusals"][0]
    assert (report / "heldout_mistakes.png").exists()  # this run's pictures stay beside it


def test_a_teaching_report_that_cannot_be_written_is_one_error_naming_its_folder(tmp_path: Path) -> None:
    from station.errors import StationError
    from station.teach import report

    (tmp_path / "metrics.json").mkdir()  # something in the way of the file
    with pytest.raises(StationError, match=f"{tmp_path}: cannot write the teaching report: Is a directory"):
        report.write_metrics(tmp_path, {"qualified": False})


def test_a_mistakes_tile_says_so_where_the_written_pass_limit_judges_the_part_the_other_way() -> None:
    """The sheet judges each part by the other folds' limit, the model file by its own: a good part at 0.751 was drawn as
    judged right while the written limit 0.742 rejects it, and nothing on the sheet said so."""
    import numpy as np

    from station.teach.parts import Sample
    from station.teach.report import mistakes_png

    samples = [Sample(np.zeros((8, 8), np.uint8), None, 0, f"p{i}") for i in range(2)]  # type: ignore[arg-type]
    crops, scores, limits = np.zeros((2, 8, 8), np.float32), np.array([0.751, 0.2]), np.array([0.8, 0.8])
    same = mistakes_png(samples, crops, scores, limits, 3.0, written=0.8)
    other = mistakes_png(samples, crops, scores, limits, 3.0, written=0.742)
    from station.offline.evaluate import TILE

    assert not np.array_equal(same[:, :TILE], other[:, :TILE])  # the first part's tile (highest score first) has a second line
    assert np.array_equal(same[:, TILE : 2 * TILE], other[:, TILE : 2 * TILE])  # the second, judged alike both ways, is not


@pytest.mark.parametrize("writing", [True, False])
def test_the_summary_names_the_candidate_and_speaks_of_a_network_written_only_when_one_is(writing: bool) -> None:
    """A refused line was told "the network written learns from every part" just before "nothing written"."""
    import numpy as np

    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate
    from station.teach.report import summary
    from station.teach.threshold import Outcome

    pick = Candidate("taught", PreprocessSpec(), np.zeros((4, 2, 2), np.float32), np.zeros(4), Outcome(4, 2, 0, 0), 0.5, (0.3, 0.5))
    said = summary(pick, Outcome(4, 2, 1, 1), 4, writing)
    assert said[0].startswith("held out (the network taught on the line's parts; each part judged by a network")
    assert "the base model on the same parts: 1 of 2 defective pass, 1 of 2 good rejected" in said[0]
    assert "(95% upper bounds, each photo counted as a part, for the best of 4 candidates)" in said[1]
    assert any("the network written learns from every part" in x for x in said) is writing
