"""The candidates for a line's model, ranked on their honest held-out figures; the one written, and why not.

Four compete (``station teach``): the base model as shipped, the base network with the line's own
threshold, the base network on parts made round (a tilted camera) with the line's threshold, and
the networks taught on the line. Each carries its held-out scores (from networks that never saw the
part), the operating point they set and the honest figures (``threshold.honest``). The best-ranked
one the qualification gate takes is written, unless the network about to be written fails the
last check; then the next one the gate takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from station.model import Model
from station.offline.evaluate import auc
from station.preprocess import PreprocessSpec
from station.score import passing, valid_score
from station.teach import threshold
from station.teach.finetune import plain, score
from station.teach.parts import Sample
from station.teach.threshold import MARGIN

MORE_FOLDS = 8  # what a refusal suggests where taught networks forgot defects (docs/teaching-measured.md)
NO_BETTER_THAN_LABELS = 0.75  # a held-out ranking AUC this low or lower: look at the labels, not at the gate


class Network(StrEnum):
    """The candidates teaching compares, as the report and the model file name them (``network``)."""

    TAUGHT = "taught"
    LINE_THRESHOLD = "base-line-threshold"
    RECTIFIED = "base-rectified"
    AS_SHIPPED = "base-as-shipped"  # its threshold is the base model's, not the line's


AS_SHIPPED = Network.AS_SHIPPED
WHAT: dict[str, str] = {  # each candidate, as teaching names it to the person who runs it
    Network.TAUGHT: "the network taught on the line's parts",
    Network.LINE_THRESHOLD: "the base network unchanged, with a pass limit set on the line's parts",
    Network.RECTIFIED: "the base network on parts made round (a tilted camera), with a pass limit set on the line's parts",
    Network.AS_SHIPPED: "the base model as shipped, its own pass limit",
}


@dataclass(frozen=True)
class Candidate:
    """A network for the line with its held-out scores, the threshold they set, and the honest figures."""

    name: str  # a Network (WHAT says each in words); tools.teach_sweep names its own recipes
    spec: PreprocessSpec
    crops: npt.NDArray[np.float32]
    held_out: npt.NDArray[np.float64]
    judged: threshold.Outcome
    threshold: float
    band: tuple[float, float]
    parts: Sequence[Sample] = ()  # the parts the crops were made from, located as this candidate's spec locates them
    judged_at: npt.NDArray[np.float64] | None = None  # each part's pass limit in the honest figures (None: band[0] for all)

    def limits(self) -> npt.NDArray[np.float64]:
        """The pass limit each held-out part was judged by in ``judged``: the one the other folds set, or the model's own."""
        return self.judged_at if self.judged_at is not None else np.full(len(self.held_out), self.band[0])

    def cost(self, margin: float = MARGIN) -> tuple[float, int, float]:
        """What the line would pay (an escape costs five false rejects), then how near the limit its parts came.

        The second and third figures decide between candidates whose held-out parts cost the same:
        the held-out parts within ``margin`` log-odds of the pass limit, on either side, and then the
        distance of the nearest one (negated: further is better). A candidate whose classes lie far
        from its limit is the one a new part is least likely to cross.
        """
        if not np.all(np.isfinite(self.held_out)):  # a network that gives a part no number is never chosen
            return math.inf, 0, 0.0
        near = threshold.near_limit(self.held_out, self.band[0], margin)
        clear = round(threshold.clearance(self.held_out, self.band[0]), 1)  # a tenth of a log-odds: less is no reason to change more
        return 5 * self.judged.escapes + self.judged.false_rejects, near, -clear


def candidate(name: str, spec: PreprocessSpec, parts: Sequence[Sample], crops: npt.NDArray[np.float32],
              held_out: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], fold: npt.NDArray[np.int64], gate: threshold.Gate,
              margin: float = MARGIN) -> Candidate:  # fmt: skip
    """``held_out`` scored by a network for the line: the operating point they set, and its honest figures."""
    if not np.all(np.isfinite(held_out)):  # a network that gives a part no number: every part rejected, never chosen (cost)
        return Candidate(name, spec, crops, held_out, threshold.outcome(held_out, labels, 0.0), 0.0, (0.0, 0.5), parts)
    most = gate.max_false_reject_rate  # the limit rejects no more good parts than the gate allows (threshold.pass_limit)
    thr, band = threshold.operating_point(held_out, labels, margin, most)
    judged_at = threshold.fold_limits(held_out, labels, fold, margin, most)  # the honest figures: threshold.honest
    return Candidate(name, spec, crops, held_out, threshold.outcome(held_out, labels, judged_at), thr, band, parts, judged_at)


