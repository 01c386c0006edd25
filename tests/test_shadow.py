"""The shadow stage: a candidate model's verdict beside the active one, which it never changes."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from station.messages import Crop, Frame, Part, Reason, ShadowSkip, Verdict
from station.metrics import Metrics
from station.model import Model
from station.reload import ModelSlot, ShadowSlot
from station.stages.decision import DecisionStage
from station.stages.inference import InferenceStage
from station.stages.preprocess import PreprocessStage
from station.stages.shadow import CpuSplit, ShadowStage
from station.stills import read_image
from station.wire import VerdictMessage

from .conftest import MODEL, SAMPLE, wait_for
from .variants import STRICT, candidate


def _photos() -> list[Path]:
    return sorted((SAMPLE / "ok_front").iterdir()) + sorted((SAMPLE / "def_front").iterdir())


def _alone(model: Model, path: Path, pid: int) -> tuple[Crop, Verdict]:
    """The crop ``model`` scores and the verdict it decides on one photo, running alone."""
    image = read_image(path).image
    assert image is not None
    slot, m = ModelSlot(model), Metrics()
    part = Part(pid, Frame(pid, image, time.monotonic(), time.time(), name=str(path)))
    crop = PreprocessStage(slot, m)(part)[0]
    return crop, DecisionStage(model.info, m)(InferenceStage(slot, m)(crop)[0])[0]


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Model:
    threshold, band = STRICT
    return Model(candidate(tmp_path_factory.mktemp("m") / "strict.onnx", threshold, band, rectify=True))


@contextmanager
def _running(slot: ShadowSlot, m: Metrics, deadline_s: float = 60.0, wait_s: float = 1.0) -> Iterator[ShadowStage]:
    stage = ShadowStage(slot, m, deadline_s, wait_s, poll_s=0.02)
    stage.start()
    try:
        yield stage
    finally:
        stage.stop()
        stage.join(5)
    assert not stage.is_alive() and stage.failed is None


def _through(stage: ShadowStage, crop: Crop, v: Verdict) -> Verdict:
    """What the pipeline does: inference submits the crop, decision attaches the shadow to its verdict.

    Waits (at most 30 s) for a submitted shadow to be done before attaching: attach's own wait is
    short (``model.shadow_wait_ms``), and a loaded machine can delay the shadow thread past it (a
    skip, which the tests of skipping cover); the tests that use this one check what the shadow says.
    """
    stage.submit(crop)
    with stage._lock:
        job = stage._jobs.get(v.part_id)
    if job is not None:
        assert job.done.wait(30), "the shadow thread never scored the crop"
    return stage.attach(v)


def test_the_shadow_is_what_the_candidate_decides_alone_and_the_active_verdict_is_unchanged(strict: Model) -> None:
    active, differ = Model(MODEL), 0
    with _running(ShadowSlot(strict), Metrics()) as stage:
        for pid, path in enumerate(_photos(), 1):
            crop, v = _alone(active, path, pid)
            out = _through(stage, crop, v)
            assert replace(out, shadow=None) == v
            _, mine = _alone(strict, path, pid)
            assert out.shadow is not None
            assert (out.shadow.verdict, out.shadow.reason, out.shadow.score) == (mine.verdict, mine.reason, mine.score)
            assert out.shadow.model == strict.info.model_id != active.info.model_id
            differ += out.shadow.verdict != v.verdict
    assert differ >= 3, "the strict candidate must disagree on some good parts"


def test_a_part_the_active_model_did_not_score_gets_no_shadow(strict: Model) -> None:
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    unscored = replace(v, reason=Reason.UNABLE, score=None, detail="no part")
    with _running(ShadowSlot(strict), Metrics()) as stage:
        assert _through(stage, crop, unscored) == unscored and stage.attach(v) == v  # its job is gone with it
    with _running(ShadowSlot(None), Metrics()) as stage:
        assert _through(stage, crop, v).shadow is None


def test_the_shadow_thread_scores_a_crop_before_decision_asks_for_it(strict: Model) -> None:
    """Submitted when the active model starts scoring, done on the shadow's own thread: attach need not wait."""
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    with _running(ShadowSlot(strict), Metrics()) as stage:
        stage.submit(crop)
        with stage._lock:
            job = stage._jobs[v.part_id]
        assert job.done.wait(30), "the shadow thread never scored the crop"
        out = stage.attach(v)
    assert out.shadow is not None and out.shadow == job.verdict


