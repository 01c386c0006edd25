"""``station teach SOURCE... --out MODEL``: collect, cross-fit, set the threshold, qualify, write.

1. Collect the line's labelled parts through the station's own trigger and preprocessing
   (``samples``); the parts it cannot inspect are counted and named, never used.
2. Cross-fit: K networks, each fine-tuned from the base model on K-1 folds, score the fold they
   never saw (``finetune``), so every part has a held-out score.
3. Set the threshold on those held-out scores, and judge it honestly (``threshold``). The base
   network never saw the parts either: with the line's threshold (on the parts as it crops them,
   or made round as a taught model crops them), or as shipped, it competes too (``candidates``):
   the best-ranked candidate the gate takes, whose written network passes the last check, is chosen.
4. Qualify: a line that does not gets the reasons and what would help, and exit 1; nothing is written.
5. Write an ordinary model file (when the taught networks won: one network fine-tuned on every
   part with its weights averaged with the K cross-fitted networks'; from scratch, one network
   taught on every part) with the held-out figures in its metadata and a self-test on the line's own
   parts, and pass it through the station's model gate.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from station import __version__
from station import model as meta
from station.config import Config
from station.errors import InputError, ModelError, StationError, one_line
from station.gate import admit
from station.model import MAX_VERSION, Model
from station.preprocess import PreprocessSpec, part_digest, rectifying
from station.score import passing
from station.signals import STOPS
from station.teach import report, threshold
from station.teach.candidates import (
    AS_SHIPPED,
    MORE_FOLDS,
    WHAT,
    Candidate,
    Network,
    advice,
    base_candidates,
    candidate,
    choose,
    forgotten,
    last_check,
    nearness,
    refusal,
    suspected,
)
from station.teach.finetune import Recipe, fit, plain, score, soup
from station.teach.groups import groups, named_alike
from station.teach.options import Asked
from station.teach.parts import Collection, Sample
from station.teach.paths import check_paths, part_path
from station.teach.samples import collect, rectified
from station.teach.selftest import add_self_test, stored, too_few_clear

Trainer = Callable[[list[Sample], int, str], Any]  # (parts, seed, progress label) -> a trained network
Scorer = Callable[[Any, npt.NDArray[np.float32]], npt.NDArray[np.float64]]


def say(text: str) -> None:
    print(one_line(f"station teach: {text}"), file=sys.stderr, flush=True)


def _collect(asked: Asked, cfg: Config, base: Model) -> tuple[Collection, list[Sample]]:
    """The line's parts as the base model locates them (``col.samples``), and as the taught model will (rectified)."""
    col = collect([Path(s) for s in asked.sources], base.info.spec, cfg)
    samples = rectified(col)
    c = col.counts()
    files = f", {c['unreadable']} files no image can be read from" if c["unreadable"] else ""
    say(f"{c['ok']} good and {c['defective']} defective parts to learn from; {c['not_inspectable']} could not be inspected{files}")
    for r in col.refused[:20]:
        say(f"{'no image' if r.unreadable else 'not inspectable'} ({r.why}): {r.origin}")
    if len(col.refused) > 20:
        say(f"... and {len(col.refused) - 20} more (all in the report)")
    for note in col.notes[:20]:
        say(note)
    if len(col.notes) > 20:
        say(f"... and {len(col.notes) - 20} more notes (all in the report)")
    return col, samples


def taught_spec(base: Model) -> PreprocessSpec:
    """The base model's preprocessing, rectifying a part seen as an ellipse (a tilted camera)."""
    return rectifying(base.info.spec)


def _start(base: Model, fresh: bool, seed: int) -> Any:
    from station.teach.weights import from_onnx

    return fresh_start(base, seed) if fresh else from_onnx(base.path, base)


def fresh_start(base: Model, seed: int) -> Any:
    """An untrained network of the base's kind, its weights drawn from ``seed``: where ``--from-scratch`` starts."""
    import torch

    from station.teach.net import build
    from station.teach.weights import arch_of

    torch.manual_seed(seed)
    return build(arch_of(base.info), 16, base.info.spec)


