"""Benchmarks, side by side on the same footage, each mode in its own process (clean CPU and memory).

    python3 -m tools.bench [--parts 40] [--repeat 1] [--json bench.json]

(a) floor:    decode every frame, plus one model run per part; nothing else.
(b) fast:     the station's replay as fast as it goes (frames/s, parts/s, ratio to the floor).
(c) realtime: a real-time replay at 30 fps with about 2 parts/s: capture-to-publish latency
              p50/p99/max, per-stage handling time, CPU (% of one core), peak RSS, and the share
              of the machine's CPU time its host took away meanwhile (stolen: the noise in p99).
(d) threads:  ONNX Runtime intra-op threads 1 and 2, per-part model time; and the model input size
              (random-weight networks: the square one at 128-256 px, the polar one at three unwraps,
              if the `train` extra is installed);
              and int8 (static QDQ, per channel, calibrated on the bundled sample): its model time and
              how many pass/reject decisions it changes on the validation photos (../shared) or, without
              them, on the bundled sample.
(e) steady:   the host alone (only with --child steady): one part's preprocessing on a drawn
              256 x 256 frame, one OpenCV thread, 3000 times with 10 ms between: how much a fixed
              piece of work varies here with no station running (compare ratios, p99 / p50, with
              the station's stages, not milliseconds), and the stolen share meanwhile.
With --repeat N, (a) and (b) run N times in turn and then (c) N times; the table shows the first
of each, "repeats" every ratio and every p99 (on a shared virtual machine they spread widely).
The footage is composed at run time from the bundled sample photos (it is not in training or in
the repository). Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from station.config import SHIPPED_MODEL
from station.footage import Envelope, compose, labelled_photos, read_truth
from station.gate import SAMPLE
from station.score import passing
from station.wire import VerdictMessage
from tools.toolkit import cpu, in_batches, photo_crops

ROOT = Path(__file__).resolve().parent.parent

MODEL = SHIPPED_MODEL
ENV = Envelope(width=1280, height=720, fps=30.0, speed=25.0, diameter=300.0, codec="mp4v")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_ticks() -> tuple[int, int]:
    """(stolen, all) CPU ticks of the whole machine so far (/proc/stat; (0, 0) where there is none).

    Stolen: time a virtual CPU was ready to run but its host ran something else. On a shared
    virtual machine it is the noise that no setting of the station's can take out of its p99.
    """
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    return fields[7], sum(fields)


def _stolen(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Per cent of all CPUs' time between two readings of :func:`_cpu_ticks` that the host took away."""
    return 100 * (after[0] - before[0]) / max(after[1] - before[1], 1)


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) if xs else float("nan")


def floor(video: Path) -> dict[str, Any]:
    import cv2

    from station.model import Model

    model = Model(MODEL)
    model.warm_up()
    parts = len(read_truth(video))
    crop = np.zeros((1, model.info.spec.size, model.info.spec.size), np.float32)
    t0, c0, ticks0 = time.perf_counter(), _cpu(), _cpu_ticks()
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    frames = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        frames += 1
    for _ in range(parts):
        model.score(crop)
    wall, ticks = time.perf_counter() - t0, _cpu_ticks()
    cpu_s, stolen = _cpu() - c0, _stolen(ticks0, ticks)
    return {"wall_s": wall, "frames": frames, "parts": parts, "cpu_s": cpu_s, "peak_rss_mb": _peak_mb(), "stolen_pct": stolen}


def _pipeline(video: Path, realtime: bool, overrides: list[str]) -> dict[str, Any]:
    from station.config import load_config
    from station.metrics import Metrics
    from station.model import Model
    from station.pipeline import Pipeline, RunOptions
    from station.supervisor import configured_source

    fixed = ["metrics.enabled=false", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]
    cfg = load_config(None, [*fixed, *overrides])
    model = Model(MODEL, cfg.model.threads())
    model.warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v.jsonl"
        opts = RunOptions(realtime=realtime, out=out, metrics_server=False)
        pipe = Pipeline(cfg, configured_source(cfg, str(video)), model, Metrics(), opts)
        t0, c0, ticks0 = time.perf_counter(), _cpu(), _cpu_ticks()
        pipe.start()
        while not pipe.finished():
            time.sleep(0.05)
        wall, cpu, ticks = time.perf_counter() - t0, _cpu() - c0, _cpu_ticks()
        stages = {s.name: list(s.durations) for s in pipe.stages}
        stages[pipe.shadow_stage.name] = list(pipe.shadow_stage.durations)
        pipe.drain(10)
        pipe.close()
        verdicts = [VerdictMessage.decode(x) for x in out.read_text().splitlines()]
    lat = [(v.published_at - v.captured_at) * 1000 for v in verdicts]
    res: dict[str, Any] = {
        "wall_s": wall,
        "frames": pipe.frames,
        "parts": len(verdicts),
        "cpu_s": cpu,
        "cpu_pct_of_one_core": 100 * cpu / wall,
        "peak_rss_mb": _peak_mb(),
        "stolen_pct": _stolen(ticks0, ticks),
        "latency_ms": {"p50": _pct(lat, 50), "p99": _pct(lat, 99), "max": max(lat) if lat else float("nan")},
        "parts_over_20ms": sum(x > 20 for x in lat),  # the target's p99: summed over runs, a tail that per-run p99s hide
        "stage_ms": {k: {"p50": _pct(v, 50) * 1000, "p99": _pct(v, 99) * 1000, "items": len(v)} for k, v in stages.items()},
    }
    return res


