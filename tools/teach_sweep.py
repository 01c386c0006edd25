"""Compare teaching recipes on one simulated (or real) line: held-out figures and a judged set, side by side.

    python3 -m tools.teach_sweep TEACH JUDGE [--plan plan.json] [--json out.json] [--scores DIR] [--rehearse FOLDER] [--mirror]

TEACH and JUDGE are labelled folders (``ok_front/``, ``def_front/``), e.g. the two
halves ``python3 -m tools.new_line`` writes. Each entry of the plan is a recipe (keys of
``station.teach.finetune.Recipe``, plus ``margins``, the threshold rule's margins to compare, and
``from_scratch``, true for networks taught from untrained weights drawn from ``--seed``, without
an anchor); for each one this does what ``station teach`` does for its taught candidate:
cross-fits ``--folds`` networks from the shipped model (or from scratch) on the teach parts, sets the operating
point on their held-out scores and judges it honestly; then, at that operating point on the judge
folder, it judges the mean of the fold networks' scores (``ensemble``), one network taught on
every teach part (``final``: what ``station teach --from-scratch`` writes), the mean of its and
the fold networks' weights (``soup``: what ``station teach`` writes; not from scratch) and each
fold network alone (``fold_1``...);
parts the station cannot inspect there count as rejects. ``--toward-base A...``: the same again
with every network's weights A of the way from the base's to their own (measured and dropped,
docs/teaching-measured.md). ``--mirror``: the same networks again, each part scored as the
mean over its crop and the crop's mirror image (measured and dropped, too). ``--rehearse``: the
base model's training photos (``../shared/data/casting/train``), for recipes with ``rehearse``:
600 photos of each class, none of the validation split that ``tools.new_line`` re-shoots (a
near-duplicate of one, which ``tools/train.py`` also leaves out, may be among them: a leak that
could only favour rehearsal).
Exploration, not a product path: the recipe that ships is ``station teach``'s default, and this
is how it was chosen (docs/teaching-measured.md). Default plan (each margin's figures come from the same networks)::

    [{"name": "default"}, {"name": "epochs 60", "epochs": 60}, {"name": "lr 2e-3", "lr": 0.002},
     {"name": "learnt BN", "learn_norms": true}]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from station.config import SHIPPED_MODEL, load_config
from station.gate import admit
from station.offline.evaluate import f1_score
from station.stills import LABELLED
from station.teach import threshold
from station.teach.command import cross_fit, fresh_start, taught_spec
from station.teach.finetune import Recipe, fit, plain, score, soup
from station.teach.groups import groups
from station.teach.net import Ensemble
from station.teach.parts import Sample
from station.teach.samples import collect, rectified
from station.teach.weights import from_onnx

ROOT = Path(__file__).resolve().parent.parent
MARGINS = (threshold.MARGIN, 0.5)
RECIPE_KEYS = {f.name for f in fields(Recipe)}
PLAN: list[dict[str, Any]] = [{"name": "default"}, {"name": "epochs 60", "epochs": 60}, {"name": "lr 2e-3", "lr": 0.002},
        {"name": "learnt BN", "learn_norms": True}]  # fmt: skip


def run(teach: Path, judge: Path, plan: list[dict[str, Any]], folds: int, seed: int, rehearse: Path | None = None,
        most: float = threshold.Gate().max_false_reject_rate, toward_base: tuple[float, ...] = (),
        keep: Path | None = None, mirror: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    cfg = load_config(None, [])
    base = admit(SHIPPED_MODEL)
    spec = taught_spec(base)
    rehearsal = _rehearsal(rehearse, base, cfg, seed) if rehearse else []
    samples = rectified(collect([teach], base.info.spec, cfg))
    labels = np.array([s.label for s in samples], np.int64)
    fold = threshold.folds(groups(samples, spec), labels, folds, seed)
    judged_col = collect([judge], base.info.spec, cfg)
    j_samples = rectified(judged_col)
    j_labels = np.array([s.label for s in j_samples], np.int64)
    j_refused = judged_col.refused_by_label()
    crops, j_crops = plain(samples, spec), plain(j_samples, spec)
    start = from_onnx(base.path, base)
    out: list[dict[str, Any]] = []
    for entry in plan:
        t0 = time.monotonic()
        fresh = bool(entry.get("from_scratch"))
        recipe = replace(Recipe(anchor=0.0) if fresh else Recipe(), **{k: v for k, v in entry.items() if k in RECIPE_KEYS})
        first = fresh_start(base, seed) if fresh else start
        nets: list[Any] = []

        def train(part: list[Sample], net_seed: int, desc: str, recipe: Recipe = recipe, nets: list[Any] = nets,
                  first: Any = first, fresh: bool = fresh) -> Any:  # fmt: skip
            nets.append(fit(first, part, spec, recipe, net_seed, desc, fresh=fresh, rehearsal=rehearsal))  # kept for the weights' mean
            return nets[-1]

        held = cross_fit(samples, crops, fold, train, score, seed)
        final = fit(first, samples, spec, recipe, seed + folds, "all", fresh=fresh, rehearsal=rehearsal)
        judged_scores = {"ensemble": score(Ensemble(nets).eval(), j_crops), "final": score(final, j_crops)}
        name = entry.get("name", str(entry))
        runs = [(name, held, judged_scores)]
        if not fresh:  # networks from scratch have no common batch-norm statistics to average, and no base to go back to
            souped = soup([*nets, final])
            judged_scores["soup"] = score(souped, j_crops)
            runs += [_toward(name, a, start, nets, souped, fold, crops, j_crops) for a in toward_base]
            runs += [_mirrored(name, nets, final, fold, crops, j_crops)] if mirror else []
        judged_scores.update({f"fold_{k + 1}": score(n, j_crops) for k, n in enumerate(nets)})
        for run_name, run_held, run_judged in runs:
            if keep:  # every score, to compare threshold rules without teaching again
                _keep(keep, {"name": run_name, "held": run_held, "labels": labels, "fold": fold, "judge_labels": j_labels,
                             "judge_refused": np.array(j_refused), **run_judged})  # fmt: skip
            for margin in entry.get("margins", MARGINS):
                row = _row(run_name, entry, margin, run_held, labels, fold, most, run_judged, j_labels, j_refused)
                row["seconds"] = round(time.monotonic() - t0)
                out.append(row)
                print(json.dumps(row), flush=True)
    return out


def _toward(name: str, a: float, base: Any, nets: list[Any], souped: Any, fold: Any, crops: Any,
            j_crops: Any) -> tuple[str, Any, dict[str, Any]]:  # fmt: skip
    """Each fold network's held-out scores, and the soup's judged ones, with their weights ``a`` of the way from the base's."""
    near_base = np.full(len(crops), np.nan)
    for f, net in enumerate(nets):
        near_base[fold == f] = score(soup([base, net], (1 - a, a)), crops[fold == f])
    return f"{name}, {a:g} of the way from the base", near_base, {"soup": score(soup([base, souped], (1 - a, a)), j_crops)}


