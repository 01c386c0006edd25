"""The defect classifier: an ONNX Runtime session that describes itself through its metadata."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import numpy as np
import numpy.typing as npt

from station.errors import ModelError
from station.evidence import Evidence, Head, with_feature_output
from station.files import read_bounded, why
from station.onnxgraph import external_data
from station.preprocess import PreprocessSpec
from station.runs import RUN_BOUND_S, RunGuard
from station.unwrap import PolarUnwrap, UnwrapSpec

# metadata_props keys written by tools.train and read here; the single source of their names.
META_VERSION = "station.version"
META_CLASSES = "station.class_names"
CLASSES = ("ok", "defect")  # the classes of every model the station runs: its output is the probability of the second
META_INPUT = "station.input"
META_NORMALISATION = "station.normalisation"
META_THRESHOLD = "station.threshold"
META_BAND = "station.uncertain_band"
META_FINGERPRINT = "station.data_fingerprint"
META_METRICS = "station.metrics"
META_UNWRAP = "station.unwrap"  # optional: the graph takes the crop unwrapped around its centre (station/unwrap.py)
META_SELF_TEST = "station.self_test"  # optional: labelled crops of the line a taught model is for (station/gate.py)
META_TAUGHT = "station.teach"  # optional: what a line taught it (station teach): base, line, parts, held-out figures
NORMALISATION = (
    "part_robust_z: crop 2r(1+margin) square, (x - median)/(p90-p10)/2.56 on the part disc, clipped to +-clip, zero beyond mask_radius*r"
)
_Spec = TypeVar("_Spec", PreprocessSpec, UnwrapSpec)
MAX_MODEL_BYTES = 256 * 1024 * 1024  # far above any station model (the shipped one is about 2 MB)
MAX_VERSION = 64  # characters of station.version: with the file's name and a digest, the model id every verdict carries
VERSION_FORM = re.compile(rf"[0-9A-Za-z.+_-]{{1,{MAX_VERSION}}}", re.ASCII)
REQUIRED = (META_VERSION, META_CLASSES, META_INPUT, META_NORMALISATION, META_THRESHOLD, META_BAND)


SCORE_TYPES = ("tensor(float)", "tensor(double)", "tensor(float16)")  # what a probability may come as


@dataclass(frozen=True)
class ModelInfo:
    """What the model file says about itself."""

    model_id: str
    version: str
    class_names: tuple[str, ...]
    spec: PreprocessSpec
    threshold: float
    band: tuple[float, float]
    metrics: dict[str, Any]
    fingerprint: str
    unwrap: UnwrapSpec | None = None  # None: the graph takes the square crop itself
    self_test: str = ""  # JSON of labelled crops for the model gate (a taught model); "": the bundled photos
    taught_parts: frozenset[str] = frozenset()  # digests of the parts station teach learnt it from (station.teach.parts)

    def input_shape(self) -> list[int]:
        """The graph input's shape after the batch axis, as the metadata says it must be."""
        if self.unwrap is not None:
            return [1, self.unwrap.rings, self.unwrap.angles]
        return [1, self.spec.size, self.spec.size]


def _section(cls: type[_Spec], meta: dict[str, str], key: str, path: Path) -> _Spec:
    """The dataclass ``cls`` from the JSON object under ``key``; unknown or bad fields are an error."""
    try:
        raw = json.loads(meta[key])
        if not isinstance(raw, dict):
            raise ModelError(f"{path}: {key} is not a JSON object")
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ModelError(f"{path}: {key} has unknown fields {sorted(unknown)}")
        kinds = get_type_hints(cls)
        for name, value in raw.items():
            if not _is_a(value, kinds[name]):
                raise ModelError(f"{path}: {key}: {name} must be {_KIND_NAMES[kinds[name]]}, not {json.dumps(value)[:40]}")
        return cls(**raw)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path}: {key} is malformed: {exc}") from None


_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a finite number"}


def _is_a(value: object, kind: type) -> bool:
    """``value`` (from JSON) is a ``kind``: a bool is no number, and a number is finite."""
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is int:
        return isinstance(value, int)
    try:
        return kind is float and isinstance(value, int | float) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _taught_parts(meta: dict[str, str]) -> list[str]:
    """The digests of the parts station teach learnt the model from (none for a model no line taught); ValueError if malformed."""
    try:
        taught = json.loads(meta.get(META_TAUGHT, "{}"))
    except ValueError:
        taught = None
    parts = taught.get("parts", []) if isinstance(taught, dict) else None
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise ValueError(f"{META_TAUGHT} is not a JSON object whose parts are a list of digests")
    return parts


