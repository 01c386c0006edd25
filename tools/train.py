"""Train the casting defect classifier and export it as the station's ONNX model.

    python3 -m tools.train [--data ../shared/data/casting/train] [--out station/defaults/defect.onnx]

Every image goes through station.preprocess (the daemon's own crop and normalisation). The
validation split is by groups of near-duplicates, so its numbers are honest. Needs the
``train`` extra (PyTorch); the station itself never imports this file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from station import model as meta
from station.config import SHIPPED_MODEL
from station.locate import Circle
from station.preprocess import PreprocessSpec, normalise_crop, preprocess
from station.stills import LABELLED, read_image
from station.teach.pits import PIT_DEPTHS, PIT_SIZES, paint_pin_holes
from station.unwrap import UnwrapSpec
from tools.augment import photo_view, random_view, render
from tools.robustness import SHARED, evaluate, pool
from tools.toolkit import environment, in_batches
from tools.validation_split import TAU, descriptor, frozen_split, group_near_duplicates, grouped_split, whiten

SPEC = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)  # --size changes the input size only
VERSION = "1.0.0"
PIT_GRID = 24  # cells per side of the network's 24 x 24 stage, where the pit head looks (8 px of a 192 px crop)


def load_images(root: Path) -> tuple[list[Path], npt.NDArray[np.int64], list[npt.NDArray[np.uint8]]]:
    paths: list[Path] = []
    labels: list[int] = []
    for folder, label in LABELLED.items():
        files = sorted((root / folder).glob("*.jp*g"))
        if not files:
            sys.exit(f"error: {root / folder}: no JPEG images found")
        paths += files
        labels += [label] * len(files)
    images = []
    for p in paths:
        read = read_image(p)  # the station's own reader: the same pixels as stills, footage and teach
        if read.image is None:
            sys.exit(f"error: {read.error}")
        images.append(read.image)
    return paths, np.array(labels), images


def fingerprint(root: Path, paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p.relative_to(root)).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _locate(i: int) -> tuple[Circle, int, npt.NDArray[np.float32]]:
    """The station's part finder on photo i (the frame's centre if it finds nothing), and its descriptor."""
    img = SHARED["images"][i]
    pre = preprocess(img, SPEC)
    fallback = 0
    if pre.circle is None:  # counted and reported: the photo is framed like the others
        fallback = 1
        pre = preprocess(img, SPEC, circle=Circle(img.shape[1] / 2, img.shape[0] / 2, 0.42 * img.shape[0]))
    assert pre.circle is not None
    return pre.circle, fallback, descriptor(normalise_crop(img, pre.circle, SPEC)[0], SPEC.margin)


def make_sample(img: npt.NDArray[np.uint8], circle: Circle, label: int, rng: np.random.Generator, paint: float, pits: tuple[float, float],
                pit_map: bool = False, spec: PreprocessSpec = SPEC, depths: tuple[float, float] = PIT_DEPTHS, shadow: float = 0.0,
                ) -> tuple[npt.NDArray[np.float32], int, npt.NDArray[np.float32] | None]:  # fmt: skip
    """One augmented training crop, made by the station's own preprocessing, its label, and its pit map.

    ``paint``: the share of OK photos given 1-4 painted pits (then labelled defective), ``pits``:
    their radii as fractions of the part's radius. With ``pit_map``, a photo of an OK part also
    gets where its painted pits ended up in the crop, per cell of a 24 x 24 grid (all zeros when none
    were painted); a defective photo's defects are not located, so its map is None. ``spec``: the
    crop (the model's input). ``depths``: how much a pit darkens the metal at its centre. ``shadow``: how deep a darkened
    sector may go (:func:`tools.augment.random_view`; 0: 0.6 and no shadows, the recipe of runs 1-31).
    """
    clean = img
    painted = label == 0 and rng.random() < paint
    if painted:
        img = paint_pin_holes(img, circle, rng, int(rng.integers(1, 5)), pits, depths)
    view = random_view(rng, shadow) if rng.random() < 0.8 else photo_view(rng)
    if painted:  # a label must stay true: keep the painted holes visible through blur, scale, codec and shadow
        view = replace(
            view, blur=min(view.blur, 0.6), jpeg=max(view.jpeg, 60) if view.jpeg else 0, fill=max(view.fill, 0.7) if view.fill > 0 else 0.0,
            sector=min(view.sector, 0.6),
        )  # fmt: skip
    before = rng.bit_generator.state
    shot, c = render(img, circle, view, rng)
    # the daemon's locator is off by ~1.5 %; on a ragged (flashed, burred) rim or a fixture ring it
    # may settle on an edge up to ~10 % outside or inside the true rim
    u = rng.random()
    grow = rng.normal(0, 0.015) if u < 0.6 else (rng.uniform(0.0, 0.10) if u < 0.85 else rng.uniform(-0.10, 0.0))
    jitter = Circle(c.cx + rng.normal(0, 0.015) * c.r, c.cy + rng.normal(0, 0.015) * c.r, c.r * (1 + grow))
    crop, _, _ = normalise_crop(shot, jitter, spec)
    cells = None
    if pit_map and label == 0:
        cells = np.zeros((PIT_GRID, PIT_GRID), np.float32)
        if painted:  # the same shot of the unpainted photo (same random draws): the difference is the pits
            after = rng.bit_generator.state
            rng.bit_generator.state = before
            clean_crop = normalise_crop(render(clean, circle, view, rng)[0], jitter, spec)[0]
            rng.bit_generator.state = after
            k = spec.size // PIT_GRID
            cells = ((clean_crop - crop) > 0.4).reshape(PIT_GRID, k, PIT_GRID, k).max(axis=(1, 3)).astype(np.float32)
    return crop, int(label or painted), cells


@dataclass
class Prepared:
    """The photos, where the station finds each part, and the grouped split: shared by training and --evaluate-only."""

    root: Path
    paths: list[Path]
    labels: npt.NDArray[np.int64]
    images: list[npt.NDArray[np.uint8]]
    circles: list[Circle]
    tr_idx: npt.NDArray[np.int64]
    va_idx: npt.NDArray[np.int64]
    facts: dict[str, object]
    spec: PreprocessSpec  # the model's input; photos are located and grouped on SPEC's 192 px crop whatever it is

    def eval_data(self, seed: int) -> dict[str, Any]:
        data = {"images": self.images, "circles": self.circles, "labels": self.labels, "va_idx": self.va_idx}
        return {**data, "seed": seed, "spec": self.spec}


def prepare(args: argparse.Namespace) -> Prepared:
    from tqdm import tqdm

    root = Path(args.data)
    t0 = time.time()
    paths, labels, images = load_images(root)
    if args.limit:
        keep = np.concatenate([np.flatnonzero(labels == k)[: args.limit] for k in (0, 1)])
        paths, labels, images = [paths[i] for i in keep], labels[keep], [images[i] for i in keep]
    print(f"loaded {len(paths)} images ({int(labels.sum())} defective) in {time.time() - t0:.0f}s")
    SHARED["images"] = images
    with pool(args.threads) as p:  # same results as one process: each photo is independent
        jobs = p.imap(_locate, range(len(images)), chunksize=64)
        located = list(tqdm(jobs, total=len(images), desc="locate", disable=args.no_progress))
    circles = [c for c, _, _ in located]
    fallback = sum(f for _, f, _ in located)
    desc = whiten(np.stack([d for _, _, d in located]))
    groups = group_near_duplicates(desc, labels, args.tau)
    frozen = Path(args.split) if args.split and not args.limit else None
    is_val = frozen_split(frozen, root, paths) if frozen else grouped_split(groups, labels, 0.15, args.seed)
    # no near-duplicate of a validation photo (by this run's grouping) is trained on
    linked = np.isin(groups, groups[is_val]) & ~is_val
    n_groups = len(np.unique(groups))
    largest = int(np.max(np.unique(groups, return_counts=True)[1]))
    print(
        f"part not found in {fallback} photos; {n_groups} near-duplicate groups (largest {largest}); "
        f"val {int(is_val.sum())} images ({'frozen: ' + str(frozen) if frozen else 'drawn'}); {int(linked.sum())} linked to val left out"
    )
    facts: dict[str, object] = {
        "near_duplicate_groups": n_groups,
        "largest_group": largest,
        "tau": args.tau,
        "split": "frozen" if frozen else "drawn",
        "linked_to_validation_left_out": int(linked.sum()),
        "val_images": int(is_val.sum()),
        "train_images": int((~is_val & ~linked).sum()),
        "part_not_found": fallback,
        "seed": args.seed,
    }
    spec = replace(SPEC, size=args.size)
    return Prepared(root, paths, labels, images, circles, np.flatnonzero(~is_val & ~linked), np.flatnonzero(is_val), facts, spec)


def train(args: argparse.Namespace) -> None:
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from station.teach.net import build, export

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    data = prepare(args)
    tr_idx = data.tr_idx

    with_maps = args.pit_loss > 0
    net = build(args.arch, args.width, data.spec, with_maps)
    net = net.to(memory_format=torch.channels_last)  # ~30 % faster convolutions on a CPU
    opt, sched = optimiser(net, args.lr, args.epochs * ((len(tr_idx) + args.batch - 1) // args.batch))
    depths = (args.pit_depth[0], args.pit_depth[1])
    ds = sample_set(data, args.seed, args.paint, (args.pits[0], args.pits[1]), with_maps, args.pit_warmup, depths, args.shadow)
    losses: list[float] = []
    for epoch in range(args.epochs):
        ds.epoch = epoch
        net.train()
        g = torch.Generator().manual_seed(args.seed + epoch)
        loader = DataLoader(ds, batch_size=args.batch, shuffle=True, generator=g, num_workers=args.workers, drop_last=True)
        tot = 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.no_progress)
        for batch in bar:
            loss = _step(net, opt, sched, batch, args.pit_loss)
            tot += loss
            bar.set_postfix(loss=f"{loss:.3f}")
        losses.append(round(tot / max(len(loader), 1), 4))
        print(f"epoch {epoch + 1}: loss {losses[-1]:.4f} ({time.time() - t0:.0f}s)")
    net = net.to(memory_format=torch.contiguous_format)
    net.eval()
    report = {**evaluate(lambda crops: scores_for(net, crops), data.eval_data(args.seed), args.threads), **data.facts}
    recipe = {
        "paint": args.paint, "pits": list(args.pits), "pit_loss": args.pit_loss, "lr": args.lr, "batch": args.batch, "width": args.width,
        "size": args.size, "pit_warmup": args.pit_warmup, "pit_depth": list(args.pit_depth), "arch": args.arch,
        **({"shadow": args.shadow} if args.shadow else {}),
    }  # fmt: skip
    report.update({"epochs": args.epochs, "train_seconds": round(time.time() - t0), "recipe": recipe, "epoch_loss": losses})
    report["environment"] = environment()
    finish(args, data, report, lambda path: export(net, path, data.spec.size))


def _step(net: Any, opt: Any, sched: Any, batch: tuple[Any, Any, Any, Any], pit_loss: float) -> float:
    """One optimiser step on a batch (crops, labels, pit grids, which grids are known); its loss."""
    import torch

    x, y, grid, known = batch
    opt.zero_grad()
    p, pit_logits = net.forward_with_pits(x.contiguous(memory_format=torch.channels_last))
    loss = defect_loss(p, y)
    if pit_logits is not None:  # where the painted pits are: a direct signal for the pit detector
        cell_loss = torch.nn.functional.binary_cross_entropy_with_logits(
            pit_logits, grid, pos_weight=torch.tensor(10.0), reduction="none"
        ).mean(dim=(1, 2, 3))
        loss = loss + pit_loss * (cell_loss * known).sum() / known.sum().clamp(min=1.0)
    loss.backward()
    opt.step()
    sched.step()
    return float(loss.detach())


def sample_set(
    data: Prepared,
    seed: int,
    paint: float,
    pits: tuple[float, float],
    pit_map: bool,
    warmup: int = 0,
    depths: tuple[float, float] = PIT_DEPTHS,
    shadow: float = 0.0,
) -> Any:
    """The training photos as a PyTorch dataset of (crop, label, pit map, map known); set ``.epoch``.

    Each sample is seeded by (seed, epoch, photo), so any worker makes the same one (shared with
    tools/sweep.py). For the first ``warmup`` epochs twice as many OK photos get pits, twice as
    large (an easy start for the pit detector).
    """
    import torch

    class Samples(torch.utils.data.Dataset[tuple[torch.Tensor, ...]]):  # type: ignore[misc, unused-ignore]  # torch or onnxruntime: Any without the train extra
        epoch = 0

        def __len__(self) -> int:
            return len(data.tr_idx)

        def __getitem__(self, k: int) -> tuple[torch.Tensor, ...]:
            i = int(data.tr_idx[k])
            rng = np.random.default_rng([seed, self.epoch, i])
            share, radii = (min(1.0, 2 * paint), (2 * pits[0], 2 * pits[1])) if self.epoch < warmup else (paint, pits)
            img, circle, photo_label = data.images[i], data.circles[i], int(data.labels[i])
            crop, label, cells = make_sample(img, circle, photo_label, rng, share, radii, pit_map, data.spec, depths, shadow)
            grid = torch.from_numpy(cells)[None] if cells is not None else torch.zeros(1, PIT_GRID, PIT_GRID)
            return torch.from_numpy(crop)[None], torch.tensor([float(label)]), grid, torch.tensor(float(cells is not None))

    return Samples()


def optimiser(net: Any, lr: float, steps: int) -> tuple[Any, Any]:
    """AdamW with a one-cycle learning rate over ``steps`` batches (shared with tools/sweep.py)."""
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)


def defect_loss(p: Any, y: Any) -> Any:
    """Binary cross-entropy of the defect probability; defective samples weigh 1.5 (an escape costs more)."""
    import torch

    w = torch.where(y > 0.5, 1.5, 1.0)
    return torch.nn.functional.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), y, weight=w)


def evaluate_only(args: argparse.Namespace) -> None:
    """Re-score a trained model through the station's own ONNX Runtime session: same split, same views."""
    from station.model import Model

    old = json.loads(Path(args.report).read_text()) if Path(args.report).exists() else {}
    data = prepare(args)
    model = Model(Path(args.out))  # after the locate workers are forked: they never touch ONNX Runtime
    data = replace(data, spec=model.info.spec)  # the file's own input size, whatever --size says

    report = {**evaluate(lambda crops: in_batches(model.score, crops), data.eval_data(args.seed), args.threads), **data.facts}
    report.update({k: old[k] for k in ("epochs", "train_seconds", "recipe", "epoch_loss") if k in old})
    finish(args, data, report, lambda _path: model.info.unwrap)  # the graph stays as it is


def finish(args: argparse.Namespace, data: Prepared, report: dict[str, object], write_graph: Callable[[Path], UnwrapSpec | None]) -> None:
    """Write the graph (``write_graph`` returns the unwrap it starts after), the metadata the station reads, and the report."""
    report["validation_files"] = sorted(str(data.paths[i].relative_to(data.root)) for i in data.va_idx)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    unwrap = write_graph(out)
    write_metadata(out, report, fingerprint(data.root, data.paths), data.spec, unwrap)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "validation_files"}, indent=2))


