"""Inference stage: a model's non-finite score is counted and rejected as an error, never judged."""

from __future__ import annotations

from pathlib import Path

from station.messages import Frame, Part, Reason, Verdict
from station.metrics import Metrics
from station.model import Model
from station.stages.decision import DecisionStage
from station.stages.inference import InferenceStage
from station.stages.preprocess import PreprocessStage
from station.stills import read_image

from .conftest import SAMPLE
from .hostile_models import loops_above, nan_above, two_above


def _defects_judged(model: Model, m: Metrics, first: int | None = None) -> list[Verdict]:
    """The bundled defects (the ``first`` of them) through preprocess, inference and decision with ``model``, as on the line."""
    crop, infer, decide = PreprocessStage(model.info.spec, m), InferenceStage(model, m), DecisionStage(model.info, m)
    verdicts = []
    for i, p in enumerate(sorted((SAMPLE / "def_front").iterdir())[:first]):
        image = read_image(p).image
        assert image is not None
        verdicts += decide(infer(crop(Part(i, Frame(i, image, 0.0, 0.0)))[0])[0])
    return verdicts


def test_nan_scores_are_counted_no_defect_passes_and_each_nan_is_rejected_as_error(tmp_path: Path) -> None:
    model = Model(nan_above(tmp_path / "nan.onnx"))  # straight in, past the gate: the stage itself must hold
    m = Metrics()
    verdicts = _defects_judged(model, m)
    assert verdicts and all(v.verdict == "reject" for v in verdicts)
    nan = [v for v in verdicts if v.reason is Reason.ERROR]
    assert nan and all(v.score is None and "not a finite score" in v.detail for v in nan)
    assert m.registry.get_sample_value("station_invalid_scores_total") == len(nan)


def test_a_model_giving_several_numbers_for_one_crop_is_rejected_as_error_never_its_first_number_passed(tmp_path: Path) -> None:
    """A graph whose output is [[p]] on good parts (and so on a self-test) but [[0.001, p]] on defects: the first number was
    taken as the score and every defect passed."""
    model = Model(two_above(tmp_path / "two.onnx"))  # straight in, past the gate: the stage itself must hold
    m = Metrics()
    verdicts = _defects_judged(model, m)
    assert len(verdicts) == len(list((SAMPLE / "def_front").iterdir())) and all(v.verdict == "reject" for v in verdicts)
    errors = [v for v in verdicts if v.reason is Reason.ERROR]
    assert errors and all("gave 2 numbers for 1 crop, not one score each" in v.detail for v in errors)
    assert all(v.reason in (Reason.ERROR, Reason.UNABLE) for v in verdicts)


def test_a_model_that_never_finishes_on_a_part_rejects_that_part_as_error_and_the_line_goes_on(tmp_path: Path) -> None:
    """A graph that loops two billion turns on defects (its self-test's good parts run at once): the stage waited for ever,
    and no later part got a verdict."""
    model = Model(loops_above(tmp_path / "loops.onnx"), run_bound_s=0.2)  # straight in, past the gate
    verdicts = _defects_judged(model, Metrics(), first=4)
    assert len(verdicts) == 4 and all(v.verdict == "reject" for v in verdicts)
    assert any("the model's run was ended: it ran past 0.2 s" in v.detail for v in verdicts)