def teach(args: argparse.Namespace, cfg: Config) -> int:
    t0 = time.monotonic()
    asked = Asked.of(args)
    base_path = asked.base or cfg.model.path
    check_paths(args, base_path, cfg)
    base = admit(base_path)
    start = _start(base, asked.from_scratch, asked.seed)  # a base it cannot learn from is refused before the parts are collected
    col, samples = _collect(asked, cfg, base)  # samples: as the taught model will locate them; col.samples as the base model does
    _not_seen_by(base, col.samples)
    unteachable = col.unteachable(asked.max_escape_rate / 100)
    if unteachable:  # no network could change it: refuse before minutes of teaching
        return _refuse_early(asked, col, unteachable)
    spec = taught_spec(base)
    labels = np.array([s.label for s in samples], np.int64)
    gate = threshold.Gate(asked.max_escape_rate / 100, asked.max_false_reject_rate / 100)
    anchor = 0.0 if asked.from_scratch else Recipe.anchor  # from scratch: no base weights to stay near
    recipe = Recipe(epochs=asked.epochs, lr=asked.lr, threads=asked.threads, pits=asked.pits, anchor=anchor)
    fold, used, fewest_groups = _folds(samples, spec, labels, asked.folds, asked.seed)
    asked = replace(asked, folds=used)  # the folds there are, from here on
    crops = plain(samples, spec)
    taught, nets = _cross_fitted(asked, start, samples, spec, crops, labels, fold, gate, recipe)
    say(f"{asked.folds} folds learnt ({time.monotonic() - t0:.0f} s)")
    if lost := int(np.sum(~np.isfinite(taught.held_out))):  # such a candidate is never written: say why it is not
        say(f"the taught networks gave {lost} of {len(samples)} parts no number (they diverged: teach with a smaller --lr)")
    candidates = (*base_candidates(base, col.samples, samples, spec, crops, labels, fold, gate, asked.margin), taught)
    base_scores = candidates[0].held_out
    ranked = sorted(candidates, key=lambda c: c.cost(asked.margin))  # the first of exact equals: change no more than the figures ask for

    def qualify(c: Candidate) -> list[str]:
        return threshold.short_of(gate, c.judged, col.refused_by_label(missed=True)[1])

    def build(c: Candidate) -> tuple[Any, str]:  # a candidate that cannot carry a self-test gives way to the next as well
        net = _taught_network(c is taught, nets, asked, start, samples, spec, recipe)
        with as_file(net, base, c) as run:  # written once for both checks
            return net, last_check(c, net, labels, samples, gate, lambda _n, p: run(p.crops)) or _no_self_test(run, c, labels)

    pick, net, why, passed_over = choose(ranked, qualify, build)
    for p in passed_over:
        say(f"not written: {p}; the next candidate the gate takes instead, if any")
    figures = _figures(asked, col, pick, candidates, base, labels, fold, gate, recipe)
    helps = _advice(pick, taught, candidates[0], labels, samples, gate, asked, fewest_groups) if why and qualify(pick) else []
    figures.update(
        qualified=not why,
        refusals=why,
        advice=helps,
        passed_over=passed_over,
        suspect_labels=[samples[i].origin for i in suspected(pick, candidates[0], labels)] if why else [],
    )
    report.write(asked.report, figures, samples, pick.crops, pick.held_out, base_scores, pick.band[0], pick.limits(), pick.spec.clip)
    for line in report.summary(pick, candidates[0].judged, len(candidates), writing=not why):  # beside the base model as shipped
        say(line)
    if why:
        for w in refusal(why, helps):
            say(f"not qualified: {w}")
        say(f"nothing written; the report is in {asked.report}/")
        return 1
    return _write_and_say(asked, net, base, pick, figures, col, labels, t0)


def _digests(samples: list[Sample]) -> set[str]:
    """What a taught model records of the parts it learnt from: each one's pixels, and a footage part's view as well."""
    return {part_digest(s.image) for s in samples} | {d for s in samples for d in (s.view, s.seen_as) if d}


def _not_seen_by(base: Model, samples: list[Sample]) -> None:
    """InputError when the base model was taught on any of these parts: every figure on them would be on parts it learnt."""
    seen = sum(not _digests([s]).isdisjoint(base.info.taught_parts) for s in samples)
    if seen:
        raise InputError(
            f"{base.path}: it was taught on {seen} of these {len(samples)} parts, so no figure on them would be held out: teach "
            "from the model it was taught from (the default, or its --base) with all the parts"
        )