def threads() -> dict[str, Any]:

    from station.model import Model

    out: dict[str, Any] = {}
    model = Model(MODEL)
    size = model.info.spec.size
    crop = np.random.default_rng(0).normal(size=(1, size, size)).astype(np.float32)
    x = model.graph_input(crop)  # the graph's own input: the crop, or the crop unwrapped
    for n, spin in ((1, False), (2, False), (2, True)):
        ts = _time_model(MODEL, x, n, runs=200, spin=spin)
        out[f"intra_threads_{n}" + ("_spinning" if spin else "")] = {"p50_ms": _pct(ts, 50), "p99_ms": _pct(ts, 99)}
    if model.info.unwrap is not None:
        out["unwrap"] = {"p50_ms": _pct(_time_call(lambda: model.graph_input(crop), runs=200), 50)}
    out["input_size"] = input_sizes()
    out["int8"] = int8(x)
    return out


def _judged_photos() -> tuple[str, list[Path]]:
    shared = ROOT.parent / "shared/data/casting/train"
    report = ROOT / "models/training_report.json"
    if shared.is_dir() and report.is_file():
        return "validation photos", [shared / n for n in json.loads(report.read_text())["validation_files"]]
    return "bundled sample photos", sorted(SAMPLE.glob("*/*.jp*g"))


