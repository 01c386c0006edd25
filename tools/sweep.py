"""Compare training recipes side by side on one machine with a GPU (exploration, not the shipped recipe).

    python3 -m tools.sweep --plan plan.json [--data ../shared/data/casting/train] [--device cuda]

Each entry of the plan is one augmentation stream (``paint``, ``pits``, optionally ``pit_depth``,
as tools/train.py's ``--pit-depth``) and the networks trained
on it (``name``, ``epochs``, net ``seed``, ``lr``, ``arch`` as tools/train.py's ``--arch``, but ``square`` when not given,
as in the sweeps of runs 1-19 that sweep_plan.json repeats; the shipped network is ``polar-wrap``): every network of a stream sees the same
batches, made on many CPU workers by tools/train.py's own ``make_sample`` (so by the station's own
preprocessing), and is judged by tools/robustness.py on the same frozen validation split, re-shoots
and pin holes as a training run. It writes ``sweep.json`` (one report per network, with its loss
per epoch, the three lowest-scored defective validation photos and the pin holes passed at 0.5)
and each stream's weights to ``--out``.

A GPU run is not the 2-core CPU run that ships (different arithmetic, so different weights from
the same seed): use the sweep to choose a recipe, then train it with ``python3 -m tools.train``. Example plan::

    [{"paint": 0.2, "pits": [0.02, 0.05], "nets": [{"name": "e12", "epochs": 12}, {"name": "e14_s8", "epochs": 14, "seed": 8}]}]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from station.teach.pits import PIT_DEPTHS
from tools import train as T
from tools.augment import ROBUSTNESS_VIEWS
from tools.robustness import PIN_HOLE_BANDS, SHARED, ViewCrops, pool, summarise, view_crops
from tools.toolkit import in_batches
from tools.validation_split import TAU


def _pit_depths(stream: dict[str, Any]) -> tuple[float, float]:
    """The stream's ``pit_depth``, or tools/train.py's default."""
    depth = stream.get("pit_depth", PIT_DEPTHS)
    return float(depth[0]), float(depth[1])


def train_stream(data: T.Prepared, stream: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train every network of one stream on the same batches; each keeps its own optimiser and schedule."""
    import torch

    from station.teach.net import build

    pits = (float(stream["pits"][0]), float(stream["pits"][1]))
    ds = T.sample_set(data, args.seed, float(stream["paint"]), pits, False, depths=_pit_depths(stream))
    per_epoch = len(ds) // args.batch
    runs = []
    for spec in stream["nets"]:
        torch.manual_seed(int(spec.get("seed", args.seed)))
        net = build(str(spec.get("arch", "square")), int(spec.get("width", 16)), data.spec)
        net = net.to(args.device).to(memory_format=torch.channels_last)
        opt, sched = T.optimiser(net, float(spec.get("lr", 3e-3)), int(spec["epochs"]) * per_epoch)
        runs.append({"spec": spec, "net": net, "opt": opt, "sched": sched, "loss": []})
    t0 = time.time()
    for epoch in range(max(int(r["spec"]["epochs"]) for r in runs)):
        ds.epoch = epoch
        g = torch.Generator().manual_seed(args.seed + epoch)
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, generator=g, num_workers=args.workers, drop_last=True)
        active = [r for r in runs if epoch < int(r["spec"]["epochs"])]
        totals = [0.0] * len(active)
        for r in active:
            r["net"].train()
        for x, y, _, _ in loader:
            x, y = x.to(args.device).contiguous(memory_format=torch.channels_last), y.to(args.device)
            for k, r in enumerate(active):
                r["opt"].zero_grad()
                loss = T.defect_loss(r["net"](x), y)
                loss.backward()
                r["opt"].step()
                r["sched"].step()
                totals[k] += float(loss.detach())
        for k, r in enumerate(active):
            r["loss"].append(round(totals[k] / per_epoch, 4))
        losses = " ".join(f"{r['spec']['name']}={r['loss'][-1]}" for r in active)
        print(f"epoch {epoch + 1} ({time.time() - t0:.0f}s): {losses}", flush=True)
    return runs


def judge(run: dict[str, Any], views: dict[str, ViewCrops], data: T.Prepared, device: str) -> dict[str, Any]:
    import torch

    net = run["net"].eval()

    def score(crops: list[Any]) -> Any:
        with torch.no_grad():
            return in_batches(lambda b: net(torch.from_numpy(b)[:, None].to(device)).float().cpu().numpy().reshape(-1), crops)

    per_view = {name: (score(vc.crops), vc) for name, vc in views.items()}
    report: dict[str, Any] = summarise(per_view)
    clean, vc0 = per_view["as_photographed"]
    worst = np.argsort(np.where(vc0.labels == 1, clean, np.inf))[:3]
    report["lowest_defects"] = {data.paths[data.va_idx[k]].name: round(float(clean[k]), 4) for k in worst}
    report["pin_holes_passed_at_0.5"] = {n: int(np.sum((per_view[n][0] < 0.5) & (per_view[n][1].labels == 1))) for n in PIN_HOLE_BANDS}
    report["epoch_loss"] = run["loss"]
    report["spec"] = run["spec"]
    return report


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(prog="python3 -m tools.sweep", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--plan", type=Path, required=True)
    ap.add_argument("--data", default=str(here.parent / "shared/data/casting/train"))
    ap.add_argument("--out", type=Path, default=Path("sweep-out"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--workers", type=int, default=8, help="augmentation and evaluation processes")
    ap.add_argument("--seed", type=int, default=7, help="data seed: augmentation, shuffling and the views")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="debug: use only this many images per class (a drawn split)")
    args = ap.parse_args()
    import cv2
    import torch

    cv2.setNumThreads(1)  # one thread per worker process
    plan = json.loads(args.plan.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    split = str(here / "models/validation_split.json")
    prep = argparse.Namespace(
        data=args.data, limit=args.limit, threads=args.workers, no_progress=True, tau=TAU, split=split, seed=args.seed, size=T.SPEC.size
    )
    data = T.prepare(prep)
    SHARED.update(data.eval_data(args.seed))
    names = [*ROBUSTNESS_VIEWS, *PIN_HOLE_BANDS]
    with pool(args.workers) as p:
        views = dict(zip(names, p.imap(view_crops, names), strict=True))
    results: dict[str, Any] = {}
    for k, stream in enumerate(plan):
        runs = train_stream(data, stream, args)
        for run in runs:
            rep = judge(run, views, data, args.device)
            recipe = {"paint": stream["paint"], "pits": stream["pits"], "pit_depth": list(_pit_depths(stream))}
            results[run["spec"]["name"]] = {**recipe, **rep}
            v, ph = rep["validation"], rep["pin_holes"]
            at_half = list(rep["pin_holes_passed_at_0.5"].values())
            print(f"{run['spec']['name']}: threshold {rep['threshold']} false rejects {v['false_rejects']} lowest {rep['lowest_defects']} "
                  f"pin holes passed {[ph[n]['escapes'] for n in ph]} (at 0.5: {at_half})", flush=True)  # fmt: skip
        torch.save({r["spec"]["name"]: {n: t.cpu() for n, t in r["net"].state_dict().items()} for r in runs}, args.out / f"stream{k}.pt")
        (args.out / "sweep.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