def base_candidates(base: Model, found: list[Sample], samples: list[Sample], spec: PreprocessSpec, crops: npt.NDArray[np.float32],
                    labels: npt.NDArray[np.int64], fold: npt.NDArray[np.int64], gate: threshold.Gate,
                    margin: float = MARGIN) -> tuple[Candidate, ...]:  # fmt: skip
    """The base network as shipped, with the line's threshold, and on parts made round (it never saw them: all its scores are held out).

    ``found``: the parts as the base model locates them; ``samples`` and ``crops``: made round, as a taught model does (``spec``).
    """
    base_parts = samples if base.info.spec.rectify else found
    same = base_parts is samples and base.info.spec == spec  # the base model makes parts round itself: the same crops
    base_crops = crops if same else plain(base_parts, base.info.spec)
    base_scores = base.score(base_crops).astype(np.float64)
    if base_parts is found:  # a part the base model's own checks refuse is a reject on its line, never a score
        base_scores[[not s.base_inspects for s in found]] = 1.0
    as_shipped = Candidate(AS_SHIPPED, base.info.spec, base_crops, base_scores, threshold.outcome(base_scores, labels,
                           base.info.band[0]), base.info.threshold, base.info.band, base_parts)  # fmt: skip
    rethresholded = candidate(Network.LINE_THRESHOLD, base.info.spec, base_parts, base_crops, base_scores, labels, fold, gate, margin)
    round_scores = base_scores if same else base.score(crops).astype(np.float64)
    made_round = candidate(Network.RECTIFIED, spec, samples, crops, round_scores, labels, fold, gate, margin)
    return as_shipped, rethresholded, made_round


def choose(ranked: Sequence[Candidate], qualify: Callable[[Candidate], list[str]],
           build: Callable[[Candidate], tuple[Any, str]]) -> tuple[Candidate, Any, list[str], list[str]]:  # fmt: skip
    """The best-ranked candidate the gate takes whose written network passes the last check: (it, its network, [], passed over).

    A candidate whose network fails the last check (the network written differs from the ones that
    were judged) gives way to the next the gate takes, and is named in the last list. A candidate
    that gives a part no number is never written. When none is left: the best candidate, no
    network, and why: its own refusals, then each last check that failed.
    """
    failed: list[str] = []
    for c in ranked:
        if math.isinf(c.cost()[0]) or qualify(c):
            continue
        net, last = build(c)
        if not last:
            return c, net, [], failed
        failed.append(f"{c.name}: {last}")
    return ranked[0], None, qualify(ranked[0]) + failed or ["no candidate gave every held-out part a number"], failed


def last_check(pick: Candidate, net: Any, labels: npt.NDArray[np.int64], samples: list[Sample], gate: threshold.Gate,
               as_run: Callable[[Any, Candidate], npt.NDArray[np.float64]] | None = None) -> str:  # fmt: skip
    """Why the model about to be written must not be, or "": every held-out score by the limit the file will hold
    (not only fold by fold); then the written network itself, which no held-out figure judged, on the parts it was
    taught: it must reject every defective one, and no more of the good ones than the gate allows. Judged on PyTorch's
    scores, then on ``as_run``'s: the network's scores as the station runs its file (ONNX Runtime, its own unwrap)."""
    at_limit = threshold.outcome(pick.held_out, labels, pick.band[0])
    if not threshold.meets(at_limit.escape_rate, gate.max_escape_rate):
        return f"at the written limit {at_limit.escapes} of {at_limit.defective} held-out defective parts pass"
    if net is None:  # a base candidate: its held-out scores are the ones it will give, judged above
        return ""
    origins = [s.origin for s in samples]
    why = on_taught_parts(score(net, pick.crops), pick.band[0], labels, origins, gate)
    if why or as_run is None:
        return why
    why = on_taught_parts(as_run(net, pick), pick.band[0], labels, origins, gate)
    return f"as the station runs its file, {why}" if why else ""


def on_taught_parts(scores: npt.NDArray[np.float64], limit: float, labels: npt.NDArray[np.int64], origins: list[str],
                    gate: threshold.Gate) -> str:  # fmt: skip
    """Why a network written must not be, by its ``scores`` of the parts it was taught, or "": it must reject every defective
    one, and no more of the good ones than the gate allows. A part given no valid score counts against it either way."""
    passed = passing(scores, limit)
    invalid = np.array([not valid_score(float(s)) for s in scores], bool)  # the line rejects it as an error; not to be trusted
    missed = [origins[i] for i in np.flatnonzero((labels == 1) & (passed | invalid))]
    if missed:
        return f"the written networks pass {len(missed)} of the defective parts they were taught: {', '.join(missed[:5])}"
    good, rejected = labels == 0, ~passed
    if not threshold.meets(float(np.mean(rejected[good])) if good.any() else 0.0, gate.max_false_reject_rate):
        wrong = [origins[i] for i in np.flatnonzero(good & rejected)]
        return f"the written networks reject {len(wrong)} of the {int(good.sum())} good parts they were taught: {', '.join(wrong[:5])}"
    return ""