def scores_for(net: object, crops: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    import torch

    with torch.no_grad():
        return in_batches(lambda b: net(torch.from_numpy(b)[:, None]).numpy().reshape(-1), crops)  # type: ignore[operator, no-any-return, unused-ignore]


def write_metadata(path: Path, report: dict[str, object], data_fp: str, spec: PreprocessSpec, unwrap: UnwrapSpec | None) -> None:
    from station.teach.weights import operating_point, stamp

    band = cast(list[float], report["uncertain_band"])
    stamp(path, VERSION, spec, unwrap, {
        **operating_point(float(cast(float, report["threshold"])), (band[0], band[1])),
        meta.META_FINGERPRINT: data_fp,
        meta.META_METRICS: json.dumps({"validation": report["validation"], "near_duplicate_groups": report["near_duplicate_groups"]}),
    })  # fmt: skip
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python3 -m tools.train", description=__doc__.splitlines()[0] if __doc__ else None)
    here = Path(__file__).resolve().parent.parent
    ap.add_argument("--data", default=str(here.parent / "shared/data/casting/train"))
    ap.add_argument("--out", default=str(SHIPPED_MODEL))
    ap.add_argument("--report", default=str(here / "models/training_report.json"))
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--paint", type=float, default=0.2, help="share of OK photos given synthetic pits (labelled defective)")
    ap.add_argument("--pits", type=float, nargs=2, default=list(PIT_SIZES), metavar=("MIN", "MAX"), help="pit radius range, x part radius")
    ap.add_argument(
        "--pit-depth", type=float, nargs=2, default=list(PIT_DEPTHS), metavar=("MIN", "MAX"), help="share by which a pit darkens the metal"
    )
    ap.add_argument("--pit-warmup", type=int, default=0, help="first epochs with twice the pits, twice as large")
    ap.add_argument("--pit-loss", type=float, default=0.0, help="weight of the painted pits' location loss (0: off)")
    ap.add_argument("--shadow", type=float, default=0.8, help="a darkened sector may go this deep (0..1; 0: 0.6, no shadows, "
                    "as runs 1-31), half the time a soft-edged shadow (tools/augment.py: random_view)")  # fmt: skip
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--size", type=int, default=SPEC.size, choices=(192, 288), help="input crop, px (288: a stride-3 first layer)")
    ap.add_argument(
        "--arch",
        default="polar-wrap",
        choices=("square", "polar", "polar-wrap"),
        help="network: on the part unwrapped around its centre (polar-wrap: one turn, convolutions padded round the circle), "
        "or on the square crop (runs 1-19)",
    )
    ap.add_argument("--tau", type=float, default=TAU, help="cosine distance under which two photos are near-duplicates")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--split", default=str(here / "models/validation_split.json"), help="frozen validation photos; '' draws a grouped split"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="debug: use only this many images per class")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument(
        "--evaluate-only", action="store_true", help="re-score the model at --out (ONNX Runtime) and rewrite its report and metadata"
    )
    args = ap.parse_args()
    if args.arch.startswith("polar") and args.pit_loss > 0:
        ap.error("--pit-loss needs --arch square (the polar network has no pit map)")
    evaluate_only(args) if args.evaluate_only else train(args)


if __name__ == "__main__":
    main()