def _write_and_say(asked: Asked, net: Any, base: Model, pick: Candidate, figures: dict[str, Any], col: Collection,
                   labels: npt.NDArray[np.int64], t0: float) -> int:  # fmt: skip
    """Write the qualified model and say so; a stop meanwhile comes before it is written or not at all (0, or 1 when the
    last checks refused it)."""
    with STOPS.held() as written:
        replaced = " (replacing the file that was there)" if os.path.lexists(asked.out) else ""
        failed = _write(asked.out, net, base, pick, figures, col, labels, asked.seed)
        if not failed:
            elapsed = time.monotonic() - t0
            figures["written"]["seconds"] = round(elapsed, 1)
            try:  # the report names the file it is the report of; the model is in place already, whatever this does
                report.write_metrics(asked.report, figures, keep_pictures=True)
            except StationError as exc:
                say(f"the report does not name the model written: {exc}")
            say(
                f"wrote {asked.out}{replaced}: {WHAT.get(pick.name, pick.name)}; parts pass under {pick.band[0]:.3f} (the base model: "
                f"under {base.info.band[0]:.3f}) ({elapsed:.0f} s); report in {asked.report}/"
            )
            written()
            return 0
        figures["qualified"], figures["refusals"] = False, [failed]
        report.write_metrics(asked.report, figures, keep_pictures=True)
        say(f"not written: {failed}; the report is in {asked.report}/")
    return 1


def _cross_fitted(asked: Asked, start: Any, samples: list[Sample], spec: PreprocessSpec, crops: npt.NDArray[np.float32],
                  labels: npt.NDArray[np.int64], fold: npt.NDArray[np.int64], gate: threshold.Gate,
                  recipe: Recipe) -> tuple[Candidate, list[Any]]:  # fmt: skip
    """The taught candidate (each part scored by the network that learnt every fold but its own), and those networks."""
    nets: list[Any] = []

    def train(part: list[Sample], seed: int, desc: str) -> Any:
        nets.append(fit(start, part, spec, recipe, seed, desc, fresh=asked.from_scratch))
        return nets[-1]

    held_out = cross_fit(samples, crops, fold, train, score, asked.seed)
    return candidate(Network.TAUGHT, spec, samples, crops, held_out, labels, fold, gate, asked.margin), nets


def _folds(samples: list[Sample], spec: PreprocessSpec, labels: npt.NDArray[np.int64], asked: int,
           seed: int) -> tuple[npt.NDArray[np.int64], int, int]:  # fmt: skip
    """A fold per part, whole groups (photos of one part) to a fold; the folds there are (no more than ``asked``, nor than
    groups of a kind); the groups of the kind with fewest: more folds than that leave it in some folds only."""
    part_groups = groups(samples, spec)
    if unused := named_alike(samples)[1]:
        say(f"{len(unused)} part names ({', '.join(unused[:3])}{', ...' if len(unused) > 3 else ''}) name no one part (two photo "
            "files, or more parts than a part's photos): their parts are grouped by their looks alone")  # fmt: skip
    fold = threshold.folds(part_groups, labels, asked, seed)
    per_kind = [len(np.unique(part_groups[labels == c])) for c in (0, 1)]
    if (used := int(fold.max()) + 1) < asked:
        say(f"{used} folds, not {asked}: the parts of one kind fall into at most {max(per_kind)} groups (photos of one part stay together)")
    return fold, used, min(per_kind)


def _advice(pick: Candidate, taught: Candidate, shipped: Candidate, labels: npt.NDArray[np.int64], samples: list[Sample],
            gate: threshold.Gate, asked: Asked, fewest_groups: int) -> list[str]:  # fmt: skip
    """What would help a refused line: the parts to look at again, the defects fine-tuned networks forgot, and the gate."""
    out = advice(pick, labels, samples, gate, shipped)
    if pick is taught and not asked.from_scratch:  # from scratch, nothing was there to forget
        out[-1:-1] = forgotten(taught, shipped, labels, samples, asked.folds, fewest_groups >= MORE_FOLDS)  # each kind in every fold
    return out