def nearness(c: Candidate, margin: float) -> dict[str, float | None]:
    """How near its pass limit a candidate's held-out parts came: what decides between candidates that cost the same."""
    cost, near, clear = c.cost(margin)
    return {"near_limit": None, "clearance_log_odds": None} if math.isinf(cost) else {"near_limit": near, "clearance_log_odds": -clear}


def _ranking(c: Candidate, labels: npt.NDArray[np.int64]) -> tuple[float, bool]:
    """Its held-out scores' ranking AUC, and whether enough parts of each kind were scored for it to say anything; not
    counting parts the base model's own checks refuse (scored 1.0 as the rejects they are: ``base_candidates``)."""
    inspected = [s.base_inspects for s in c.parts] if c.name == AS_SHIPPED and len(c.parts) == len(labels) else True
    scored = np.isfinite(c.held_out) & np.asarray(inspected, bool)
    enough = min(np.sum(labels[scored] == k) for k in (0, 1)) >= threshold.MIN_PER_CLASS
    return auc(c.held_out[scored], labels[scored]), bool(enough)


def _chance(pick: Candidate, labels: npt.NDArray[np.int64]) -> tuple[float, bool]:
    """Its held-out ranking AUC, and whether that says the scores hardly tell the labels apart (or rank them the wrong way
    round): the labels as a whole are then what to check, not a part's."""
    ranking, enough = _ranking(pick, labels)
    return ranking, bool(enough and not ranking > NO_BETTER_THAN_LABELS)


def advice(pick: Candidate, labels: npt.NDArray[np.int64], samples: list[Sample], gate: threshold.Gate,
           shipped: Candidate | None = None) -> list[str]:  # fmt: skip
    """The parts to look at again (a wrong label is the commonest cause), and the gate that would take these figures;
    where the held-out scores hardly tell the labels apart, the labels first, and no gate. Networks taught on labels
    swapped wholesale learn nothing (every part scored alike); the base model as shipped (``shipped``) then ranks the
    parts the wrong way round, and the labels are said to look swapped."""
    ranking, chance = _chance(pick, labels)
    base = _ranking(shipped, labels) if shipped is not None and shipped is not pick else (0.5, False)
    wrong_way = ranking < 1 - NO_BETTER_THAN_LABELS  # the good parts scored as defective and the defective as good
    backwards = chance and not wrong_way and base[1] and base[0] < 1 - NO_BETTER_THAN_LABELS  # so by the base model
    said = "rank the two labels the wrong way round" if wrong_way else "hardly tell the two labels apart"
    said += f" (ranking AUC {ranking:.2f}; 0.5 is chance)"
    said += f", and the base model's scores rank them the wrong way round (its ranking AUC {base[0]:.2f})" if backwards else ""
    look = "ok_front/ and def_front/ look swapped" if wrong_way or backwards else "swapped or mixed labels look like this"
    out = [f"{LABELS_FIRST[0]}{said}: check that ok_front/ and def_front/ hold what they say ({look}) before collecting "
           "more parts"] if chance else []  # fmt: skip
    at = pick.limits()  # as the honest figures and heldout_mistakes.png judge each part: the mistakes they count, worst first
    ok = passing(pick.held_out, at)
    suspects = suspected(pick, shipped, labels)
    out += _suspected(pick, shipped, samples, suspects)
    passed = [i for i in np.argsort(pick.held_out) if labels[i] == 1 and ok[i] and i not in suspects][:3]
    rejected = [i for i in np.argsort(-pick.held_out) if labels[i] == 0 and not ok[i]][:3]
    for kind, wrong in (("defective parts that passed", passed), ("good parts that were rejected", rejected)):
        named = ", ".join(f"{samples[i].origin} ({pick.held_out[i]:.3f})" for i in wrong)
        out += [f"check the labels of the held-out {kind}: {named}"] if wrong else []
    j, written = pick.judged, threshold.outcome(pick.held_out, labels, pick.band[0])  # the last check judges the written limit too
    if chance or j.rejects_every_good_part:  # no gate makes such a model one to write
        return [*out, "no gate setting makes these figures worth going live with"]
    if suspects:
        return [*out, "no gate setting should take these figures before those labels are checked: taught on a wrong label, a "
                      "network learns it"]  # fmt: skip
    fr = max(threshold.percent_up(j.false_reject_rate), 100 * gate.max_false_reject_rate)  # a lower one would move the limit down
    esc = threshold.percent_up(max(j.escape_rate, written.escape_rate))
    out.append(
        f"to go live with these held-out figures anyway: --max-escape-rate {esc:g} "
        f"--max-false-reject-rate {fr:g} (the second also bounds how many good parts the limit may reject; the report's "
        "heldout_mistakes.png shows the parts each would let through or reject: look at them first)"
    )
    return out


