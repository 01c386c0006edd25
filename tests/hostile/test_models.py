"""Models whose scores lie: refused at every door, and a NaN that got in anyway is never a pass."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from station import supervisor
from station.config import load_config
from station.model import Model
from station.pipeline import RunOptions
from station.sources import source_for

from ..conftest import MODEL, SAMPLE, free_port, wait_for
from ..hostile_models import bright_parts, inf_above, inverted, loops_above, loops_on_bright, nan_above
from ..proc import Station, one_line_error, run, sets, strict_json

PORTS = ("metrics.port=0", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=tcp://127.0.0.1:*")
DOORS: list[tuple[Callable[[Path], Path], list[str]]] = [
    (inverted, ["check-config"]),
    (inverted, ["run", "--set", f"camera.source={SAMPLE / 'ok_front'}"]),
    (inverted, ["replay", str(SAMPLE / "ok_front"), "--no-progress"]),
    (inverted, ["classify", str(SAMPLE / "ok_front")]),
    (inverted, ["demo", "--parts", "2"]),
    (inverted, ["eval", str(SAMPLE)]),
    (nan_above, ["check-config"]),
    (nan_above, ["run", "--set", f"camera.source={SAMPLE / 'ok_front'}"]),
    (inf_above, ["replay", str(SAMPLE / "def_front"), "--no-progress"]),
]


@pytest.mark.parametrize(("make", "command"), DOORS, ids=lambda x: x.__name__ if callable(x) else x[0])
def test_start_up_refuses_a_model_whose_scores_lie(tmp_path: Path, make: Callable[[Path], Path], command: list[str]) -> None:
    path = make(tmp_path / "m.onnx")
    p = run(*command, *sets(f"model.path={path}", *PORTS))
    one_line_error(p, "model.path", str(path), "self-test")
    assert "verdict" not in p.stdout


def test_nan_scores_that_got_past_the_gate_are_never_a_pass_and_the_wire_stays_strict_json(tmp_path: Path) -> None:
    """The gate keeps such a model out at every door; the decision must hold even if one got in (here: in-process)."""
    out = tmp_path / "v.jsonl"
    cfg = load_config(None, [f"metrics.port={free_port()}", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"])
    model = Model(nan_above(tmp_path / "nan.onnx"))
    assert supervisor.run_pipeline(cfg, model, source_for(str(SAMPLE / "def_front")), RunOptions(out=out)) == 0
    got = [strict_json(line) for line in out.read_text().splitlines()]  # no NaN or Infinity anywhere
    assert len(got) == 18 and not [v for v in got if v["verdict"] == "pass"]
    errors = [v for v in got if v["reason"] == "error"]
    assert errors and all(v["score"] is None and "not a finite score" in str(v["detail"]) for v in errors)


def _line_of_defects(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the shipped model to replace, and a folder of 72 parts (the bundled defects four times)."""
    live = tmp_path / "live.onnx"
    shutil.copy(MODEL, live)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(4):
        for p in sorted((SAMPLE / "def_front").iterdir()):
            shutil.copy(p, folder / f"{i}-{p.name}")
    return live, folder


