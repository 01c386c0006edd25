"""The defect classifier's network (training-only: PyTorch is an optional dependency)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from station.preprocess import PreprocessSpec
from station.unwrap import UnwrapSpec


def _conv(cin: int, cout: int, stride: int, kernel: int = 3, wrap: bool = False) -> nn.Sequential:
    """Convolution, batch norm, ReLU; with ``wrap`` the width axis is a circle (padded with its other end)."""
    pad = kernel // 2
    if not wrap:
        return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    return nn.Sequential(
        nn.CircularPad2d((pad, pad, 0, 0)),
        nn.Conv2d(cin, cout, kernel, stride, (pad, 0), bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _stages(w: int, stride: int = 2, wrap: bool = False) -> nn.Sequential:
    """The 8 layers both networks share: narrow where the image is large, wide where it is small.

    The first layer has ``stride`` and a (2 stride - 1) kernel (each pixel seen); then four stride-2
    stages, 32 x smaller in all at stride 2. ``wrap``: the width axis is periodic (the angle round
    the part), so no layer sees a seam.
    """
    return nn.Sequential(
        _conv(1, w, stride, 2 * stride - 1, wrap),
        _conv(w, w * 3 // 2, 2, wrap=wrap),
        _conv(w * 3 // 2, 2 * w, 1, wrap=wrap),
        _conv(2 * w, 4 * w, 2, wrap=wrap),
        _conv(4 * w, 4 * w, 1, wrap=wrap),
        _conv(4 * w, 8 * w, 2, wrap=wrap),
        _conv(8 * w, 8 * w, 1, wrap=wrap),
        _conv(8 * w, 12 * w, 2, wrap=wrap),
    )


class DefectNet(nn.Module):  # type: ignore[misc, unused-ignore]  # torch or onnxruntime: Any without the train extra
    """Plain CNN, narrow where the image is large and wide where it is small (cheap on a CPU).

    192 px in (or 288, with a stride-3 first layer); then stride-2 stages to 6 x 6. The head pools
    both the mean and the max of the last features, so one small defect anywhere on the face (a pin
    hole) can drive the score.
    """

    def __init__(self, width: int = 16, pit_head: bool = False, size: int = 192) -> None:
        super().__init__()
        w = width
        if size % 96:
            raise ValueError(f"input size {size} is not a multiple of 96")
        stride = size // 96  # 192: a 3 x 3 stride-2 first layer; 288: 5 x 5 stride 3 (each pixel seen, pits kept sharp)
        self.features = _stages(w, stride)  # 96, 48, 24, 12, 6 px
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(24 * w, 1))
        # training only: where painted pits are, per cell of the 24 x 24 stage (not in the export)
        self.pits = nn.Conv2d(4 * w, 1, 1) if pit_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_pits(x)[0]

    def forward_with_pits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The defect probability, and the pit logits per 8 x 8 px cell when the pit head is on."""
        f = self.features[:5](x)
        pit_logits = self.pits(f) if self.pits is not None else None
        f = self.features[5:](f)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return torch.sigmoid(self.head(pooled)), pit_logits


def _polar_grid(spec: UnwrapSpec) -> torch.Tensor:
    """grid_sample coordinates (1 x rings x angles x 2) of ``spec``'s rings, in torch's float32 arithmetic.

    The station builds the same grid in numpy (``station.unwrap.polar_grid``) and samples it with
    a fixed table. Training keeps torch's own operations, exactly those runs 20-24 trained with,
    so that the shipped recipe reproduces bit for bit: torch's float32 cos and sin differ from
    numpy's by one unit in the last place at some samples (6e-8 of the crop's half side), and
    ``tests/test_teach_net.py`` checks that the two unwraps agree.
    """
    rho = (torch.arange(spec.rings, dtype=torch.float32) + 0.5) / spec.rings * spec.reach
    turn = 2.0 * math.pi * (1.0 + spec.overlap)
    theta = (torch.arange(spec.angles, dtype=torch.float32) + 0.5) / spec.angles * turn - math.pi * spec.overlap
    x = rho[:, None] * torch.cos(theta)[None, :]
    y = rho[:, None] * torch.sin(theta)[None, :]
    return torch.stack([x, y], dim=-1)[None]