def model_id(path: Path, version: str, digest: str) -> str:
    """What every verdict names its model by: the file's name, the model's version and the start of the file's SHA-256."""
    return f"{path.stem}-{version}-{digest[:12]}"


def _parse_meta(meta: dict[str, str], path: Path, digest: str) -> ModelInfo:
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"{path}: model metadata lacks {', '.join(missing)}")
    try:
        spec = _section(PreprocessSpec, meta, META_INPUT, path)
        unwrap = _section(UnwrapSpec, meta, META_UNWRAP, path) if META_UNWRAP in meta else None
        band = json.loads(meta[META_BAND])
        threshold = float(meta[META_THRESHOLD])
        classes = tuple(json.loads(meta[META_CLASSES]))
        metrics = json.loads(meta.get(META_METRICS, "{}"))
        parts = _taught_parts(meta)
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: JSON nested deeper than Python's stack
        raise ModelError(f"{path}: model metadata is malformed: {str(exc)[:160]}") from None
    if not isinstance(band, list) or len(band) != 2 or not all(_is_a(b, float) for b in band):
        raise ModelError(f"{path}: uncertain band {json.dumps(band)[:40]} is not two finite numbers")
    if not 0.0 < threshold < 1.0 or not band[0] <= threshold <= band[1]:
        raise ModelError(f"{path}: threshold {threshold} / uncertain band {band} are inconsistent")
    if classes != CLASSES:  # the station reads the one output as the probability of the second class
        raise ModelError(f"{path}: class names {meta[META_CLASSES][:60]} are not {json.dumps(CLASSES)}: the station reads the "
                         "model's output as the probability that a part is defective")  # fmt: skip
    version = meta[META_VERSION]
    if not VERSION_FORM.fullmatch(version):  # every verdict names the model: a long id would make each too big for a gateway
        raise ModelError(f"{path}: model version {version[:40]!r}{'...' if len(version) > 40 else ''} is not 1 to {MAX_VERSION} of "
                         "the characters 0-9 A-Z a-z . + - _")  # fmt: skip
    return ModelInfo(
        model_id=model_id(path, version, digest),
        version=version,
        class_names=classes,
        spec=spec,
        threshold=threshold,
        band=(float(band[0]), float(band[1])),
        metrics=metrics,
        fingerprint=meta.get(META_FINGERPRINT, ""),
        unwrap=unwrap,
        self_test=meta.get(META_SELF_TEST, ""),
        taught_parts=frozenset(parts),
    )


@dataclass(frozen=True)
class Threads:
    """How one ONNX Runtime session uses the CPU (config: model.intra_threads, inter_threads, spin_wait)."""

    intra: int = 1
    inter: int = 1
    spin_wait: bool = False


def session_options(threads: Threads | None = None) -> Any:
    """ONNX Runtime options for one CPU session (the station's model, and the benchmark's bare runs)."""
    import onnxruntime as ort

    threads = threads or Threads()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads.intra
    opts.inter_op_num_threads = threads.inter
    spin = "1" if threads.spin_wait else "0"  # idle pool threads spin (burning a core) or sleep until work comes
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 4  # fatal only: a failing run raises, and the station logs that once with the part or file
    return opts


def _feature_output(blob: bytes) -> tuple[bytes, Head] | None:
    """The graph with its head's feature map as a second output (evidence); None when that cannot be had."""
    try:
        return with_feature_output(blob)
    except Exception:  # a file onnx cannot parse: ONNX Runtime judges it next, with its own message
        return None


def _one_file(blob: bytes, path: Path) -> None:
    """ModelError for a model whose weights are in another file: found or not by the working directory, and changed
    without the model id (its file's digest) saying so."""
    try:
        outside = external_data(blob)
    except (ValueError, IndexError):  # no protobuf: ONNX Runtime judges it next, with its own message
        return
    except RecursionError:
        raise ModelError(f"{path}: its graph nests subgraphs too deep to read") from None
    if outside:
        raise ModelError(f"{path}: its weights are in another file (ONNX external data): a station model is one file, "
                         "whose digest, in every verdict, names all that judges (save it without external data)")  # fmt: skip


