"""A model file back into a network that can learn, and a network out as a model file the station runs.

The exported graph has each batch norm folded into its convolution, so :func:`from_onnx` rebuilds
the network the file's metadata names, loads each convolution's folded weights and bias (the bias
into a batch norm that is otherwise the identity) and the head, and then checks the rebuilt network
against ONNX Runtime on the same input: a file it cannot rebuild exactly is refused, never
fine-tuned from a guess. Needs the ``train`` extra.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from station import model as meta
from station.errors import ModelError
from station.model import Model, ModelInfo
from station.preprocess import PreprocessSpec
from station.score import SCORE_DIGITS
from station.teach.net import PolarNet, build, export
from station.unwrap import UnwrapSpec

ARCH_UNWRAP_WRAPPED = "polar-wrap"


def arch_of(info: ModelInfo) -> str:
    """The network a model file holds, read from its metadata: the unwrap it needs says which."""
    if info.unwrap is None:
        return "square"
    return ARCH_UNWRAP_WRAPPED if info.unwrap.overlap == 0 else "polar"


def _initialisers(path: Path) -> tuple[list[tuple[Any, Any]], tuple[Any, Any]]:
    """Each convolution's (weight, bias) in graph order, and the head's (weight, bias)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), format="protobuf").graph  # a name ending .json is still a model file
    heads = sum(node.op_type == "Gemm" for node in graph.node)
    if heads > 1:
        raise ModelError(
            f"{path}: the mean of {heads} networks (as station teach --from-scratch wrote before 2026-12-03) cannot be fine-tuned: "
            "teach again from the model it was taught from (its base_model), with all the line's parts"
        )
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs, head = [], None
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm"):
            if len(node.input) < 3 or node.input[1] not in init or node.input[2] not in init:
                raise ModelError(
                    f"{path}: a {node.op_type} whose weights or bias are not stored constants: not a graph station teach can fine-tune"
                )
            pair = (init[node.input[1]], init[node.input[2]])
            if node.op_type == "Conv":
                convs.append(pair)
            else:
                head = pair
    if head is None:
        raise ModelError(f"{path}: no fully connected head: not a graph station teach can fine-tune")
    return convs, head


def from_onnx(path: Path, model: Model) -> Any:
    """The network in ``path`` as a PyTorch module (eval mode), checked against ``model``'s own scores."""
    import torch

    info = model.info
    convs, (hw, hb) = _initialisers(path)
    width = int(convs[0][0].shape[0]) if convs else 0
    net: Any = build(arch_of(info), width, info.spec)
    layers = [m for m in net.features if isinstance(m, torch.nn.Sequential)]
    if len(layers) != len(convs):
        raise ModelError(f"{path}: {len(convs)} convolutions where the {arch_of(info)} network has {len(layers)}")
    with torch.no_grad():
        for layer, (w, b) in zip(layers, convs, strict=True):
            conv = next(m for m in layer if isinstance(m, torch.nn.Conv2d))
            bn: Any = next(m for m in layer if isinstance(m, torch.nn.BatchNorm2d))
            if tuple(conv.weight.shape) != w.shape:
                raise ModelError(f"{path}: a convolution of shape {w.shape} where the network has {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(np.array(b)))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # (x - 0) / sqrt(var + eps) == x
        linear = net.head[1]
        if tuple(linear.weight.shape) != hw.shape:
            raise ModelError(f"{path}: a head of shape {hw.shape} where the network has {tuple(linear.weight.shape)}")
        linear.weight.copy_(torch.from_numpy(np.array(hw)))
        linear.bias.copy_(torch.from_numpy(np.array(hb).reshape(-1)))
    net.eval()
    _check(net, model, path)
    return net


def _check(net: Any, model: Model, path: Path) -> None:
    """The rebuilt network must score like the file: the same crops, within float rounding."""
    import torch

    rng = np.random.default_rng(0)
    size = model.info.spec.size
    crops = rng.normal(0, 1, (4, size, size)).astype(np.float32)
    want = model.score(crops)
    with torch.no_grad():
        x = torch.from_numpy(model.graph_input(crops))
        got = (net.on_polar(x) if isinstance(net, PolarNet) else net(x)).numpy().reshape(-1)
    if not np.allclose(got, want, atol=2e-4):
        raise ModelError(f"{path}: rebuilt network differs from the file by {float(np.abs(got - want).max()):.2g}: cannot fine-tune it")


def _set_props(m: Any, props: dict[str, str]) -> None:
    keep = {p.key: p.value for p in m.metadata_props if p.key not in props}
    del m.metadata_props[:]
    for k, v in {**keep, **props}.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v


def relabel(src: Path, path: Path, threshold: float, band: tuple[float, float], extra: dict[str, str]) -> None:
    """``src``'s graph and metadata with another operating point and ``extra`` at ``path``: the base network, set for a line."""
    import onnx

    m = onnx.load(str(src), format="protobuf")
    _set_props(m, {**operating_point(threshold, band), **extra})
    onnx.save(m, str(path), format="protobuf")


def operating_point(threshold: float, band: tuple[float, float]) -> dict[str, str]:
    """The threshold and band as a model file keeps them: in millionths, as a score is published."""
    return {meta.META_THRESHOLD: f"{threshold:.{SCORE_DIGITS}f}", meta.META_BAND: json.dumps([round(b, SCORE_DIGITS) for b in band])}


def write_model(net: Any, path: Path, info: ModelInfo, threshold: float, band: tuple[float, float], extra: dict[str, str]) -> None:
    """Export ``net`` to ``path`` with ``info``'s preprocessing and the given operating point; ``extra``: more metadata."""
    net.eval()
    unwrap = export(net, path, info.spec.size)
    stamp(path, info.version, info.spec, unwrap, {**operating_point(threshold, band), **extra})


def stamp(path: Path, version: str, spec: PreprocessSpec, unwrap: UnwrapSpec | None, props: dict[str, str]) -> None:
    """Give the graph at ``path`` the metadata the station reads (``props``: the operating point and more), and only that.

    The one writer of a model file's metadata: ``station teach`` and the base model's training (``tools/train.py``).
    """
    import onnx

    m = onnx.load(str(path), format="protobuf")
    own = {
        meta.META_VERSION: version,
        meta.META_CLASSES: json.dumps(list(meta.CLASSES)),
        meta.META_INPUT: json.dumps(asdict(spec)),
        meta.META_NORMALISATION: meta.NORMALISATION,
        **props,
    }
    if unwrap is not None:
        own[meta.META_UNWRAP] = json.dumps(asdict(unwrap))
    del m.metadata_props[:]
    _set_props(m, own)
    onnx.save(m, str(path), format="protobuf")
