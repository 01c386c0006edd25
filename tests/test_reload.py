"""Hot model reload: a bad model is refused while inspection goes on; a good one swaps between parts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper

from station.errors import ModelError
from station.gate import self_test
from station.metrics import Metrics
from station.model import META_VERSION, Model
from station.reload import ModelSlot, Reloader
from station.wire import VerdictMessage

from .conftest import MODEL, ROOT, SAMPLE, free_port, wait_for
from .hostile_models import fails_on_blank
from .proc import Station
from .variants import STRICT, candidate


def _variant(dst: Path, version: str | None = None, sabotage: bool = False) -> Path:
    """A copy of the shipped model with another version string, or with its last bias ruined."""
    m = onnx.load(str(MODEL))
    if version is not None:
        for p in m.metadata_props:
            if p.key == META_VERSION:
                p.value = version
    if sabotage:  # valid file, valid metadata, useless judgement: every part looks defective
        init = m.graph.initializer[-1]
        arr = numpy_helper.to_array(init).copy()
        arr[...] = 40.0
        init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(m, str(dst))
    return dst


def test_self_test_passes_the_shipped_model_and_fails_a_ruined_one(tmp_path: Path) -> None:
    assert self_test(Model(MODEL)) is None
    why = self_test(Model(_variant(tmp_path / "bad.onnx", sabotage=True)))
    assert why is not None and ("accuracy" in why or "hard decisions" in why)  # its scores saturate at 0 and 1


def test_reloader_refuses_junk_and_keeps_the_old_model(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    shutil.copy(MODEL, path)
    old = Model(path)
    slot, m = ModelSlot(old), Metrics()
    r = Reloader(path, slot, m)
    path.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError):
        Model(path)
    assert r.reload() is False and slot.current is old
    _variant(path, sabotage=True)
    assert r.reload() is False and slot.current is old
    fails_on_blank(path)  # admitted, it would have failed the station where it is warmed up
    assert r.reload() is False and slot.current is old
    assert m.registry.get_sample_value("station_model_reloads_total", {"result": "refused"}) == 3
    _variant(path, version="9.9.9")
    assert r.changed()
    assert r.reload() is True and slot.current.info.version == "9.9.9"
    assert m.registry.get_sample_value("station_model_reloads_total", {"result": "ok"}) == 1


def test_the_watch_sees_a_link_moved_to_another_file_of_the_same_time(tmp_path: Path) -> None:
    """A relative model.path was the link's target (config), and only the time was compared: ``ln -sfn taught.onnx
    live.onnx`` onto a copy as old as the model went unseen, the old model judging on."""
    base, taught, live = tmp_path / "base.onnx", tmp_path / "taught.onnx", tmp_path / "live.onnx"
    shutil.copy2(MODEL, base)
    _variant(taught, version="9.9.9")
    os.utime(taught, ns=(base.stat().st_atime_ns, base.stat().st_mtime_ns))
    live.symlink_to(base.name)
    r = Reloader(live, ModelSlot(Model(live)), Metrics())
    assert not r.changed()
    (tmp_path / "next").symlink_to(taught.name)
    (tmp_path / "next").rename(live)
    assert r.changed() and not r.changed()


@pytest.mark.integration
def test_sighup_refuses_a_bad_model_then_swaps_a_good_one_between_parts(tmp_path: Path) -> None:
    path = tmp_path / "live.onnx"
    shutil.copy(MODEL, path)
    out = tmp_path / "v.jsonl"
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):  # 54 unmodified sample photos, 6 per second
        for p in sorted((SAMPLE / "def_front").iterdir()):
            shutil.copy(p, folder / f"{i}-{p.name}")
    sets = [f"model.path={path}", "camera.fps=6", f"metrics.port={free_port()}", "publisher.endpoint=tcp://127.0.0.1:*",
            "publisher.resend_endpoint=null", "logging.format=json"]  # fmt: skip
    cmd = [sys.executable, "-m", "station.cli", "replay", str(folder), "--realtime", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen([*cmd, *[a for s in sets for a in ("--set", s)]], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        _variant(path, sabotage=True)
        proc.send_signal(signal.SIGHUP)
        time.sleep(2)
        _variant(path, version="1.0.1-reloaded")
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    events = [json.loads(x)["event"] for x in err.splitlines() if x.startswith("{")]
    assert events.count("model_refused") == 1 and events.count("model_reloaded") == 1
    verdicts = [json.loads(x) for x in out.read_text().splitlines()]
    assert [v["part_id"] for v in verdicts] == list(range(1, 55)), "inspection went on through both reloads"
    models = [v["model"] for v in verdicts]
    first_new = next(i for i, m in enumerate(models) if "1.0.1-reloaded" in m)
    assert 0 < first_new < len(models) - 1
    assert len(set(models[:first_new])) == 1 and len(set(models[first_new:])) == 1, "one clean switch"


def test_a_model_with_other_preprocessing_takes_over_at_a_part_boundary(tmp_path: Path) -> None:
    from station.messages import Frame, Part
    from station.model import META_INPUT
    from station.stages.inference import InferenceStage
    from station.stages.preprocess import PreprocessStage
    from station.stills import read_image

    path = Path(shutil.copy(MODEL, tmp_path / "live.onnx"))
    slot = ModelSlot(Model(path))
    m = Metrics()
    crop, infer = PreprocessStage(slot, m), InferenceStage(slot, m)
    image = read_image(sorted((SAMPLE / "ok_front").iterdir())[0]).image
    assert image is not None
    before = crop(Part(1, Frame(1, image, 0.0, 0.0)))[0]
    rectifying = onnx.load(str(MODEL))
    for p in rectifying.metadata_props:
        if p.key == META_INPUT:
            p.value = json.dumps({**json.loads(p.value), "rectify": True})
    onnx.save(rectifying, str(path))
    assert Reloader(path, slot, m).reload()
    after = crop(Part(2, Frame(2, image, 0.0, 0.0)))[0]
    assert before.model is not None and not before.model.info.spec.rectify
    assert after.model is not None and after.model.info.spec.rectify
    assert infer(before)[0].model == before.model.info  # scored by the model it was cropped for, not the new one


@pytest.mark.integration
def test_a_stop_during_a_slow_reload_drains_at_once_and_the_running_model_stays(tmp_path: Path) -> None:
    """The model gate's self-test of a slow model takes seconds (here about ten, more on a busy machine): a stop cuts it short
    between two crops, so that SIGTERM drains without waiting for it (systemd's stop timeout would kill the station)."""
    from .hostile_models import slow
    from .proc import Station, sets

    path = tmp_path / "live.onnx"
    shutil.copy(MODEL, path)
    out = tmp_path / "v.jsonl"
    station = Station("replay", str(SAMPLE / "def_front"), "--realtime", "--no-progress", "--out", str(out),
                      extra=tuple(sets(f"model.path={path}", "camera.fps=4")))  # fmt: skip
    try:
        assert wait_for(lambda: out.exists() and bool(out.read_text()), 60), station.stderr()[-2000:]
        slow(tmp_path / "slow.onnx", 1500).replace(path)  # the same scores, each crop about 0.25 s
        station.signal(signal.SIGHUP)
        assert wait_for(lambda: bool(station.logged("reload_requested")), 60), station.stderr()[-2000:]
        time.sleep(0.5)  # into the self-test (it takes about ten seconds)
        t0 = time.monotonic()
        rc = station.stop(60)
        took = time.monotonic() - t0
    finally:
        station.close()
    assert rc == 0, station.stderr()[-2000:]
    assert station.logged("reload_abandoned") and not station.logged("model_reloaded")
    assert took < 5, f"SIGTERM waited {took:.1f} s for the reload"
    models = {json.loads(x)["model"] for x in out.read_text().splitlines()}
    assert len(models) == 1, "the running model judged every part"


@pytest.mark.integration
def test_promotion_is_a_config_edit_and_sighup(tmp_path: Path) -> None:
    threshold, band = STRICT
    strict = candidate(tmp_path / "strict.onnx", threshold, band, version="2.0.0-candidate")
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):  # 108 unmodified sample photos, 8 per second
        for p in sorted((SAMPLE / "ok_front").iterdir()) + sorted((SAMPLE / "def_front").iterdir()):
            (folder / f"{i}-{p.name}").write_bytes(p.read_bytes())
    cfg = tmp_path / "station.yaml"
    camera = {"fps": 8}
    shadow = {"shadow": str(strict), "shadow_wait_ms": 30000}  # every part's shadow waited for (half the time left at most)
    cfg.write_text(json.dumps({"model": {"path": str(MODEL), **shadow}, "camera": camera}))
    st = Station("replay", str(folder), "--realtime", "--no-progress", "-c", str(cfg))
    try:
        assert wait_for(lambda: len(st.verdicts()) >= 8, 60), st.stderr()[-2000:]
        cfg.write_text(json.dumps({"model": {"path": str(strict), "shadow": None}, "camera": camera}))
        st.signal(signal.SIGHUP)
        assert wait_for(lambda: any("2.0.0-candidate" in str(v["model"]) for v in st.verdicts()), 30), st.stderr()[-2000:]
        assert st.wait(60) == 0
    finally:
        st.close()
    got = [VerdictMessage.from_body(v) for v in st.verdicts()]
    first_id = got[0].part_id  # the subscriber may join after the first part (ZeroMQ's slow joiner)
    assert [v.part_id for v in got] == list(range(first_id, 109)), "inspection went on through the promotion"
    promoted = [v.model == Model(strict).info.model_id for v in got]
    first = promoted.index(True)
    assert not any(promoted[:first]) and all(promoted[first:]), "the active model changed once, at a part boundary"
    assert all(v.shadow is None for v in got[first:]), "a promoted model is not its own shadow"
    assert all(v.shadow is not None and v.shadow.model == got[first].model for v in got[:4])