def _taught_network(won: bool, nets: list[Any], asked: Asked, start: Any, samples: list[Sample], spec: PreprocessSpec,
                    recipe: Recipe) -> Any:  # fmt: skip
    """What is written when the taught networks won: one network taught on every part, fine-tuned with its weights averaged
    with the fold networks'; from scratch, alone (each network learnt its own batch-norm statistics, whose mean means nothing;
    measured against the mean of the fold networks' scores in docs/teaching-measured.md)."""
    if not won:
        return None
    final = fit(start, samples, spec, recipe, asked.seed + asked.folds, "all parts", fresh=asked.from_scratch)
    return final if asked.from_scratch else soup([*nets, final])


def _figures(asked: Asked, col: Collection, pick: Candidate, candidates: tuple[Candidate, ...], base: Model,
             labels: npt.NDArray[np.int64], fold: npt.NDArray[np.int64], gate: threshold.Gate,
             recipe: Recipe) -> dict[str, Any]:  # fmt: skip
    refused, missed, at = col.refused_by_label(), col.refused_by_label(missed=True), pick.limits()
    honest = passing(pick.held_out, at)
    return {
        "sources": asked.sources, "line": asked.line, "counts": col.counts(), "folds": asked.folds, "seed": asked.seed,
        "recipe": asdict(recipe), "margin": asked.margin, "from_scratch": asked.from_scratch, "gate": asdict(gate),
        "network": pick.name, "pass_limit": pick.band[0], "threshold": pick.threshold, "uncertain_band": list(pick.band),
        "held_out": pick.judged.as_dict(),
        "held_out_at_threshold": threshold.outcome(pick.held_out, labels, pick.band[0], refused, missed).as_dict(),
        "candidates": {c.name: {**c.judged.as_dict(), "threshold": c.threshold, "uncertain_band": list(c.band), **nearness(c, asked.margin)}
                       for c in candidates},
        "base": {"model": base.info.model_id, "pass_limit": base.info.band[0],
                 **threshold.outcome(candidates[0].held_out, labels, base.info.band[0], refused, missed).as_dict()},
        **col.listed(),
        "held_out_scores": [{"part": s.origin, "label": s.label, "fold": int(f), "score": _number(pick.held_out[i]),
                             "judged_at": float(at[i]), "honest": "pass" if honest[i] else "reject",
                             "by_candidate": {c.name: _number(c.held_out[i]) for c in candidates}}
                            for i, (s, f) in enumerate(zip(col.samples, fold, strict=True))],
    }  # fmt: skip


def _number(v: float) -> float | None:
    """A score for the report, as the figures compared it (not rounded: next to a limit, rounding could turn a verdict round);
    JSON has no NaN (a network that gave a part no number)."""
    return float(v) if math.isfinite(v) else None


def cross_fit(samples: list[Sample], crops: npt.NDArray[np.float32], fold: npt.NDArray[np.int64], train: Trainer, scorer: Scorer,
              seed: int) -> npt.NDArray[np.float64]:  # fmt: skip
    """Each part's held-out score: from the network trained on every fold but its own."""
    held_out = np.full(len(samples), np.nan)
    k = int(fold.max()) + 1 if len(fold) else 0
    for f in range(k):
        mine = fold == f
        net = train([s for s, m in zip(samples, mine, strict=True) if not m], seed + f, f"fold {f + 1}/{k}")
        held_out[mine] = scorer(net, crops[mine])
    return held_out


def _refuse_early(asked: Asked, col: Collection, why: list[str]) -> int:
    """Refuse a line no network could qualify on, with the parts it could not inspect in the report (metrics.json)."""
    for reason in why:
        say(f"not qualified: {reason}")
    figures = {"sources": asked.sources, "line": asked.line, "counts": col.counts(), "qualified": False, "refusals": why, **col.listed()}
    report.write_metrics(asked.report, figures)
    say(f"nothing written; the report is in {asked.report}/")
    return 1


def taught_version(base: str, line: str) -> str:
    """The base model's version with the line's name as its build part (``1.0.0+line-a``): a model's id, which every
    verdict carries, then says what line it was taught for, whatever its file is called."""
    core = base.split("+")[0]  # a base taught for another line: that line's name gives way
    name = re.sub(r"[^0-9A-Za-z]+", "-", line).strip("-").lower() or "taught"
    short = name[: max(MAX_VERSION - len(core) - 1, 0)].strip("-")  # the id every verdict carries stays short; the whole
    return f"{core}+{short}" if short else core  # name is in the model's teach record