def _keep(folder: Path, arrays: dict[str, Any]) -> None:
    """One recipe's scores as the next NNN.npz in ``folder``."""
    np.savez(folder / f"{len(list(folder.glob('*.npz'))):03d}.npz", **arrays)


def mirror_score(net: Any, crops: Any) -> Any:
    """The mean of the network's defect probabilities on each crop and on its mirror image (test-time augmentation)."""
    return (score(net, crops) + score(net, np.ascontiguousarray(crops[:, :, ::-1]))) / 2


def _mirrored(name: str, nets: list[Any], final: Any, fold: Any, crops: Any, j_crops: Any) -> tuple[str, Any, dict[str, Any]]:
    """The same networks (``nets``: the fold networks, in fold order), each part scored as the mean over its crop and its mirror image."""
    held = np.full(len(crops), np.nan)
    for f, net in enumerate(nets):
        held[fold == f] = mirror_score(net, crops[fold == f])
    judged = {"final": mirror_score(final, j_crops), "soup": mirror_score(soup([*nets, final]), j_crops)}
    return f"{name}, crop and mirror", held, judged


def _row(name: str, entry: dict[str, Any], margin: float, held: Any, labels: Any, fold: Any, most: float, judged: dict[str, Any],
         j_labels: Any, j_refused: tuple[int, int]) -> dict[str, Any]:  # fmt: skip
    """The honest held-out figures at the operating point the held-out scores set, and each judged network's at that limit."""
    _, band = threshold.operating_point(held, labels, margin, most)
    row: dict[str, Any] = {"name": name, "recipe": entry, "margin": margin, "pass_limit": band[0],
                           "honest": threshold.honest(held, labels, fold, margin, most).as_dict()}  # fmt: skip
    for which, js in judged.items():
        o = threshold.outcome(js, j_labels, band[0], j_refused)
        row[f"judged_{which}"] = {**o.as_dict(), "f1": round(f1_score(o.defective - o.escapes, o.false_rejects, o.escapes), 4)}
    return row