def int8(x: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Static QDQ per-channel int8 of the shipped model: speed, and decisions changed at its threshold."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from station.model import Model

    fp32 = Model(MODEL)
    name = fp32.input_name
    calib = photo_crops(sorted(SAMPLE.glob("*/*.jp*g")), fp32.info.spec, "skip")

    class Reader(CalibrationDataReader):  # type: ignore[misc, unused-ignore]  # torch or onnxruntime: Any without the train extra
        def __init__(self) -> None:
            self._it = iter(calib)

        def get_next(self) -> dict[str, np.ndarray[Any, Any]] | None:
            c = next(self._it, None)
            return None if c is None else {name: fp32.graph_input(c[None])}

    with tempfile.TemporaryDirectory() as tmp:
        q8 = Path(tmp) / "int8.onnx"
        quantize_static(str(MODEL), str(q8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)  # fmt: skip
        ms = _time_model(q8, x, 1, runs=200)
        judged_on, photos = _judged_photos()
        crops = photo_crops(photos, fp32.info.spec, "skip")
        sess = ort.InferenceSession(str(q8), providers=["CPUExecutionProvider"])
        batches = cast(Sequence[npt.NDArray[np.float32]], crops)  # an N x S x S array: a sequence of crops
        s8 = in_batches(lambda b: sess.run(None, {name: fp32.graph_input(b)})[0].reshape(-1), batches, 64)
    s32 = fp32.score(crops)
    lo = fp32.info.band[0]  # a part passes only below the uncertain band, by the station's own rule
    changed = int(np.sum(passing(s8, lo) != passing(s32, lo)))
    return {"p50_ms": _pct(ms, 50), "judged_on": judged_on, "crops": len(crops), "decisions_changed": changed,
            "max_score_change": float(np.max(np.abs(s8 - s32)))}  # fmt: skip


def _time_model(path: Path, x: np.ndarray[Any, Any], threads: int, runs: int, spin: bool = False) -> list[float]:
    """Milliseconds per run of an ONNX model on one input, after a warm-up (pool threads spin-wait or sleep)."""
    import onnxruntime as ort

    from station.model import Threads, session_options

    sess = ort.InferenceSession(str(path), session_options(Threads(threads, 1, spin)), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return _time_call(lambda: sess.run(None, {name: x}), runs)


def _time_call(call: Callable[[], object], runs: int, pause_s: float = 0.0) -> list[float]:
    """Milliseconds per call, after ten warm-up calls; ``pause_s`` idle (untimed) after each."""
    for _ in range(10):
        call()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        ts.append((time.perf_counter() - t0) * 1000)
        if pause_s:
            time.sleep(pause_s)
    return ts


def input_sizes() -> dict[str, Any] | str:
    try:
        from station.teach.net import DefectNet, PolarNet, export
    except ImportError:
        return "skipped: needs the train extra (PyTorch)"
    from station.unwrap import PolarUnwrap

    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (128, 160, 192, 256):
            path = Path(tmp) / f"m{size}.onnx"
            export(DefectNet(16).eval(), path, size)  # global pooling: any size runs
            res[str(size)] = {"p50_ms": _pct(_time_model(path, np.zeros((1, 1, size, size), np.float32), 1, runs=100), 50)}
        crop = np.zeros((1, 192, 192), np.float32)
        for rings, angles in ((64, 288), (96, 416), (128, 544)):  # the polar network's unwrap, on a 192 px crop
            path = Path(tmp) / f"p{rings}.onnx"
            unwrap = export(PolarNet(16, reach=1.0, radii=rings, angles=angles).eval(), path, 192)
            assert unwrap is not None
            table = PolarUnwrap(unwrap, 192)
            graph = _pct(_time_model(path, table(crop), 1, runs=100), 50)
            res[f"polar {rings} x {angles}"] = {"p50_ms": graph + _pct(_time_call(partial(table, crop), runs=100), 50)}
    return res


def steady(runs: int = 3000) -> dict[str, Any]:
    """A fixed piece of the station's work, timed alone: the host's own spread, to read p99 against."""
    import cv2

    from station.model import Model
    from station.preprocess import drawn_part, preprocess

    spec = Model(MODEL).info.spec
    image = drawn_part(spec)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    before = _cpu_ticks()
    try:
        work = _time_call(partial(preprocess, image, spec), runs, pause_s=0.01)  # idle between, as the station is between parts
    finally:
        cv2.setNumThreads(threads)
    p50 = _pct(work, 50)
    return {"runs": runs, "p50_ms": p50, "p99_ms": _pct(work, 99), "max_ms": max(work),
            "over_twice_p50_pct": 100 * float(np.mean(np.array(work) > 2 * p50)), "stolen_pct": _stolen(before, _cpu_ticks())}  # fmt: skip


CHILDREN = ("steady", "floor", "fast", "realtime", "threads")  # the runs a round is made of, each measured alone


def child(mode: str, video: Path, overrides: list[str]) -> dict[str, Any]:
    """One run, measured in a process of its own: ``mode`` one of CHILDREN, on ``video``, with config ``overrides``."""
    runs = {
        "steady": steady,
        "floor": lambda: floor(video),
        "fast": lambda: _pipeline(video, False, overrides),
        "realtime": lambda: _pipeline(video, True, overrides),
        "threads": threads,
    }
    return runs[mode]()


def _footage(parts: int) -> list[Any]:
    """The parts of the benchmark's footage: the bundled photos over and over, the first ``parts`` of them."""
    photos = labelled_photos(SAMPLE)
    return (photos * (parts // len(photos) + 1))[:parts]


def main() -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.bench", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--parts", type=int, default=40)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--repeat", type=int, default=1, help="measure the floor, the fast and the real-time replay this many times each")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="station config override for (b) and (c)")
    ap.add_argument("--write-video", type=Path, metavar="PATH", help="only compose the footage of --parts parts to PATH (a .mp4)")
    ap.add_argument("--child", choices=CHILDREN, help="measure one run alone on --video, as each round does (JSON on stdout)")
    ap.add_argument("--video", type=Path, help="with --child: the footage to replay (made by --write-video)")
    args = ap.parse_args()
    if args.parts < 1:
        ap.error("--parts: at least 1")
    if args.child:
        print(json.dumps(child(args.child, args.video, args.set)))
        return 0
    if args.write_video:
        compose(_footage(args.parts), args.write_video, ENV, seed=3)
        return 0
    with tempfile.TemporaryDirectory(prefix="station-bench-") as tmp:
        video = compose(_footage(args.parts), Path(tmp) / "line.mp4", ENV, seed=3)
        res: dict[str, Any] = {"machine": _machine(), "footage": {"width": ENV.width, "height": ENV.height, "fps": ENV.fps}}
        runs: dict[str, list[dict[str, Any]]] = {}
        for mode in [*("floor", "fast") * args.repeat, *("realtime",) * args.repeat, "threads"]:
            cmd = [sys.executable, "-m", "tools.bench", "--child", mode, "--video", str(video), *(f"--set={x}" for x in args.set)]
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
            if p.returncode != 0:
                print(p.stderr[-3000:], file=sys.stderr)
                return 1
            runs.setdefault(mode, []).append(json.loads(p.stdout.strip().splitlines()[-1]))
    res.update({mode: r[0] for mode, r in runs.items()})
    if args.repeat > 1:  # this virtual machine's run-to-run spread is as large as the margins
        res["repeats"] = {
            "ratio_to_floor": [f["wall_s"] / fl["wall_s"] for fl, f in zip(runs["floor"], runs["fast"], strict=True)],
            "realtime_p99_ms": [r["latency_ms"]["p99"] for r in runs["realtime"]],
            "realtime_stolen_pct": [r["stolen_pct"] for r in runs["realtime"]],
            "floor_and_fast_stolen_pct": [(fl["stolen_pct"], f["stolen_pct"]) for fl, f in zip(runs["floor"], runs["fast"], strict=True)],
        }
    res["fast"]["ratio_to_floor"] = res["fast"]["wall_s"] / res["floor"]["wall_s"]
    res["fast"]["frames_per_s"] = res["fast"]["frames"] / res["fast"]["wall_s"]
    res["fast"]["parts_per_s"] = res["fast"]["parts"] / res["fast"]["wall_s"]
    res["floor"]["frames_per_s"] = res["floor"]["frames"] / res["floor"]["wall_s"]
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


def _machine() -> str:
    import os
    import platform

    return f"{cpu()[0]}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