LABELS_FIRST = ("the held-out scores ", "check these labels first")  # advice a refusal says before its figures' shortfalls
SUSPECTS_NAMED = 30  # held-out defects named in one line, at most


def refusal(why: list[str], helps: list[str]) -> list[str]:
    """A refusal's lines: advice that the labels may be wrong first (it explains the figures), then where the figures fall
    short of the gate, then the rest of the advice."""
    first = [h for h in helps if h.startswith(LABELS_FIRST)]
    return [*first, *why, *(h for h in helps if h not in first)]


def suspected(pick: Candidate, shipped: Candidate | None, labels: npt.NDArray[np.int64]) -> list[int]:
    """The held-out defective parts that pass and that the base model as shipped passes too, least defective-looking first:
    two networks, one never taught on this line's labels, find them good. A good part filed in def_front/ looks so
    (measured: 13 good photos moved there, 12 of them), and so does a kind of defect neither network sees yet."""
    if shipped is None or shipped is pick or len(shipped.held_out) != len(labels) or _chance(pick, labels)[1]:
        return []  # labels that look swapped or mixed as a whole: no part is named (advice names the labels first)
    ok, base_ok = passing(pick.held_out, pick.limits()), passing(shipped.held_out, shipped.limits())
    return [int(i) for i in np.argsort(pick.held_out) if labels[i] == 1 and ok[i] and base_ok[i]]


def _suspected(pick: Candidate, shipped: Candidate | None, samples: list[Sample], suspects: list[int]) -> list[str]:
    if not suspects or shipped is None:
        return []
    named = ", ".join(
        f"{samples[i].origin} ({pick.held_out[i]:.3f}; as shipped {shipped.held_out[i]:.3f})" for i in suspects[:SUSPECTS_NAMED]
    )
    more = f" and {len(suspects) - SUSPECTS_NAMED} more" if len(suspects) > SUSPECTS_NAMED else ""
    return [f"{LABELS_FIRST[1]}: {len(suspects)} held-out defective parts pass, and the base model as shipped passes them too: "
            "good parts filed in def_front/ look so, and so does a kind of defect neither network sees yet; move to ok_front/ only "
            f"those you can see are good, and collect more like the rest: {named}{more} (each marked suspect in parts.csv)"]  # fmt: skip


def forgotten(taught: Candidate, shipped: Candidate, labels: npt.NDArray[np.int64], samples: list[Sample], folds: int,
              more_folds: bool) -> list[str]:  # fmt: skip
    """Held-out defects the taught networks pass at the written limit but the base model as shipped rejects: taught without
    them, the networks lost their kind (measured on a tilted line: docs/teaching-measured.md). ``more_folds``: the line's part
    groups allow more than ``folds`` folds."""
    escaped = (labels == 1) & passing(taught.held_out, taught.band[0])
    kept = passing(shipped.held_out, shipped.band[0])
    lost = [i for i in np.argsort(taught.held_out) if escaped[i] and not kept[i]]  # lowest first
    if not lost:
        return []
    names = ", ".join(f"{samples[i].origin} ({taught.held_out[i]:.3f}, base model {shipped.held_out[i]:.3f})" for i in lost[:5])
    more = (f", and so may more folds (--folds {MORE_FOLDS}: each network then learns from {(MORE_FOLDS - 1) / MORE_FOLDS:.0%} of the "
            f"line instead of {(folds - 1) / folds:.0%}, with {MORE_FOLDS / folds:g} times the networks to teach)"
            if more_folds and folds < MORE_FOLDS else "")  # fmt: skip
    return [
        f"{len(lost)} of the {int(escaped.sum())} held-out defective parts that pass at the written limit are rejected by the base "
        f"model as shipped: {names}. Networks taught without them lost their kind: more defective parts like them would help{more}"
    ]