def one_each(out: object, crops: int) -> npt.NDArray[np.float32]:
    """The graph's output as one score for each of ``crops``; ModelError when it holds another count of numbers (a graph
    whose output's shape changes with its input gave [[p]] on its self-test and [[0.001, p]] on some parts: the first
    number, taken as the score, passed defects). A number outside [0, 1] in the graph's own precision is NaN: no score."""
    exact = np.asarray(out, dtype=np.float64).reshape(-1)  # float16, float32 and float64 scores all exactly
    if exact.size != crops:
        raise ModelError(f"the model gave {exact.size} numbers for {crops} crop{'s' * (crops != 1)}, not one score each")
    # judged in range before the cast to float32, which would make a double's -1e-300 a -0.0 in [0, 1]: out of range, NaN
    return np.where((exact >= 0.0) & (exact <= 1.0), exact, np.nan).astype(np.float32)


def _described(session: Any, path: Path) -> tuple[dict[str, str], Any, Any]:
    """The session's metadata, first input and first output; ModelError for a graph with none, or a name or value that is
    not UTF-8 (ONNX Runtime raised as it read them: a traceback at every door)."""
    try:
        meta = dict(session.get_modelmeta().custom_metadata_map)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        for arg in [*inputs, *outputs]:  # each name is decoded as it is read
            _ = arg.name
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: its metadata or a name in its graph is not text (UTF-8): {exc.reason}") from None
    if not inputs or not outputs:
        raise ModelError(f"{path}: its graph has no {'inputs' if not inputs else 'outputs'}: it cannot score a crop")
    return meta, inputs[0], outputs[0]


class Model:
    """An ONNX Runtime session for one model file, checked against its own metadata."""

    def __init__(self, path: Path, threads: Threads | None = None, run_bound_s: float = RUN_BOUND_S) -> None:
        import onnxruntime as ort

        self._guard = RunGuard(run_bound_s)  # every run of its graph: a graph may loop for ever on some crops

        try:
            blob = read_bounded(path, MAX_MODEL_BYTES, "a station model")
        except OSError as exc:
            raise ModelError(f"{path}: {why(exc, 'cannot read model file')}") from None
        _one_file(blob, path)
        opts = session_options(threads)
        try:
            with_head = _feature_output(blob)
            self._head: Head | None = with_head[1] if with_head is not None else None
            graph = with_head[0] if with_head is not None else blob
            self._session = ort.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
            said = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{path}: not a loadable ONNX model ({said})") from None
        meta, inp, out = _described(self._session, path)
        self.info = _parse_meta(meta, path, hashlib.sha256(blob).hexdigest())
        self.path = path
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1:] != self.info.input_shape():
            raise ModelError(f"{path}: input shape {shape} does not match the metadata's {['n', *self.info.input_shape()]}")
        self.input_name: str = inp.name
        if out.type not in SCORE_TYPES:  # an integer or boolean "score" is a hard decision: no uncertain band could apply
            raise ModelError(f"{path}: its output is {out.type}, not a probability (one of {', '.join(SCORE_TYPES)})")
        self._output: str = out.name
        self._unwrap = PolarUnwrap(self.info.unwrap, self.info.spec.size) if self.info.unwrap is not None else None

    def graph_input(self, crops: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """What the graph takes for N x S x S crops: the crops themselves, or unwrapped around their centre."""
        if self._unwrap is not None:
            return self._unwrap(crops)
        return crops.reshape(crops.shape[0], 1, crops.shape[1], crops.shape[2]).astype(np.float32, copy=False)

    def score(self, crops: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Defect probability for each crop (N x S x S float32)."""
        out = self._guard.run(self._session, [self._output], {self.input_name: self.graph_input(crops)}, len(crops))[0]
        return one_each(out, len(crops))

    def score_with_evidence(self, crops: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], list[Evidence | None] | None]:
        """Defect probabilities, and each crop's evidence map (station.evidence) when the graph's head allows one: None for
        a crop whose map is not finite numbers (its features overflowed), which points nowhere."""
        if self._head is None:
            return self.score(crops), None
        out, feats = self._guard.run(self._session, [self._output, self._head.feature], {self.input_name: self.graph_input(crops)},
                                     len(crops))  # fmt: skip
        cells = self._head.evidence(np.asarray(feats, np.float32))
        evidence = [Evidence(c, self.info.spec, self.info.unwrap) if np.all(np.isfinite(c)) else None for c in cells]
        return one_each(out, len(crops)), evidence

    def interrupt(self, why: str) -> None:
        """End its runs in flight now: each raises ModelError saying ``why`` (a later run is run as ever)."""
        self._guard.interrupt(why)

    def warm_up(self, runs: int = 3) -> None:
        """Run a few blank crops so that the first real part is not slow."""
        size = self.info.spec.size
        for _ in range(runs):
            self.score(np.zeros((1, size, size), dtype=np.float32))