def test_a_candidate_that_rectifies_makes_its_crop_from_the_circle_the_active_model_found(
        strict: Model, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The search is the slow half of preprocessing; a shadow that searched again was mostly not ready in time."""
    from station import preprocess

    searches: list[int] = []
    search = preprocess.find  # type: ignore[attr-defined]  # the name preprocess() calls

    def counted(*a: Any, **kw: Any) -> Any:
        searches.append(1)
        return search(*a, **kw)

    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    _, alone = _alone(strict, _photos()[0], 1)
    monkeypatch.setattr(preprocess, "find", counted)
    with _running(ShadowSlot(strict), Metrics()) as stage:
        out = _through(stage, crop, v)
    assert searches == [] and out.shadow is not None and out.shadow.score == alone.score


@contextmanager
def _stuck(model: Model, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The shadow model's scoring blocks until released (at most 10 s): a shadow far slower than the line."""
    release, score = threading.Event(), model.score

    def slow(x: Any) -> Any:
        release.wait(10)
        return score(x)

    monkeypatch.setattr(model, "score", slow)
    try:
        yield release
    finally:
        release.set()


def _skipped(m: Metrics) -> dict[ShadowSkip, float]:
    """The skips counted, by cause (those never counted left out)."""
    counts = {c: m.registry.get_sample_value("station_shadow_skipped_total", {"cause": c.value}) for c in ShadowSkip}
    return {c: n for c, n in counts.items() if n}


def test_the_shadow_is_skipped_and_counted_when_the_deadline_is_near(strict: Model) -> None:
    m = Metrics()
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    with _running(ShadowSlot(strict), m, deadline_s=5.0) as stage:
        assert _through(stage, crop, v).shadow is not None  # plenty of time: it runs (and learns how long it takes)
        old = time.monotonic() - 5.0  # no time left at all
        late_crop = replace(crop, part=replace(crop.part, frame=replace(crop.part.frame, captured_mono=old)))
        late = replace(v, captured_mono=old)
        assert _through(stage, late_crop, late) == late
    assert _skipped(m) == {ShadowSkip.DEADLINE: 1}


def test_a_slow_spell_keeps_the_shadow_off_only_while_it_is_recent_and_a_newly_loaded_model_is_timed_afresh(strict: Model) -> None:
    """The time a part must have left was twice the slowest of the last 32 runs, however old: a few seconds of the CPU
    taken by other work stopped the shadow until a restart (no skipped part was timed again), and a reload kept it."""
    from station.stages.shadow import RECENT_S

    m = Metrics()
    crop, _ = _alone(Model(MODEL), _photos()[0], 1)
    fresh = replace(crop, part=replace(crop.part, frame=replace(crop.part.frame, captured_mono=time.monotonic())))
    with _running(ShadowSlot(strict), m, deadline_s=60.0) as stage:
        stage.ran(40.0, strict)  # a run during the spell: no part has twice that left
        stage.submit(fresh)
        assert _skipped(m) == {ShadowSkip.DEADLINE: 1}
        with stage._lock:  # the same run, RECENT_S ago: the spell is over
            stage._runs[-1] = (time.monotonic() - RECENT_S - 1.0, 40.0, strict)
        stage.submit(replace(fresh, part=replace(fresh.part, part_id=2)))
        assert wait_for(lambda: stage._runs[-1][1] < 40.0, 30)  # scored, and timed afresh
        stage.ran(40.0, Model(MODEL))  # another model's run (the shadow before a reload) sets no time for this one
        stage.submit(replace(fresh, part=replace(fresh.part, part_id=3)))
        assert wait_for(lambda: len(stage.durations) == 4, 30)  # scored too
    assert _skipped(m) == {ShadowSkip.DEADLINE: 1}


@pytest.mark.parametrize(("deadline_s", "wait_s", "at_least"), [(60.0, 0.3, 0.25), (2.0, 60.0, 0.5)], ids=["its-wait", "half-time-left"])
def test_a_shadow_under_way_but_not_ready_in_time_is_skipped_and_counted(
    strict: Model, monkeypatch: pytest.MonkeyPatch, deadline_s: float, wait_s: float, at_least: float
) -> None:
    """Decision gives up on a slow shadow after model.shadow_wait_ms, or at half the time left before the deadline
    when that comes first, and counts it."""
    m = Metrics()
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    now = time.monotonic()
    crop = replace(crop, part=replace(crop.part, frame=replace(crop.part.frame, captured_mono=now)))
    with _stuck(strict, monkeypatch) as release, _running(ShadowSlot(strict), m, deadline_s, wait_s) as stage:
        stage.submit(crop)
        assert wait_for(stage.inbox.empty, 10)  # the shadow thread took it: under way
        t0 = time.monotonic()
        out = stage.attach(replace(v, captured_mono=now))
        assert time.monotonic() - t0 >= at_least, "attach gave up before its wait"
        assert time.monotonic() - now < 1.5, "attach waited past its wait, or past half the time left"
        release.set()
    assert out.shadow is None and replace(out, captured_mono=v.captured_mono) == v
    assert _skipped(m) == {ShadowSkip.NOT_READY: 1}


def test_a_shadow_slower_than_the_line_never_holds_a_verdict_up(strict: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the shadow is busy, one part may wait in its queue and the next is skipped at once; a queued part whose
    verdict is decided before the shadow starts on it is skipped too, without waiting. Each skip is counted."""
    m = Metrics()
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    with _stuck(strict, monkeypatch) as release:
        stage = ShadowStage(ShadowSlot(strict), m, 60.0, 30.0, poll_s=0.02)
        stage.start()
        stage.submit(crop)  # taken by the thread, which then blocks on it
        assert wait_for(stage.inbox.empty, 10)
        for pid in (2, 3):  # 2 waits in the queue, 3 finds the shadow busy
            stage.submit(replace(crop, part=replace(crop.part, part_id=pid)))
        assert sorted(stage._jobs) == [1, 2]
        assert _skipped(m) == {ShadowSkip.BUSY: 1}
        t0 = time.monotonic()
        second = replace(v, part_id=2, captured_mono=time.monotonic())
        assert stage.attach(second) == second  # not started: no shadow, no wait (30 s of the deadline's 60 were allowed)
        assert time.monotonic() - t0 < 10
        assert _skipped(m) == {ShadowSkip.BUSY: 1, ShadowSkip.NOT_STARTED: 1}
        release.set()
        stage.stop()
        stage.join(10)
    assert not stage.is_alive()


def test_a_part_the_shadow_never_started_before_it_stopped_is_counted_once(strict: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    """A drain that runs out of time stops the shadow with parts still queued: each is a skip, counted and logged once,
    and a verdict decided after that goes out as it was."""
    m = Metrics()
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    with _stuck(strict, monkeypatch) as release:
        stage = ShadowStage(ShadowSlot(strict), m, 60.0, 30.0, poll_s=0.02)
        stage.start()
        stage.submit(crop)  # under way, blocked
        assert wait_for(stage.inbox.empty, 10)
        stage.submit(replace(crop, part=replace(crop.part, part_id=2)))  # queued behind it
        stage.stop()
        release.set()  # part 1 is judged; the thread then stops with part 2 never started
        stage.join(10)
    assert not stage.is_alive()
    assert _skipped(m) == {ShadowSkip.STOPPED: 1}
    assert sorted(stage._jobs) == [1]  # part 1's shadow, judged, waits for its verdict
    late = replace(v, part_id=2)
    assert stage.attach(late) == late
    assert stage.attach(v).shadow is not None
    assert _skipped(m) == {ShadowSkip.STOPPED: 1}


def test_a_shadow_that_fails_is_its_own_error_and_the_active_verdict_stands(strict: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object) -> object:
        raise RuntimeError("shadow broke")

    monkeypatch.setattr(strict, "score", boom)
    m = Metrics()
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    with _running(ShadowSlot(strict), m) as stage:
        out = _through(stage, crop, v)
    assert out.shadow is not None and (out.shadow.verdict, out.shadow.reason, out.shadow.score) == ("reject", Reason.ERROR, None)
    assert (out.verdict, out.reason, out.score) == (v.verdict, v.reason, v.score)
    assert m.registry.get_sample_value("station_part_errors_total", {"stage": "shadow"}) == 1


def test_the_published_verdict_carries_the_shadow_and_disagreements_are_counted(strict: Model, tmp_path: Path) -> None:
    """Through the real publisher's wire form: the shadow is in the message, and the counter matches it."""
    from station.config import PublisherSection
    from station.stages.publish import Identity, Publisher

    m = Metrics()
    out = tmp_path / "v.jsonl"
    pub = Publisher(PublisherSection(endpoint="tcp://127.0.0.1:*", deadline_ms=60000), Identity("s", "c", "m"), m, out=out)
    try:
        with _running(ShadowSlot(strict), m) as stage:
            for pid, path in enumerate(_photos(), 1):
                pub(_through(stage, *_alone(Model(MODEL), path, pid)))
    finally:
        pub.close()
    sent = [VerdictMessage.decode(x) for x in out.read_text().splitlines()]
    assert all(s.shadow is not None and s.shadow.model == strict.info.model_id for s in sent)
    pairs = [(s.verdict, s.shadow.verdict) for s in sent if s.shadow is not None and s.shadow.verdict != s.verdict]
    assert pairs, "expected disagreements"
    for active, shadow in (("pass", "reject"), ("reject", "pass")):
        want = sum(1 for p in pairs if p == (active, shadow))
        assert m.registry.get_sample_value("station_shadow_disagreements_total", {"active": active, "shadow": shadow}) == want
    assert m.registry.get_sample_value("station_shadow_parts_total") == len(sent)
    assert json.loads(out.read_text().splitlines()[0])["shadow"]["model"] == strict.info.model_id
    totals = m.shadow_totals()  # what a run's shadow_summary says at its end
    assert totals["judged"] == len(sent) and totals["disagreed"] == len(pairs)


needs_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs Linux and two CPUs for this process"
)


@needs_two_cpus
def test_the_cpus_are_split_into_two_halves_that_do_not_overlap() -> None:
    split = CpuSplit.of_this_process()
    assert split is not None and split.active and split.shadow
    assert not split.active & split.shadow and split.active | split.shadow == split.every == frozenset(os.sched_getaffinity(0))


@needs_two_cpus
def test_while_a_shadow_runs_the_two_models_score_on_separate_cpus(strict: Model) -> None:
    """The shadow thread keeps to its half; the submitting (inference) thread to the other while a shadow model runs, and
    to every CPU again once the shadow is gone (a reload)."""
    split = CpuSplit.of_this_process()
    assert split is not None
    crop, _ = _alone(Model(MODEL), _photos()[0], 1)
    slot, seen = ShadowSlot(strict), list[frozenset[int]]()

    def inference_thread() -> None:
        stage.submit(crop)
        seen.append(frozenset(os.sched_getaffinity(0)))
        slot.swap(None)
        stage.submit(crop)
        seen.append(frozenset(os.sched_getaffinity(0)))

    stage = ShadowStage(slot, Metrics(), 60.0, 1.0, poll_s=0.02, split=split)
    stage.start()
    try:
        assert wait_for(lambda: frozenset(os.sched_getaffinity(stage._thread.native_id or 0)) == split.shadow, 10)
        t = threading.Thread(target=inference_thread)
        t.start()
        t.join(30)
    finally:
        stage.stop()
        stage.join(5)
    assert seen == [split.active, split.every]


def test_a_shadow_that_cannot_take_a_part_never_costs_the_live_score() -> None:
    """Whatever goes wrong handing a crop to the shadow, the inference stage scores the part and counts a skip."""
    active, m = Model(MODEL), Metrics()
    crop, v = _alone(active, _photos()[0], 1)

    def broken(_crop: Crop) -> None:
        raise RuntimeError("shadow queue broke")

    scored = InferenceStage(ModelSlot(active), m, broken)(crop)[0]
    assert scored.failure is None and scored.score is not None and round(scored.score, 6) == v.score
    assert _skipped(m) == {ShadowSkip.FAILED: 1}


def test_a_shadow_verdict_that_cannot_be_joined_to_the_part_never_costs_the_live_verdict(
    strict: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong joining the shadow's verdict to the live one (outside the decision stage's guard, it ended the
    stage and the part had no verdict), the live verdict goes out as decided and a skip is counted."""
    import station.stages.shadow as shadow_module

    def broken(*_args: object, **_kwargs: object) -> Verdict:
        raise ValueError("cannot join")

    m = Metrics()
    crop, v = _alone(Model(MODEL), _photos()[0], 1)
    with _running(ShadowSlot(strict), m) as stage:
        monkeypatch.setattr(shadow_module, "replace", broken)
        assert _through(stage, crop, v) == v
    assert _skipped(m) == {ShadowSkip.FAILED: 1}


def test_every_skip_is_counted_and_a_run_of_skips_is_one_log_line(strict: Model) -> None:
    """A shadow that cannot keep up would otherwise log a warning for every part."""
    from station.ratelog import RateLimitedLog

    class Lines:
        def __init__(self) -> None:
            self.events: list[tuple[str, str, int]] = []

        def warning(self, event: str, **fields: Any) -> None:
            self.events.append((event, fields["cause"], fields.get("suppressed", 0)))

    m, lines = Metrics(), Lines()
    crop, _ = _alone(Model(MODEL), _photos()[0], 1)
    with _running(ShadowSlot(strict), m, deadline_s=1.0) as stage:
        stage._skips = RateLimitedLog(interval_s=60.0, logger=lines)
        stage.ran(1.0, strict)  # a shadow run took 1 s: no part has twice that left
        for pid in range(1, 6):
            fresh = replace(crop.part.frame, captured_mono=time.monotonic())
            stage.submit(replace(crop, part=replace(crop.part, part_id=pid, frame=fresh)))
    assert _skipped(m) == {ShadowSkip.DEADLINE: 5}
    assert lines.events == [("shadow_skipped", "deadline", 0), ("shadow_skipped", "deadline", 4)]  # the rest, said as it stops