@pytest.mark.parametrize("make", [nan_above, inverted], ids=lambda f: f.__name__)
def test_a_reload_to_a_lying_model_is_refused_and_inspection_goes_on(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    live, folder = _line_of_defects(tmp_path)
    out = tmp_path / "v.jsonl"
    st = Station(
        "replay", str(folder), "--realtime", "--no-progress", "--out", str(out), extra=tuple(sets(f"model.path={live}", "camera.fps=8"))
    )
    try:
        assert st.up() and wait_for(lambda: len(st.verdicts()) >= 3, 60)
        make(tmp_path / "bad.onnx").replace(live)
        st.signal(signal.SIGHUP)
        assert wait_for(lambda: st.metric("station_model_reloads_total", result="refused") == 1, 30), st.stderr()[-2000:]
        assert st.wait(120) == 0
    finally:
        st.close()
    verdicts = [strict_json(line) for line in out.read_text().splitlines()]
    assert [v["part_id"] for v in verdicts] == list(range(1, 73)), "every part judged, by the old model"
    assert len({v["model"] for v in verdicts}) == 1 and all(v["verdict"] == "reject" for v in verdicts)
    assert not st.invalid and st.verdicts(), "what the subscriber saw was strict JSON"


def test_a_shadow_model_that_never_finishes_costs_no_live_verdict_and_the_station_exits_0(tmp_path: Path) -> None:
    """A shadow whose every run loops two billion turns: the live verdicts were right, but every stop waited out the drain
    and the process aborted with a run still going (exit 134, ``terminate called without an active exception``)."""
    endless, out = loops_on_bright(tmp_path / "endless.onnx"), tmp_path / "v.jsonl"
    parts = bright_parts(tmp_path / "parts")
    p = run("replay", str(parts), "--no-progress", "--out", str(out), *sets(f"model.shadow={endless}", *PORTS))
    assert p.returncode == 0, p.stderr[-2000:]
    verdicts = [strict_json(line) for line in out.read_text().splitlines()]
    assert [v["part_id"] for v in verdicts] == [1, 2, 3] and all(v["verdict"] == "reject" for v in verdicts)
    assert "terminate called" not in p.stderr


def test_a_reload_to_a_model_that_never_finishes_its_self_test_is_refused_and_a_stop_then_drains(tmp_path: Path) -> None:
    """The gate's first run never ended: the reload held the main thread for good, SIGTERM was never taken, SIGKILL alone
    ended the station. Each run is bounded now (station.runs: 5 s), so the model is refused and the stop drains."""
    live, folder = _line_of_defects(tmp_path)
    out = tmp_path / "v.jsonl"
    st = Station("replay", str(folder), "--realtime", "--no-progress", "--out", str(out),
                 extra=tuple(sets(f"model.path={live}", "camera.fps=4")))  # fmt: skip
    try:
        assert st.up() and wait_for(lambda: len(st.verdicts()) >= 2, 60)
        loops_above(tmp_path / "endless.onnx", above=-1.0).replace(live)
        st.signal(signal.SIGHUP)
        assert wait_for(lambda: st.metric("station_model_reloads_total", result="refused") == 1, 60), st.stderr()[-2000:]
        st.signal(signal.SIGTERM)
        assert st.wait(60) == 0
    finally:
        st.close()
    assert "the model's run was ended: it ran past 5 s" in st.stderr()
    verdicts = [strict_json(line) for line in out.read_text().splitlines()]
    assert [v["part_id"] for v in verdicts] == list(range(1, len(verdicts) + 1)) and all(v["verdict"] == "reject" for v in verdicts)


def test_a_model_run_that_holds_a_part_past_its_deadline_makes_the_station_say_degraded_until_its_verdict_is_out(
    tmp_path: Path,
) -> None:
    """A live model that runs to its 5 s bound on one part (a bright one): the heartbeats said ``running`` all the while,
    so gateways took the station as keeping its deadline and that part, and those behind it, reached the actuator
    undecided (before 2026-12-07). Now the heartbeats say ``degraded`` (gateways hold: every part rejected) from the
    part's deadline until its verdict, a reject, is out, and ``running`` again after."""
    live, folder = loops_on_bright(tmp_path / "slow.onnx"), tmp_path / "parts"
    folder.mkdir()
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[0], folder / "a_ok.jpeg")
    bright_parts(tmp_path / "bright", 1)
    shutil.copy(next((tmp_path / "bright").iterdir()), folder / "b_bright.png")
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[1], folder / "c_ok.jpeg")
    out = tmp_path / "v.jsonl"
    st = Station("replay", str(folder), "--realtime", "--no-progress", "--out", str(out),
                 extra=tuple(sets(f"model.path={live}", "camera.fps=1")))  # fmt: skip
    try:
        assert st.wait(60) == 0, st.stderr()[-2000:]
    finally:
        st.close()
    verdicts = [strict_json(line) for line in out.read_text().splitlines()]
    assert [v["part_id"] for v in verdicts] == [1, 2, 3]
    assert [(v["part_id"], v["verdict"], v["reason"]) for v in verdicts][1] == (2, "reject", "late")  # the run ended at 5 s
    states = [b["state"] for t, b, _ in st.messages if t in ("heartbeat", "status")]  # a change of state is sent at once
    first = states.index("degraded")
    assert "running" in states[:first] and "running" in states[first:], states
    behind = st.logged("station_degraded")
    assert behind and "part 2 has no verdict" in str(behind[0]["why"]), behind
