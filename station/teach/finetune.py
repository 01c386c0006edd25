"""Fine-tune a network on the line's parts, with the station's own crops (needs the ``train`` extra).

Every crop the network learns from is made by ``station.preprocess.normalise_crop`` from the
part's image and circle, as the station makes it on the line. Augmentations keep the label true:
a turn about the part's centre, a mirror image, small changes of light (gamma, a one-sided
gradient, focus, noise), and the locator's own error of about 1.5 % of the radius (``Recipe.jitter``;
4 % let more held-out defects pass on a tilted line, docs/teaching-measured.md). On request
(``Recipe.pits``, ``--pits``) a share of the good parts is shown with small pits painted on its
metal, as defective (``station.teach.pits``, the shipped model's own synthetic defects). Measured
(docs/teaching-measured.md): on a line with ring-light glare it kept the fine-tuned networks' eye for
small defects; under a low side light it taught them that relief shadows are pits, so it is off
by default. The whole network moves, starting from the base weights; batch-norm statistics stay
the base model's (a few hundred parts cannot re-estimate them: let learn, ``Recipe.learn_norms``,
they multiplied a tilted line's false rejects by two to five). Two guards against forgetting the
base line: a weak anchor, on by default (``Recipe.anchor``, L2-SP: the loss pays 0.002 times the
squared distance of the weights from the base's; on a tilted line the held-out figures went from 2
escapes and 4 false rejects to 1 and 3, and the written network's false rejects on other photos
halved; at 0.01 it held the network too near the base), and rehearsal, off (``Recipe.rehearse``:
photos of the base model's own line join each batch; it doubled the held-out false rejects). A
network taught from scratch has no base to be anchored to. A layer decay
(``Recipe.layer_decay``: the first layers learn slowest), also off: on the tilted line 0.85 and 0.7
kept both held-out escapes and judged 5 and 7 escapes on the other photos, against 3. Deterministic
for a seed and thread count.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from station.errors import one_line
from station.locate import Circle, FloatImage, GrayImage, rectify, rotation, u8
from station.preprocess import PreprocessSpec, normalise_crop
from station.teach.parts import Sample
from station.teach.pits import paint_pin_holes


@dataclass(frozen=True)
class Recipe:
    """How a network learns the line (``station teach`` options; defaults measured in docs/teaching-measured.md)."""

    epochs: int = 60  # of 40, 60 and 80, 60 taught a tilted line best (docs/teaching-measured.md)
    batch: int = 16
    lr: float = 1e-3
    threads: int = 2
    pits: float = 0.0  # share of the good parts shown with painted pits, as defective (0: none)
    learn_norms: bool = False  # batch-norm statistics learn the line's parts too (measured worse: docs/teaching-measured.md)
    rehearse: int = 0  # base-line photos added to each batch, half good and half defective, when fit is given some
    anchor: float = 0.002  # L2-SP: the loss also pays this times the squared distance of the weights from the base's
    jitter: float = 0.015  # the locator's error shown in teaching: SD of the crop circle's centre and radius, share of the radius
    layer_decay: float = 1.0  # feature block i of n learns at lr * layer_decay ** (n - i): the first layers move least
    defect_weight: float = 1.5  # a defective part's loss against a good part's, after balancing the classes: lean against escapes
    focus: float = 0.0  # focal loss: each part's loss times (1 - p_true) ** focus, so parts already learnt weigh less (0: plain)
    squash: float = 0.0  # a part is also shown flattened along a random axis by up to this share (an ellipse left unrectified)


def _light(f: npt.NDArray[Any], rng: np.random.Generator) -> npt.NDArray[Any]:
    f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** rng.uniform(0.8, 1.25)
    side = f.shape[0]
    a = rng.uniform(0, 2 * math.pi)
    ramp = (np.arange(side, dtype=np.float32) / side - 0.5) * 2
    f = f * (1.0 + rng.uniform(-0.15, 0.15) * (math.cos(a) * ramp[None, :] + math.sin(a) * ramp[:, None]))
    if rng.random() < 0.25:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 0.9))
    return f + rng.normal(0, rng.uniform(0, 3), f.shape).astype(np.float32)


def augmented(s: Sample, rng: np.random.Generator, spec: PreprocessSpec, pits: bool = False, jitter: float = Recipe.jitter,
              squash: float = Recipe.squash) -> FloatImage:  # fmt: skip
    """One label-preserving variant of ``s``, cropped and normalised by the station's own code.

    One warp takes the part (made round first, when the station saw it as an ellipse) into a square
    of its own, turned and perhaps mirrored about its centre; ``pits`` paints one to three pits on
    it (the variant is then defective); the light changes come after.
    """
    c = s.circle
    half = math.ceil(c.r * (1 + spec.margin) * 1.45) + 2
    a = rng.uniform(0, 2 * math.pi)
    turn = rotation(a)
    mirror = np.diag([-1.0, 1.0]) if rng.random() < 0.5 else np.eye(2)
    lin = mirror @ turn @ rectify(c)
    if squash:  # drawn only then: without it, the variants (and a seed's networks) are the ones they always were
        b, k = rng.uniform(0, math.pi), 1.0 - rng.uniform(0, squash)
        axis = rotation(b)
        lin = axis @ np.diag([1.0, k]) @ axis.T @ lin
    m = np.hstack([lin, (np.array([half, half]) - lin @ np.array([c.cx, c.cy]))[:, None]])
    roi = u8(cv2.warpAffine(s.image, m, (2 * half, 2 * half), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    if pits:
        roi = paint_pin_holes(roi, Circle(half, half, c.r), rng, int(rng.integers(1, 4)))
    img: GrayImage = np.clip(_light(roi.astype(np.float32), rng), 0, 255).astype(np.uint8)
    err = rng.normal(0, jitter, 3)
    return normalise_crop(img, Circle(half + err[0] * c.r, half + err[1] * c.r, c.r * (1 + err[2])), spec)[0]


def plain(samples: list[Sample], spec: PreprocessSpec) -> npt.NDArray[np.float32]:
    """The crops the station itself would score (no augmentation), N x S x S."""
    return np.stack([normalise_crop(s.image, s.circle, spec)[0] for s in samples])


def _freeze_norms(net: Any) -> None:
    import torch

    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def fit(base: Any, samples: list[Sample], spec: PreprocessSpec, recipe: Recipe, seed: int, desc: str, fresh: bool = False,
        rehearsal: Sequence[Sample] = ()) -> Any:  # fmt: skip
    """A copy of ``base`` trained on ``samples`` (``fresh``: ``base`` is untrained, its batch norms learn too).

    ``rehearsal``: labelled parts of the line the base model was trained on; ``recipe.rehearse`` of
    them, half of each class, join every batch so that the network keeps what it knew. A ``fresh``
    network has no base weights to be anchored to: its recipe's ``anchor`` must be 0.
    """
    if fresh and recipe.anchor:
        raise ValueError("a network taught from scratch has no base weights to be anchored to: its recipe's anchor must be 0")
    import torch
    from tqdm import tqdm

    torch.manual_seed(seed)
    torch.set_num_threads(recipe.threads)
    net = copy.deepcopy(base)
    steps = recipe.epochs * max(len(samples) // recipe.batch, 1)
    groups = _by_depth(net, recipe)  # one group at lr without a layer decay
    opt = torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=steps, pct_start=0.15)
    ref = [p.detach().clone() for p in net.parameters()] if recipe.anchor else []
    batches = _Batches(samples, rehearsal, spec, recipe, np.random.default_rng(seed))
    bar = tqdm(total=steps, desc=desc, unit="batch", disable=not sys.stderr.isatty(), leave=False)
    t0 = time.monotonic()
    for _ in range(recipe.epochs):
        net.train()
        if not (fresh or recipe.learn_norms):
            _freeze_norms(net)
        for x, y, w in batches.epoch():
            p = net(torch.from_numpy(x)[:, None])
            if not bool(torch.isfinite(p).all()):  # diverged (a rate too high): no number is a score, never a traceback
                return _diverged(net, desc, bar)
            loss: Any = _loss(p.clamp(1e-6, 1 - 1e-6), torch.from_numpy(y)[:, None], torch.from_numpy(w)[:, None], recipe.focus)
            if ref:
                loss = loss + recipe.anchor * sum(((q - r) ** 2).sum() for q, r in zip(net.parameters(), ref, strict=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    if bar.disable:  # no terminal for the bar (a log, a pipe): a line a network, so that minutes never pass in silence
        print(one_line(f"station teach: {desc}: network taught ({time.monotonic() - t0:.0f} s)"), file=sys.stderr, flush=True)
    return net.eval()


def _diverged(net: Any, desc: str, bar: Any) -> Any:
    """A network whose outputs stopped being numbers during training, every weight made NaN so that it scores each part as
    no number (teaching then says the taught networks diverged and never writes them); said on stderr."""
    import torch

    bar.close()
    with torch.no_grad():
        for q in net.parameters():
            q.fill_(float("nan"))
    print(one_line(f"station teach: {desc}: the network diverged (its outputs were no numbers): its parts get none"),
          file=sys.stderr, flush=True)  # fmt: skip
    return net.eval()


def _loss(p: Any, y: Any, w: Any, focus: float) -> Any:
    """Weighted binary cross-entropy of defect probabilities ``p`` against labels ``y``; with ``focus``, focal."""
    import torch

    each = torch.nn.functional.binary_cross_entropy(p, y, weight=w, reduction="none")
    if focus:
        each = each * (1 - torch.where(y > 0.5, p, 1 - p)) ** focus
    return each.mean()


def _by_depth(net: Any, recipe: Recipe) -> list[dict[str, Any]]:
    """Parameter groups: feature block i of n at ``lr * layer_decay ** (n - i)``, everything after the blocks at ``lr``."""
    import re

    block = {name: int(m.group(1)) for name, _ in net.named_parameters() if (m := re.match(r"features\.(\d+)\.", name))}
    n = max(block.values(), default=-1) + 1
    rates: dict[float, list[Any]] = {}
    for name, param in net.named_parameters():
        rates.setdefault(recipe.lr * recipe.layer_decay ** (n - block[name]) if name in block else recipe.lr, []).append(param)
    return [{"params": params, "lr": lr} for lr, params in rates.items()]


class _Batches:
    """The augmented batches of one fine-tune: crops, labels (1 = defective) and loss weights, from one generator."""

    def __init__(self, samples: list[Sample], rehearsal: Sequence[Sample], spec: PreprocessSpec, recipe: Recipe,
                 rng: np.random.Generator) -> None:  # fmt: skip
        self.samples, self.rehearsal, self.spec, self.recipe, self.rng = samples, rehearsal, spec, recipe, rng
        self.labels = np.array([s.label for s in samples])
        n_def = max(int(self.labels.sum()), 1)
        n = len(self.labels)
        self.weight = {1: recipe.defect_weight * n / (2 * n_def), 0: n / (2 * max(n - n_def, 1))}
        r_labels = np.array([s.label for s in rehearsal], np.int64)
        self.by_class = [np.flatnonzero(r_labels == c) for c in (0, 1)]
        self.extra = recipe.rehearse
        if self.extra and not all(len(c) for c in self.by_class):
            raise ValueError("recipe.rehearse needs rehearsal parts of both classes")

    def epoch(self) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
        rng, b = self.rng, min(self.recipe.batch, len(self.samples))  # fewer parts than a batch: one batch of them all
        order = rng.permutation(len(self.samples))
        for start in range(0, len(order) - b + 1, b):
            idx = order[start : start + b]
            painted = (self.labels[idx] == 0) & (rng.random(len(idx)) < self.recipe.pits)
            crops = [
                augmented(self.samples[i], rng, self.spec, bool(p), self.recipe.jitter, self.recipe.squash)
                for i, p in zip(idx, painted, strict=True)
            ]
            y = list((self.labels[idx] | painted).astype(np.float32))
            w = [self.weight[int(v)] for v in self.labels[idx]]
            for k in range(self.extra):
                s = self.rehearsal[int(rng.choice(self.by_class[k % 2]))]
                crops.append(augmented(s, rng, self.spec, jitter=self.recipe.jitter, squash=self.recipe.squash))
                y.append(float(s.label))
                w.append(1.0)  # balanced by the draw; the line's own defects alone lean against escapes
            yield np.stack(crops), np.array(y, np.float32), np.array(w, np.float32)


def score(net: Any, crops: npt.NDArray[np.float32], batch: int = 64) -> npt.NDArray[np.float64]:
    """The network's defect probability for each crop (eval mode)."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            out.append(net(torch.from_numpy(crops[i : i + batch])[:, None]).numpy().reshape(-1))
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def soup(nets: list[Any], weights: Sequence[float] | None = None) -> Any:
    """One network whose weights are the mean of ``nets``' (all fine-tuned from one base, batch-norm statistics the base's).

    ``weights``: a weighted mean (summing to 1), e.g. ``soup([base, net], (1 - a, a))``, ``a`` of the way from the base to ``net``.

    Measured (docs/teaching-measured.md): the mean of the fold networks' and the final network's weights
    judged new parts as well as the mean of their scores, or better, on three simulated lines, at
    the cost of one network.
    """
    import torch

    if weights is not None and (len(weights) != len(nets) or not math.isclose(sum(weights), 1.0)):
        raise ValueError(f"soup: {len(weights)} weights summing to {sum(weights):g} for {len(nets)} networks (one each, summing to 1)")
    out = copy.deepcopy(nets[0])
    states = [n.state_dict() for n in nets]
    w = torch.tensor(weights if weights is not None else [], dtype=torch.float32)

    def mean(k: str) -> Any:
        stacked = torch.stack([s[k].float() for s in states])
        return stacked.mean(0) if weights is None else torch.tensordot(w, stacked, dims=1)

    out.load_state_dict({k: mean(k).to(v.dtype) if v.is_floating_point() else v for k, v in states[0].items()})
    return out.eval()