def _rehearsal(train: Path, base: Any, cfg: Any, seed: int, per_class: int = 600) -> list[Sample]:
    """Photos of the base model's own line that no simulated line was made from, located by the station."""
    held_out = set(json.loads((ROOT / "models" / "validation_split.json").read_text())["files"])
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for sub in LABELLED:
            (Path(tmp) / sub).mkdir()
            names = sorted(p.name for p in (train / sub).iterdir() if f"{sub}/{p.name}" not in held_out)
            for name in rng.permutation(names)[:per_class]:
                (Path(tmp) / sub / name).symlink_to((train / sub / name).resolve())
        # located as the base model was trained on them (not made round: 671 of the 1200 would be
        # fitted as slight ellipses, and their crops would no longer be the ones the base learnt)
        return collect([Path(tmp)], base.info.spec, cfg).samples


def main() -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.teach_sweep", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("teach", type=Path)
    ap.add_argument("judge", type=Path)
    ap.add_argument("--plan", type=Path, help="a JSON list of recipes (see the module's docstring)")
    ap.add_argument("--folds", type=int, default=threshold.FOLDS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--rehearse", type=Path, help="the base model's training photos, for recipes with rehearse > 0")
    ap.add_argument("--max-false-reject-rate", type=float, default=100 * threshold.Gate().max_false_reject_rate,
                    help="percent, as station teach's: the pass limit rejects no more held-out good parts")  # fmt: skip
    ap.add_argument("--toward-base", type=float, nargs="*", default=[], metavar="A",
                    help="also judge the networks with their weights A of the way from the base's to their own (0 < A < 1)")  # fmt: skip
    ap.add_argument("--mirror", action="store_true", help="also score every part as the mean over its crop and the crop's mirror image")
    ap.add_argument("--scores", type=Path, metavar="DIR",
                    help="keep every held-out and judged score in DIR (NNN.npz per recipe and --toward-base, after any there)")  # fmt: skip
    args = ap.parse_args()
    if args.scores:
        try:  # now, not after the first recipe has taught
            args.scores.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            ap.error(f"--scores {args.scores}: {exc.strerror or exc}")
    if any(not 0 < a < 1 for a in args.toward_base):
        ap.error("--toward-base: each A between 0 and 1")
    plan = json.loads(args.plan.read_text()) if args.plan else PLAN
    if any(entry.get("from_scratch") and (args.toward_base or entry.get("anchor")) for entry in plan):
        ap.error("a recipe from_scratch has no base weights to go back to: no --toward-base, no anchor")
    if not args.rehearse and any(entry.get("rehearse") for entry in plan):
        ap.error("a recipe with rehearse needs --rehearse (the base model's training photos)")
    res = run(args.teach, args.judge, plan, args.folds, args.seed, args.rehearse, args.max_false_reject_rate / 100, tuple(args.toward_base),
              args.scores, args.mirror)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
