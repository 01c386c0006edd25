"""station/teach/candidates.py: the ranking on honest held-out figures, and which candidate is written."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from station.teach.candidates import AS_SHIPPED
from station.teach.parts import Sample
from station.teach.threshold import Gate

from .teaching import asked


def test_between_candidates_that_cost_the_same_the_one_with_fewer_parts_near_its_limit_wins() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate
    from station.teach.threshold import Outcome

    judged = Outcome(4, 2, 0, 0)  # both judge every held-out part right
    crops = np.zeros((4, 2, 2), np.float32)
    close = Candidate("base-line-threshold", PreprocessSpec(), crops, np.array([0.4, 0.45, 0.7, 0.75]), judged, 0.5, (0.5, 0.5))
    apart = Candidate("taught", PreprocessSpec(), crops, np.array([0.001, 0.002, 0.998, 0.999]), judged, 0.5, (0.5, 0.5))
    assert close.cost()[0] == apart.cost()[0] and close.cost() > apart.cost()
    assert min((close, apart), key=lambda c: c.cost()) is apart
    worse = Candidate("taught", PreprocessSpec(), crops, apart.held_out, Outcome(4, 2, 1, 0), 0.5, (0.5, 0.5))
    assert min((close, worse), key=lambda c: c.cost()) is close  # the held-out figures come first
    broken = Candidate("taught", PreprocessSpec(), crops, np.array([np.nan, 0.0, 1.0, 1.0]), judged, 0.5, (0.5, 0.5))
    assert min((broken, close), key=lambda c: c.cost()) is close  # no number for a part: never chosen


def test_between_candidates_with_no_part_near_their_limits_the_one_whose_nearest_part_is_further_wins() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate
    from station.teach.threshold import Outcome

    judged, crops = Outcome(4, 2, 0, 0), np.zeros((4, 2, 2), np.float32)
    base = Candidate("base-line-threshold", PreprocessSpec(), crops, np.array([0.05, 0.1, 0.9, 0.95]), judged, 0.5, (0.5, 0.5))
    taught = Candidate("taught", PreprocessSpec(), crops, np.array([0.01, 0.02, 0.97, 0.99]), judged, 0.5, (0.5, 0.5))
    assert base.cost()[:2] == taught.cost()[:2] == (0, 0)  # the same figures, no part within 1 log-odds
    assert min((base, taught), key=lambda c: c.cost()) is taught  # its nearest part, 0.97, is 3.5 log-odds from 0.5; base's 2.2
    assert min((base, base), key=lambda c: c.cost()) is base  # exact equals: the first, which changes least


def _ranked(*names: str) -> list[Any]:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate
    from station.teach.threshold import Outcome

    return [Candidate(n, PreprocessSpec(), np.zeros((2, 2, 2), np.float32), np.array([0.1, 0.9]), Outcome(2, 1, 0, 0), 0.5, (0.5, 0.5))
            for n in names]  # fmt: skip


def test_a_candidate_whose_written_network_fails_the_last_check_gives_way_to_the_next_the_gate_takes() -> None:
    from station.teach.candidates import choose

    ranked = _ranked("taught", "refused", "base-rectified", "base-line-threshold")
    built: list[str] = []

    def build(c: Any) -> tuple[Any, str]:
        built.append(c.name)
        return (None, "passes a taught defect") if c.name == "taught" else (f"net of {c.name}", "")

    pick, net, why, passed_over = choose(ranked, lambda c: ["too many escapes"] if c.name == "refused" else [], build)
    assert (pick.name, net, why) == ("base-rectified", "net of base-rectified", [])
    assert passed_over == ["taught: passes a taught defect"]  # in the report: the taught networks were not written, and why
    assert built == ["taught", "base-rectified"]  # the refused one was never built, nor any after the one written


def test_when_no_candidate_is_left_the_reasons_are_the_best_ones_refusals_then_every_failed_last_check() -> None:
    from station.teach.candidates import choose

    ranked = _ranked("taught", "base-line-threshold")
    pick, net, why, _ = choose(ranked, lambda c: [f"{c.name} refused"], lambda c: (None, ""))
    assert (pick.name, net, why) == ("taught", None, ["taught refused"])
    pick, net, why, _ = choose(ranked, lambda c: [], lambda c: (None, f"{c.name} fails"))
    assert (pick.name, net) == ("taught", None) and why == ["taught: taught fails", "base-line-threshold: base-line-threshold fails"]
    pick, net, why, _ = choose(ranked, lambda c: ["refused"] if c.name == "taught" else [], lambda c: (None, f"{c.name} fails"))
    assert pick.name == "taught" and why == ["refused", "base-line-threshold: base-line-threshold fails"]  # the best's reasons first


def test_a_candidate_that_gives_a_part_no_number_is_never_written_even_when_the_gate_would_take_it() -> None:
    from station.teach.candidates import choose

    good, broken = _ranked("base-line-threshold", "taught")
    broken = replace(broken, held_out=np.array([0.1, np.nan]))
    pick, net, why, _ = choose([good, broken], lambda c: ["refused"] if c is good else [], lambda c: ("net", ""))
    assert (pick, net, why) == (good, None, ["refused"])
    pick, net, why, _ = choose([broken], lambda c: [], lambda c: ("net", ""))  # a gate that takes anything: still nothing written
    assert (pick, net, why) == (broken, None, ["no candidate gave every held-out part a number"])


def test_nothing_is_written_when_the_written_limit_would_pass_more_held_out_defects_than_the_gate_allows() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate, last_check
    from station.teach.threshold import Gate, Outcome

    labels = np.array([0, 0, 1, 1])
    held = np.array([0.1, 0.2, 0.15, 0.9])  # one defect below the limit: the fold-by-fold figures said none passed
    pick = Candidate("base-line-threshold", PreprocessSpec(), np.zeros((4, 2, 2), np.float32), held, Outcome(4, 2, 0, 0), 0.5, (0.3, 0.5))
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    assert "1 of 2 held-out defective parts pass" in last_check(pick, None, labels, samples, Gate())
    assert last_check(pick, None, labels, samples, Gate(max_escape_rate=0.5)) == ""


def test_the_gate_a_refusal_suggests_takes_the_figures_and_the_written_limit_alike() -> None:
    import re

    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate, advice, last_check
    from station.teach.threshold import Gate, Outcome, short_of

    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    held = np.array([0.1, 0.2, 0.05, 0.15, 0.25, 0.9, 0.95, 0.97, 0.99, 0.8])  # 2 of 7 defects pass the written limit
    judged = Outcome(10, 7, 1, 0)  # fold by fold only one did
    pick = Candidate("taught", PreprocessSpec(), np.zeros((10, 2, 2), np.float32), held, judged, 0.5, (0.3, 0.5))
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    told = advice(pick, labels, samples, Gate())
    assert told[0] == "check the labels of the held-out defective parts that passed: p3 (0.150), p4 (0.250)"  # the mistakes alone
    assert not any("good parts that were rejected" in line for line in told)  # none was
    said = told[-1]
    match = re.search(r"--max-escape-rate ([0-9.]+) --max-false-reject-rate ([0-9.]+)", said)
    assert match is not None and float(match[1]) == 28.6  # 2 of 7, rounded up
    gate = Gate(float(match[1]) / 100, float(match[2]) / 100)
    assert short_of(gate, judged) == [] and last_check(pick, None, labels, samples, gate) == ""


def test_held_out_defects_the_base_model_as_shipped_passes_too_are_named_first_as_labels_to_check_and_no_gate_is_offered() -> None:
    """13 good photos moved into def_front/: the refusal said "collect more defective parts" first, named 3 of them, and
    offered --max-escape-rate 11.4 to go live with a network taught on the wrong labels."""
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate, advice, refusal, suspected
    from station.teach.threshold import Outcome

    labels = np.array([0] * 6 + [1] * 6)
    held = np.array([0.01, 0.02, 0.03, 0.05, 0.06, 0.07, 0.04, 0.08, 0.1, 0.9, 0.95, 0.99])  # defects 6-8 pass at 0.3
    base = np.array([0.1] * 6 + [0.05, 0.9, 0.2, 0.99, 0.99, 0.99])  # as shipped (limit 0.378): 6 and 8 pass, 7 is rejected
    pick = Candidate("taught", PreprocessSpec(), np.zeros((12, 2, 2), np.float32), held, Outcome(12, 6, 3, 0), 0.5, (0.3, 0.5))
    shipped = replace(pick, name="base-as-shipped", held_out=base, band=(0.378, 0.565), judged=Outcome(12, 6, 2, 0))
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    said = advice(pick, labels, samples, Gate(), shipped)
    assert said[0].startswith(
        "check these labels first: 2 held-out defective parts pass, and the base model as shipped passes them too: good parts "
        "filed in def_front/ look so, and so does a kind of defect neither network sees"
    )
    assert said[0].endswith(": p6 (0.040; as shipped 0.050), p8 (0.100; as shipped 0.200) (each marked suspect in parts.csv)")
    assert suspected(pick, shipped, labels) == [6, 8]
    assert said[1] == "check the labels of the held-out defective parts that passed: p7 (0.080)"  # the base model rejects it
    assert not any("--max-escape-rate" in line for line in said) and said[-1].startswith("no gate setting should take")
    assert refusal(["3 of 6 held-out defective parts would pass: collect more defective parts"], said)[:2] == [
        said[0], "3 of 6 held-out defective parts would pass: collect more defective parts"]  # fmt: skip
    assert advice(pick, labels, samples, Gate())[0].startswith("check the labels of the held-out defective parts that passed: p6")


def test_a_refusal_whose_held_out_scores_cannot_tell_the_labels_apart_points_at_the_labels_and_suggests_no_gate() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate, advice
    from station.teach.threshold import Outcome

    rng = np.random.default_rng(3)
    labels = np.array([0, 1] * 24)
    held = rng.uniform(0, 1, 48)  # labels shuffled: scores that know nothing of them (ranking AUC near 0.5)
    pick = Candidate("taught", PreprocessSpec(), np.zeros((48, 2, 2), np.float32), held, Outcome(48, 24, 12, 12), 0.5, (0.5, 0.5))
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    said = advice(pick, labels, samples, Gate())
    assert said[0].startswith("the held-out scores hardly tell the two labels apart (ranking AUC 0.")
    assert not any("--max-escape-rate" in line for line in said) and said[-1] == "no gate setting makes these figures worth going live with"
    swapped = replace(pick, held_out=np.where(labels == 1, 0.1, 0.9) + rng.uniform(0, 0.05, 48))  # every label the wrong way round
    assert advice(swapped, labels, samples, Gate())[0].startswith("the held-out scores rank the two labels the wrong way round")
    # swapped wholesale, the taught networks learn nothing (every part alike) and the base model ranks them backwards
    alike = replace(pick, name="taught", held_out=np.full(48, 1.0))
    first = advice(alike, labels, samples, Gate(), shipped=replace(swapped, name="base-as-shipped"))[0]
    assert "hardly tell the two labels apart (ranking AUC 0.50; 0.5 is chance), and the base model's scores rank them" in first
    assert "(ok_front/ and def_front/ look swapped)" in first
    refused = [replace(x, base_inspects=bool(v)) for x, v in zip(samples, labels, strict=True)]  # its own checks refuse every good part
    first = advice(alike, labels, samples, Gate(), shipped=replace(swapped, name="base-as-shipped", parts=refused))[0]
    assert "look swapped" not in first and "base model" not in first  # scored 1.0 as rejects, not as it ranks them


def test_held_out_scores_that_cannot_tell_the_labels_apart_name_no_part_as_suspect_in_the_advice_or_in_parts_csv() -> None:
    """The advice named no suspect part when the labels looked mixed as a whole, while the report's parts.csv (which reads
    ``suspected``) still marked every held-out defect both networks passed."""
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate, advice, suspected
    from station.teach.threshold import Outcome

    rng = np.random.default_rng(3)
    labels = np.array([0, 1] * 24)
    pick = Candidate("taught", PreprocessSpec(), np.zeros((48, 2, 2), np.float32), rng.uniform(0, 1, 48), Outcome(48, 24, 12, 12),
                     0.5, (0.5, 0.5))  # fmt: skip
    shipped = replace(pick, name="base-as-shipped", held_out=np.full(48, 0.01), band=(0.378, 0.565))  # passes every part
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    said = advice(pick, labels, samples, Gate(), shipped)
    assert said[0].startswith("the held-out scores hardly tell the two labels apart")
    assert not any("marked suspect" in line for line in said) and suspected(pick, shipped, labels) == []
    assert suspected(replace(pick, held_out=np.where(labels == 1, 0.9, 0.1)), shipped, labels) == []  # none passes: none named


def test_a_network_that_gives_a_part_no_number_is_a_candidate_never_chosen_not_a_traceback() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import candidate

    labels = np.array([0, 0, 1, 1])
    c = candidate("taught", PreprocessSpec(), [], np.zeros((4, 2, 2), np.float32), np.array([0.1, np.nan, 0.9, 0.8]), labels,
                  np.array([0, 1, 0, 1]), Gate(0.0, 0.03), 1.0)  # fmt: skip
    assert c.cost()[0] == math.inf and c.judged.escapes == 0


def test_each_held_out_part_is_judged_at_the_limit_the_other_folds_set_and_the_figures_count_those_verdicts() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach import threshold
    from station.teach.candidates import candidate

    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    held = np.array([0.01, 0.02, 0.01, 0.3, 0.95, 0.2, 0.9, 0.97])  # fold 1: a mild defect; fold 0: a good part scored high
    fold = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    c = candidate("taught", PreprocessSpec(), [], np.zeros((8, 2, 2), np.float32), held, labels, fold, Gate(0.0, 0.5), 1.0)
    at = c.limits()
    assert np.all(at[fold == 0] == at[0]) and np.all(at[fold == 1] == at[1]) and at[0] != at[1]
    assert at[1] == threshold.operating_point(held[fold == 0], labels[fold == 0], 1.0, 0.5)[1][0]
    assert c.judged == threshold.outcome(held, labels, at) == threshold.honest(held, labels, fold, 1.0, 0.5)
    assert c.judged.escapes == 1  # the mild defect passes the limit fold 0 set, though the written limit is below it
    assert held[5] >= c.band[0]


def test_a_base_model_that_makes_parts_round_itself_is_scored_once_and_both_its_line_candidates_agree() -> None:
    from station.locate import Circle
    from station.model import Model
    from station.teach.candidates import base_candidates
    from station.teach.command import taught_spec
    from station.teach.finetune import plain

    base = Model(Path(__file__).resolve().parent.parent / "station" / "defaults" / "defect.onnx")
    base.info = replace(base.info, spec=taught_spec(base))  # as a model taught on a tilted line would be
    calls: list[int] = []
    score = base.score

    def counted(crops: Any) -> Any:
        calls.append(len(crops))
        return score(crops)

    base.score = counted  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1])
    image = rng.integers(0, 255, (300, 300), dtype=np.uint8)
    samples = [Sample(image, Circle(150, 150, 100), int(v), f"p{i}") for i, v in enumerate(labels)]
    crops = plain(samples, base.info.spec)
    fold = np.array([0, 1, 0, 1])
    shipped, line, made_round = base_candidates(base, samples, samples, base.info.spec, crops, labels, fold, Gate(0.0, 0.03), 1.0)
    assert calls == [4]  # one pass over the parts, not one per candidate
    assert shipped.crops is line.crops is made_round.crops is crops  # nor cropped twice
    assert np.array_equal(line.held_out, made_round.held_out) and line.band == made_round.band


def test_a_part_the_base_models_own_search_refuses_is_a_reject_in_its_candidates_not_a_score() -> None:
    from station.locate import Circle
    from station.model import Model
    from station.teach.candidates import base_candidates
    from station.teach.command import taught_spec
    from station.teach.finetune import plain

    base = Model(Path(__file__).resolve().parent.parent / "station" / "defaults" / "defect.onnx")  # it does not make parts round
    image = np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1])
    found = [Sample(image, Circle(150, 150, 100), int(v), f"p{i}", base_inspects=i != 1) for i, v in enumerate(labels)]
    spec = taught_spec(base)
    crops = plain(found, spec)
    shipped, line, made_round = base_candidates(base, found, found, spec, crops, labels, np.array([0, 1, 0, 1]), Gate(0.0, 0.03))
    assert shipped.held_out[1] == line.held_out[1] == 1.0 and shipped.held_out[0] < 1.0  # p1: off_centre on its line
    assert made_round.held_out[1] < 1.0  # the search that makes parts round inspects it: a score


def test_a_refusal_names_the_held_out_defects_that_pass_though_the_base_model_rejects_them() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate, forgotten
    from station.teach.threshold import Outcome

    labels = np.array([0, 0, 1, 1, 1])
    crops = np.zeros((5, 2, 2), np.float32)
    held = np.array([0.01, 0.02, 0.001, 0.03, 0.99])
    taught = Candidate("taught", PreprocessSpec(), crops, held, Outcome(5, 3, 2, 0), 0.05, (0.05, 0.05))
    shipped = Candidate(AS_SHIPPED, PreprocessSpec(), crops, np.array([0.9, 0.1, 0.95, 0.2, 0.99]), Outcome(5, 3, 1, 1), 0.5, (0.5, 0.5))
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}.png") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    (said,) = forgotten(taught, shipped, labels, samples, folds=4, more_folds=True)
    assert said.startswith("1 of the 2 held-out defective parts that pass at the written limit are rejected by the base model")
    assert "p2.png (0.001, base model 0.950). Networks taught without them lost their kind" in said
    assert "p3.png" not in said  # the base model passes it too: not forgotten
    assert "--folds 8: each network then learns from 88% of the line instead of 75%, with 2 times the networks to teach" in said
    for folds, more in ((8, True), (4, False)):  # already 8 folds, or the line's groups allow no more: not suggested
        assert "--folds" not in forgotten(taught, shipped, labels, samples, folds, more)[0]
    assert forgotten(taught, replace(shipped, band=(0.99, 0.99)), labels, samples, 4, True) == []  # the base passes them too


def test_a_refused_base_candidate_is_never_said_to_have_forgotten_anything() -> None:
    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate
    from station.teach.command import _advice
    from station.teach.threshold import Gate, Outcome

    labels = np.array([0, 0, 1, 1])
    crops = np.zeros((4, 2, 2), np.float32)
    scores = np.array([0.1, 0.2, 0.6, 0.9])  # the line's higher limit passes the defect at 0.6; the shipped limit rejects it
    shipped = Candidate(AS_SHIPPED, PreprocessSpec(), crops, scores, Outcome(4, 2, 0, 0), 0.5, (0.5, 0.5))
    line = Candidate("base-line-threshold", PreprocessSpec(), crops, scores, Outcome(4, 2, 1, 0), 0.7, (0.7, 0.7))
    taught = Candidate("taught", PreprocessSpec(), crops, np.array([0.1, 0.2, 0.01, 0.9]), Outcome(4, 2, 1, 0), 0.5, (0.5, 0.5))
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}.png") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    args = asked("--folds", "4")
    assert not any("lost their kind" in w for w in _advice(line, taught, shipped, labels, samples, Gate(), args, 25))
    said = _advice(taught, taught, shipped, labels, samples, Gate(), args, 25)
    assert "lost their kind" in said[-2] and said[-1].startswith("to go live")  # before the gate that would take the figures
    scratch = asked("--folds", "4", "--from-scratch")
    assert not any("lost their kind" in w for w in _advice(taught, taught, shipped, labels, samples, Gate(), scratch, 25))


def test_a_written_network_that_rejects_more_of_the_good_parts_it_was_taught_than_the_gate_allows_is_not_written() -> None:
    import torch

    from station.preprocess import PreprocessSpec
    from station.teach.candidates import Candidate, last_check
    from station.teach.threshold import Outcome

    class Fixed(torch.nn.Module):
        """Scores each crop by its first pixel: the test sets what the written network says of each part."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, 0, 0]

    labels = np.array([0] * 10 + [1] * 2)
    crops = np.zeros((12, 2, 2), np.float32)
    crops[10:, 0, 0] = 0.9  # every taught defect rejected
    held = np.array([0.1] * 10 + [0.9, 0.95])  # the held-out figures were clean
    pick = Candidate("taught", PreprocessSpec(), crops, held, Outcome(12, 2, 0, 0), 0.5, (0.5, 0.5))
    samples = [Sample(np.zeros((2, 2), np.uint8), None, int(v), f"p{i}") for i, v in enumerate(labels)]  # type: ignore[arg-type]
    assert last_check(pick, Fixed(), labels, samples, Gate()) == ""
    crops[0, 0, 0] = 0.7  # one good part of ten rejected: 10 %, over the gate's 3 %
    assert last_check(pick, Fixed(), labels, samples, Gate()) == "the written networks reject 1 of the 10 good parts they were taught: p0"
    assert last_check(pick, Fixed(), labels, samples, Gate(max_false_reject_rate=0.1)) == ""
    crops[0, 0, 0] = np.nan  # no number is no pass
    assert "reject 1 of the 10 good parts" in last_check(pick, Fixed(), labels, samples, Gate())
    crops[0, 0, 0] = 0.0
    as_run = np.array([0.1] * 10 + [0.9, 0.4])  # the file, as the station runs it, passes a defect the network rejected
    said = last_check(pick, Fixed(), labels, samples, Gate(), lambda net, c: as_run)
    assert said == "as the station runs its file, the written networks pass 1 of the defective parts they were taught: p11"
    as_run[11] = -0.1  # no valid score: the line rejects it as an error, but the network is not to be trusted with it
    assert "pass 1 of the defective parts" in last_check(pick, Fixed(), labels, samples, Gate(), lambda net, c: as_run)
