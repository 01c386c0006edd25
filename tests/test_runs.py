"""Bounded model runs: a run past its bound, or interrupted, ends with ModelError; the others run as ever."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from station.errors import ModelError
from station.model import Model
from station.runs import RunGuard, interrupt_all

from .conftest import wait_for
from .hostile_models import loops_above


@pytest.fixture(scope="module")
def endless(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose every run loops two billion turns: minutes, had nothing ended it."""
    return loops_above(tmp_path_factory.mktemp("runs") / "endless.onnx", above=-1.0)


def _crops(model: Model, n: int = 1) -> Any:
    return np.zeros((n, model.info.spec.size, model.info.spec.size), np.float32)


def test_a_run_past_its_bound_ends_with_a_model_error_saying_so(endless: Path) -> None:
    model = Model(endless, run_bound_s=0.2)
    started = time.monotonic()
    with pytest.raises(ModelError, match=r"the model's run was ended: it ran past 0\.2 s"):
        model.score(_crops(model))
    assert time.monotonic() - started < 30  # ended, not run out (its loop takes minutes)
    with pytest.raises(ModelError, match=r"ran past 0\.4 s"):  # a run of two crops is allowed the bound for each
        model.score_with_evidence(_crops(model, 2))


def test_an_interrupt_ends_the_run_in_flight_with_why_and_the_next_run_is_run(endless: Path, tmp_path: Path) -> None:
    model = Model(endless, run_bound_s=600)
    failed: list[Exception] = []

    def score() -> None:
        try:
            model.score(_crops(model))
        except ModelError as exc:
            failed.append(exc)

    t = threading.Thread(target=score)
    t.start()
    assert wait_for(lambda: model._guard.in_flight() > 0, 30)  # the run is in flight
    model.interrupt("the station is stopping")
    t.join(30)
    assert not t.is_alive() and "the model's run was ended: the station is stopping" in str(failed[0])
    with pytest.raises(ModelError, match="ran past"):  # not refused: run, and ended by its bound
        Model(endless, run_bound_s=0.1).score(_crops(model))
    quick = Model(loops_above(tmp_path / "loops_on_defects.onnx"), run_bound_s=0.1)
    assert quick.score(_crops(quick)).shape == (1,)  # a blank crop: no turn of the loop, a score


def test_the_watching_thread_ends_when_idle_and_a_later_run_starts_another(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("station.runs.IDLE_S", 0.05)
    guard = RunGuard(1.0)

    class Session:
        def run(self, outputs: list[str], feeds: dict[str, Any], opts: Any) -> list[Any]:
            return [feeds["x"] * 2]

    assert guard.run(Session(), ["y"], {"x": 2}) == [4]
    assert wait_for(lambda: not guard.watching(), 30)
    assert guard.run(Session(), ["y"], {"x": 3}) == [6] and guard.in_flight() == 0


@pytest.mark.parametrize("failure", [RuntimeError("can't start new thread"), MemoryError("can't start new thread")])
def test_a_run_whose_watching_thread_cannot_start_is_not_begun_and_says_so(monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    """Unwatched, a run had no bound, and no later run started a watcher (the guard thought one ran)."""
    guard, began = RunGuard(1.0), []

    class Session:
        def run(self, outputs: list[str], feeds: dict[str, Any], opts: Any) -> list[Any]:
            began.append(feeds["x"])
            return [feeds["x"] * 2]

    def out_of_threads(self: threading.Thread) -> None:
        raise failure

    with monkeypatch.context() as m:
        m.setattr(threading.Thread, "start", out_of_threads)
        with pytest.raises(ModelError, match=r"cannot be bounded, so it was not begun: can't start new thread"):
            guard.run(Session(), ["y"], {"x": 2})
    assert began == [] and guard.in_flight() == 0 and not guard.watching()
    assert guard.run(Session(), ["y"], {"x": 3}) == [6] and began == [3]  # threads again: watched and run
    assert guard.watching()


def test_interrupt_all_ends_the_runs_of_every_model_in_the_process(endless: Path) -> None:
    """A drain out of time: a part may be running on the model a reload replaced, which the slot no longer holds."""
    old, new = Model(endless, run_bound_s=600), Model(endless, run_bound_s=600)
    failed: list[Exception] = []

    def score(model: Model) -> None:
        try:
            model.score(_crops(model))
        except ModelError as exc:
            failed.append(exc)

    threads = [threading.Thread(target=score, args=(m,)) for m in (old, new)]
    for t in threads:
        t.start()
    assert wait_for(lambda: old._guard.in_flight() + new._guard.in_flight() == 2, 30)
    interrupt_all("the drain ran out of time (5 s)")
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads) and len(failed) == 2
    assert all("the model's run was ended: the drain ran out of time (5 s)" in str(exc) for exc in failed)
