"""Split a whole-graph polar model at its unwrap: the station then unwraps the crop itself.

    python3 -m tools.split_unwrap MODEL.onnx OUT.onnx [--overlap 0.0625]

Polar models up to run 24 were exported whole: their graph opens with a GridSample of the square
crop on a constant grid (ONNX Runtime: ~0.5-1.5 ms a part). This keeps every weight and node after
that GridSample, makes its output the graph's input (``polar``), and writes the unwrap's geometry
to the metadata (``station.unwrap``), where ``station.model.Model`` finds it and resamples the crop
with a fixed four-tap table (~0.15 ms). The grid in the file must be the one the geometry
describes (the reach is the model's mask edge, ``mask_radius / (1 + margin)``, as
``station/teach/net.py`` builds it), else nothing is written. Then both files score the bundled
sample through the station's own ``Model`` and the largest score change is printed;
``tools/train.py`` exports polar models in the split form directly.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from station import model as meta
from station.gate import SAMPLE
from station.score import passing
from station.unwrap import UnwrapSpec, polar_grid
from tools.toolkit import photo_crops

ROOT = Path(__file__).resolve().parent.parent


def _grid_of(graph: Any, node: Any) -> np.ndarray[Any, Any]:
    """The constant grid a GridSample node samples at (through the exporter's Expand over the batch)."""
    from onnx import numpy_helper

    made = {out: n for n in graph.node for out in n.output}
    src = made.get(node.input[1])
    if src is not None and src.op_type == "Expand":
        src = made.get(src.input[0])
    if src is None or src.op_type != "Constant":
        raise SystemExit("split_unwrap: the GridSample's grid is not a constant: not a whole-graph polar model")
    return np.asarray(numpy_helper.to_array(src.attribute[0].t))


def _needed(graph: Any, outputs: list[str], cut: Any) -> list[Any]:
    """The nodes the outputs depend on, in the graph's order, stopping at the ``cut`` node's output."""
    made = {out: n for n in graph.node if n is not cut for out in n.output}
    want, keep = list(outputs), set()
    while want:
        n = made.get(want.pop())
        if n is not None and id(n) not in keep:
            keep.add(id(n))
            want.extend(n.input)
    return [n for n in graph.node if id(n) in keep]


def split(src: Path, dst: Path, overlap: float) -> UnwrapSpec:
    import onnx

    m = onnx.load(str(src), format="protobuf")
    g = m.graph
    crop = g.input[0].name
    samples = [n for n in g.node if n.op_type == "GridSample" and n.input[0] == crop]
    if len(samples) != 1 or any(p.key == meta.META_UNWRAP for p in m.metadata_props):
        raise SystemExit(f"split_unwrap: {src} does not open with one GridSample of its input: nothing to split")
    grid = _grid_of(g, samples[0])
    spec_raw = json.loads(next(p.value for p in m.metadata_props if p.key == meta.META_INPUT))
    reach = spec_raw["mask_radius"] / (1.0 + spec_raw["margin"])
    unwrap = UnwrapSpec(int(grid.shape[1]), int(grid.shape[2]), reach, overlap)
    off = float(np.abs(polar_grid(unwrap)[None] - grid).max())
    if off > 1e-6:
        raise SystemExit(f"split_unwrap: the grid in {src} is not {unwrap} (off by {off:.3g})")
    polar = samples[0].output[0]
    if polar != "polar" and any("polar" in n.output for n in g.node):
        raise SystemExit(f"split_unwrap: {src} already has a tensor named 'polar'")
    for n in g.node:
        n.input[:] = ["polar" if i == polar else i for i in n.input]
    nodes = _needed(g, [o.name for o in g.output], samples[0])
    inp = onnx.helper.make_tensor_value_info("polar", onnx.TensorProto.FLOAT, ["n", 1, unwrap.rings, unwrap.angles])
    used = {i for n in nodes for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    out = onnx.helper.make_model(onnx.helper.make_graph(nodes, g.name, [inp], list(g.output), inits), opset_imports=m.opset_import)
    out.ir_version, out.producer_name, out.producer_version = m.ir_version, m.producer_name, m.producer_version
    for p in m.metadata_props:
        out.metadata_props.add(key=p.key, value=p.value)
    out.metadata_props.add(key=meta.META_UNWRAP, value=json.dumps(asdict(unwrap)))
    onnx.checker.check_model(out)
    onnx.save(out, str(dst), format="protobuf")
    return unwrap


def compare(whole: Path, parts: Path, photos: list[Path]) -> dict[str, Any]:
    """Both models on the same crops, through the station's Model: largest score change, decisions changed."""
    from station.model import Model

    a, b = Model(whole), Model(parts)
    crops = photo_crops(photos, a.info.spec, "raise")
    sa, sb = a.score(crops), b.score(crops)
    edges = a.info.band  # pass below the first, uncertain up to the second, defect above (the threshold decides nothing)
    changed = int(np.sum(np.any([passing(sa, e) != passing(sb, e) for e in edges], axis=0)))
    return {"crops": len(crops), "max_score_change": float(np.abs(sa - sb).max()), "decisions_changed": changed}


def main() -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.split_unwrap", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--overlap", type=float, default=1 / 16, help="share of a turn the grid samples twice (PolarNet's default)")
    ap.add_argument("--photos", type=Path, nargs="*", help="photos to compare on (default: the bundled sample)")
    args = ap.parse_args()
    unwrap = split(args.model, args.out, args.overlap)
    photos = args.photos or sorted(SAMPLE.glob("*/*.jp*g"))
    print(json.dumps({"unwrap": asdict(unwrap), **compare(args.model, args.out, photos)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