class PolarNet(nn.Module):  # type: ignore[misc, unused-ignore]  # torch or onnxruntime: Any without the train extra
    """DefectNet's stages on the part unwrapped around its centre: rings (radius) x angle.

    The crop is centred on the part, so turning the part only shifts the polar image along the
    angle axis, and the features are pooled over angle (mean and max) ring by ring: how the part
    lies on the belt moves the score far less than in a square crop, by construction rather than
    by augmentation alone. The unwrap (a fixed bilinear grid, 96 rings x 416 angles: about one
    pixel of the crop per sample on the face) is the first operation in training; the exported
    graph starts after it (:func:`export`) and the station unwraps the crop itself, from the
    geometry in the model's metadata.
    """

    def __init__(self, width: int, reach: float, radii: int = 96, angles: int = 416, overlap: float = 1 / 16, wrap: bool = False) -> None:
        super().__init__()
        w = width
        if radii % 32 or angles % 32:
            raise ValueError(f"rings {radii} and angles {angles} must be multiples of 32")
        if wrap and overlap:
            raise ValueError("a wrapped network sees the angle axis as a circle: it needs no overlap")
        self.unwrap = UnwrapSpec(radii, angles, reach, overlap)
        self.register_buffer("grid", _polar_grid(self.unwrap), persistent=False)
        self.features = _stages(w, wrap=wrap)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * 12 * w * (radii // 32), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.on_polar(self.unwrapped(x))

    def unwrapped(self, x: torch.Tensor) -> torch.Tensor:
        """The square crops (N x 1 x S x S) as rings x angles (N x 1 x R x A)."""
        grid = self.grid.expand(x.shape[0], -1, -1, -1)  # type: ignore[operator, unused-ignore]
        return nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def on_polar(self, polar: torch.Tensor) -> torch.Tensor:
        """The defect probability of unwrapped crops: what the exported graph computes."""
        f = self.features(polar)
        pooled = torch.cat([f.mean(dim=3), f.amax(dim=3)], dim=1).flatten(1)  # per ring, over angle
        return torch.sigmoid(self.head(pooled))

    def forward_with_pits(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.forward(x), None


ARCHS = ("square", "polar", "polar-wrap")


def build(arch: str, width: int, spec: PreprocessSpec, pit_head: bool = False) -> Any:  # PolarNet | DefectNet
    """The network named ``arch`` for the crops ``spec`` makes (tools.train, tools.sweep).

    ``polar-wrap``: the polar network on exactly one turn (384 angles), every convolution padded
    round the circle, so that no part of the face lies near a seam (run 26).
    """
    if arch.startswith("polar"):
        if pit_head:
            raise ValueError("the polar network has no pit map")
        reach = spec.mask_radius / (1.0 + spec.margin)  # the mask's edge, in grid_sample's units
        if arch == "polar-wrap":
            return PolarNet(width, reach=reach, angles=384, overlap=0.0, wrap=True)
        return PolarNet(width, reach=reach)
    if arch == "square":
        return DefectNet(width, pit_head=pit_head, size=spec.size)
    raise ValueError(f"unknown network {arch!r}; expected one of {ARCHS}")


class Ensemble(nn.Module):  # type: ignore[misc, unused-ignore]  # torch or onnxruntime: Any without the train extra
    """The mean of several networks' defect probabilities (``tools.teach_sweep``'s ``ensemble``).

    Its members are the cross-fitted networks whose held-out scores set the threshold (each part's
    by the one network that never saw it). It costs one inference per member, and its verdicts
    carry no ``where``: ``station teach`` writes one network instead, fine-tuned networks' weights
    averaged (``finetune.soup``), or from scratch the network taught on every part, which judged
    new parts as well or better (docs/teaching-measured.md). ``station teach --from-scratch`` wrote
    this mean until 2026-12-03; such a file is no base for more teaching (``weights.from_onnx``).
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one network")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(dim=0)

    def on_polar(self, polar: torch.Tensor) -> torch.Tensor:
        """Polar members: the mean on crops already unwrapped (they share one unwrap)."""
        return torch.stack([cast(PolarNet, m).on_polar(polar) for m in self.members]).mean(dim=0)


class _OnPolar(nn.Module):  # type: ignore[misc, unused-ignore]  # torch or onnxruntime: Any without the train extra
    """The polar network (or an ensemble of them) after its unwrap, as one module for the ONNX exporter."""

    def __init__(self, net: PolarNet | Ensemble) -> None:
        super().__init__()
        self.net = net

    def forward(self, polar: torch.Tensor) -> torch.Tensor:
        return self.net.on_polar(polar)


def export(net: nn.Module, path: Path, size: int) -> UnwrapSpec | None:
    """Write ``net`` (eval mode) as ONNX for the station; returns the unwrap the station must apply first.

    A square network takes the crop (``crop``: N x 1 x S x S). A polar network's graph starts
    after the unwrap (``polar``: N x 1 x R x A): its geometry goes to the model's metadata and the
    station resamples the crop in numpy (``station.unwrap``), a fixed four-tap table that costs a
    fraction of ONNX Runtime's GridSample.
    """
    polar = net.members[0] if isinstance(net, Ensemble) else net
    if isinstance(polar, PolarNet):
        if isinstance(net, Ensemble) and any(m.unwrap != polar.unwrap for m in net.members):
            raise ValueError("the members of an ensemble must share one unwrap")
        wrapped = _OnPolar(net if isinstance(net, Ensemble) else polar)
        module: nn.Module = wrapped.train(net.training)  # the exporter restores the wrapper's mode, recursively
        name, dummy, unwrap = "polar", torch.zeros(1, 1, polar.unwrap.rings, polar.unwrap.angles), polar.unwrap
    else:
        module, name, dummy, unwrap = net, "crop", torch.zeros(1, 1, size, size), None
    # TorchScript's exporter (dynamo=False), deprecated from PyTorch 2.9 with a warning on every export: its opset-17 graph
    # is the one the shipped model has and the station's tests know; kept, with torch pinned in pyproject.toml
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
        torch.onnx.export(
            module,
            (dummy,),
            str(path),
            input_names=[name],
            output_names=["defect_probability"],
            dynamic_axes={name: {0: "n"}, "defect_probability": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    return unwrap