@contextlib.contextmanager
def as_file(net: Any, base: Model, pick: Candidate) -> Iterator[Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]]]:
    """A function scoring crops as the station runs the file ``pick`` would write: ``net`` written so once, loaded and
    scored by ONNX Runtime with the station's own unwrap (the last check judges these too: the file is what goes live);
    a base candidate's (``net`` None), the base model's own."""
    from station.teach.weights import write_model

    if net is None:
        yield lambda crops: base.score(crops).astype(np.float64)
        return
    with tempfile.TemporaryDirectory(prefix="station-teach-") as folder:
        path = Path(folder) / "check.onnx"
        write_model(net, path, replace(base.info, spec=pick.spec), pick.threshold, pick.band, {})
        written = Model(path)
        yield lambda crops: written.score(crops).astype(np.float64)


def _no_self_test(run: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]], pick: Candidate, labels: npt.NDArray[np.int64]) -> str:
    """Why the file ``pick`` would write could carry no self-test (:func:`station.teach.selftest.too_few_clear`, on its
    stored crops as ``run`` scores them, as the file will run them), or "": known before the choice, so that the next
    candidate the gate takes is tried."""
    return too_few_clear(run(stored(pick.crops, pick.spec.clip)), labels, pick.band[0])


def _write(out: Path, net: Any, base: Model, pick: Candidate, figures: dict[str, Any], col: Collection, labels: npt.NDArray[np.int64],
           seed: int) -> str | None:  # fmt: skip
    """The taught network, or the base network with the line's threshold, with what it was taught, if the station's gate takes
    it; else why not (nothing written)."""
    from station.teach.weights import relabel, write_model

    fingerprint = col.fingerprint()
    taught = {
        "base_model": base.info.model_id, "network": pick.name, "line": figures["line"], "samples_fingerprint": fingerprint,
        "parts": sorted(base.info.taught_parts | _digests(col.samples)),  # its base's too: it holds them
        "counts": figures["counts"], "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "validation": figures["held_out"],
        "networks": len(net.members) if hasattr(net, "members") else 1,
        "threshold_rule": "the base model's own" if pick.name == AS_SHIPPED else f"no held-out defect passes: {figures['margin']} "
        "log-odds below the lowest, or mid-gap below it; unless that rejects more than "
        f"{figures['gate']['max_false_reject_rate']:.1%} of the held-out good parts: then the limit that rejects so many; "
        f"never above {threshold.MAX_LIMIT}",
    }  # fmt: skip
    extra = {
        meta.META_VERSION: taught_version(base.info.version, figures["line"]),
        meta.META_TAUGHT: json.dumps(taught),
        meta.META_FINGERPRINT: fingerprint,
        meta.META_METRICS: json.dumps({"validation": figures["held_out"]}),
    }
    part = part_path(out)  # --out changes only to a model the gate took: an old one stays otherwise
    try:
        if net is None:  # a base candidate: its network, its preprocessing (perhaps rectifying), the line's operating point
            relabel(base.path, part, pick.threshold, pick.band, {**extra, meta.META_INPUT: json.dumps(asdict(pick.spec))})
        else:
            write_model(net, part, replace(base.info, spec=pick.spec), pick.threshold, pick.band, extra)
        if short := add_self_test(part, pick, labels, seed):
            return f"{out}: {short} (nothing written)"
        admitted = admit(part)
        digest = hashlib.sha256(part.read_bytes()).hexdigest()
        written = {"model": meta.model_id(out, admitted.info.version, digest), "file": str(out), "station": __version__,
                   "at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
        part.replace(out)
        figures["written"] = written  # only once it is: a report never names a file that a failed rename left unwritten
    except ModelError as exc:
        why = str(exc).removeprefix(f"{part}: ")  # the file judged was --out's, written aside first; it is gone
        return f"{out}: the taught model failed the station's own gate (nothing written): {why}"
    except OSError as exc:
        return f"{out}: cannot write the taught model: {exc.strerror or exc}"
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
    return None
