"""Shadow stage: a candidate model judges every part beside the active one, and changes nothing.

The shadow model (``model.shadow``, in a :class:`ShadowSlot`, swapped by a reload like the
active one) scores the same crop as the active model, or the same part cropped with its own
preprocessing when that differs (a taught model rectifies tilted parts), and :func:`decide`
judges it with the shadow model's own threshold and band. The verdict gets ``shadow``: exactly
what that model would have published alone on the part.

The stage is a side branch with its own thread, so that the two models score at the same time
(ONNX Runtime releases the GIL; each session uses one core by default). With
``model.shadow_own_cpus`` (:class:`CpuSplit`) the inference thread, while a shadow model runs, and
the shadow thread keep to separate halves of the process's CPUs: left to itself, Linux often wakes
the shadow thread on the inference thread's CPU, and the two runs then share one core
(measured: docs/benchmarks.md).

- the inference stage hands each crop it is about to score to :meth:`ShadowStage.submit`, which
  queues it when the shadow thread has nothing else queued (else the part's shadow is skipped,
  counted: a shadow slower than the line never builds a backlog);
- the stage's thread scores and decides queued crops;
- the decision stage, once the active verdict is decided, calls :meth:`ShadowStage.attach`: a
  shadow queued behind another part's and not yet started is skipped at once; any other is waited
  for at most ``model.shadow_wait_ms``, and never more than half the time left before the part's
  deadline.

The active verdict is never changed, and the shadow never pushes it past its deadline:

- a part the active model did not score (not inspectable, an error) gets no shadow;
- the shadow is skipped (and counted) when the part has less than twice the longest recent
  shadow run left before its deadline, when the shadow is busy with an earlier part, or when the
  wait runs out, so a shadow costs a verdict at most ``model.shadow_wait_ms``: a shadow of the
  active model's size runs beside it and is usually ready first; one preempted on a busy machine,
  or one much slower than the active model, is skipped rather than waited for;
- a shadow that raises is the shadow's ``error``.

A part waits for the longer of the two models, not their sum (measured: docs/benchmarks.md).
Disagreements are counted where the verdict is published.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import structlog

from station.messages import Crop, Disposition, Failure, Reason, Scored, ShadowSkip, ShadowVerdict, StageName, Verdict
from station.metrics import Metrics
from station.model import Model
from station.preprocess import same_search
from station.ratelog import RateLimitedLog
from station.reload import ShadowSlot
from station.score import published, valid_score
from station.stages.base import Worker
from station.stages.decision import decide
from station.stages.preprocess import crop_part

log = structlog.get_logger()
RECENT = 32  # shadow runs whose longest sets the time a part must have left to be queued
RECENT_S = 10.0  # s: an older run sets it no more (after a slow spell, parts that were skipped for it are scored again)


@dataclass(frozen=True)
class CpuSplit:
    """The CPUs the active model's thread keeps to while a shadow runs, the shadow's own, and all the process may use."""

    active: frozenset[int]
    shadow: frozenset[int]
    every: frozenset[int]

    @classmethod
    def of_this_process(cls) -> CpuSplit | None:
        """Halves of this process's CPUs; None where there is one CPU or no affinity (not Linux)."""
        if not hasattr(os, "sched_getaffinity"):
            return None
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return None
        half = (len(cpus) + 1) // 2  # the live model gets the larger half
        return cls(frozenset(cpus[:half]), frozenset(cpus[half:]), frozenset(cpus))

    @staticmethod
    def keep(cpus: frozenset[int]) -> bool:
        """Keep the calling thread to ``cpus``; False (and a warning) when the system refuses."""
        try:
            os.sched_setaffinity(0, cpus)
            return True
        except OSError as exc:
            log.warning("cpu_affinity_refused", cpus=sorted(cpus), error=str(exc))
            return False


@dataclass(eq=False)
class _Job:
    """One part's shadow: queued by the inference thread, done by the shadow thread, taken by the decision thread."""

    crop: Crop
    model: Model
    done: threading.Event = field(default_factory=threading.Event)
    verdict: ShadowVerdict | None = None
    behind: bool = False  # queued while the shadow thread was busy with another part
    started: bool = False  # the shadow thread took it
    abandoned: bool = False  # its verdict went out without it: not worth scoring any more


class ShadowStage(Worker):
    """The shadow model's thread; ``submit`` and ``attach`` are what the inference and decision stages call."""

    def __init__(
        self,
        slot: ShadowSlot,
        metrics: Metrics,
        deadline_s: float,
        wait_s: float,
        inbox: queue.Queue[object] | None = None,
        poll_s: float = 0.1,
        timer: Callable[[float], None] | None = None,
        split: CpuSplit | None = None,
    ) -> None:
        super().__init__(StageName.SHADOW.value, "stage-shadow")
        self.split = split
        self._kept = False  # the inference thread keeps to split.active (it does while a shadow model runs)
        self.slot = slot
        self.metrics = metrics
        self.deadline_s = deadline_s
        self.wait_s = wait_s
        self.inbox: queue.Queue[object] = inbox if inbox is not None else queue.Queue(maxsize=1)  # one part waits at most
        self._poll_s = poll_s
        self._timer = timer
        self.durations: deque[float] = deque(maxlen=4096)  # every run's time, newest last (benchmarks read it too)
        self._runs: deque[tuple[float, float, Model]] = deque(maxlen=RECENT)  # when each run ended, its time, its model
        self._jobs: dict[int, _Job] = {}  # by part id; at most the parts between inference and decision
        self._lock = threading.Lock()
        self._busy = False  # the shadow thread is scoring a part (written by it alone)
        self._skips = RateLimitedLog()  # a shadow slower than the line would log every part: each is counted, a few logged

    def submit(self, crop: Crop) -> None:
        """Queue the shadow's look at a part the active model is about to score (inference thread)."""
        model = self.slot.current
        if self.split is not None and self._kept != (model is not None):  # a shadow came or went (reload)
            self.split.keep(self.split.active if model is not None else self.split.every)
            self._kept = model is not None
        if model is None or not self.is_alive():
            return
        part = crop.part
        left = self.deadline_s - (time.monotonic() - part.frame.captured_mono)
        if left < self._allowance(model):
            self._skip(part.part_id, ShadowSkip.DEADLINE, f"{left * 1000:.1f} ms left before the deadline")
            return
        if not self.inbox.empty():  # overflow policy: one part waits at most (a queue of one); a newer one goes without a shadow
            self._skip(part.part_id, ShadowSkip.BUSY, "the shadow is still busy with earlier parts")
            return
        job = _Job(crop, model, behind=self._busy)
        with self._lock:
            self._jobs[part.part_id] = job
        self.inbox.put_nowait(job)  # this thread alone puts, into an empty queue: never Full

    def attach(self, v: Verdict) -> Verdict:
        """The decided verdict with the part's shadow, when it is ready in time (decision thread). Never raises: whatever
        goes wrong joining the shadow to it, the verdict goes out as decided, a skip counted (as for handing the crop over)."""
        try:
            return self._attach(v)
        except Exception as exc:
            self.metrics.shadow_skipped.labels(cause=ShadowSkip.FAILED.value).inc()
            log.error("shadow_attach_failed", stage="decision", part_id=v.part_id, error=f"{type(exc).__name__}: {exc}"[:200])
            return v

    def _attach(self, v: Verdict) -> Verdict:
        with self._lock:
            job = self._jobs.pop(v.part_id, None)
        if job is None:
            return v
        if v.score is None:  # the active model gave no score: nothing to compare
            job.abandoned = True
            return v
        if job.behind and not job.started:  # still queued behind another part's shadow: never wait for it
            job.abandoned = True
            self._skip(v.part_id, ShadowSkip.NOT_STARTED, "the shadow had not started on it when the verdict was decided")
            return v
        left = self.deadline_s - (time.monotonic() - v.captured_mono)
        wait = min(left / 2, self.wait_s)
        if not job.done.wait(max(0.0, wait)):
            job.abandoned = True
            self._skip(v.part_id, ShadowSkip.NOT_READY, f"not ready within {wait * 1000:.1f} ms")
            return v
        return replace(v, shadow=job.verdict)

    def _allowance(self, model: Model) -> float:
        """Twice the longest of the RECENT latest runs of ``model`` in the last RECENT_S (0 before its first): a slow spell
        once set it for good (no part skipped for it was timed again), and a model loaded since inherited it."""
        now = time.monotonic()
        with self._lock:  # the shadow thread appends
            return 2.0 * max((took for at, took, m in self._runs if m is model and now - at <= RECENT_S), default=0.0)

    def ran(self, took: float, model: Model) -> None:
        """One shadow run of ``model`` took ``took`` seconds (the shadow thread; tests)."""
        self.durations.append(took)
        with self._lock:
            self._runs.append((time.monotonic(), took, model))

    def _skip(self, part_id: int, cause: ShadowSkip, why: str) -> None:
        self.metrics.shadow_skipped.labels(cause=cause.value).inc()
        self._skips.emit(f"shadow_skipped:{cause}", "shadow_skipped", level="warning", keep=("cause",), stage="shadow", part_id=part_id,
                         cause=cause.value, why=why)  # fmt: skip

    def _run(self) -> None:
        if self.split is not None:
            self.split.keep(self.split.shadow)
        while not self._stop.is_set():
            self.last_progress = time.monotonic()
            try:
                job = self.inbox.get(timeout=self._poll_s)
            except queue.Empty:
                self._skips.tick()
                continue
            if not isinstance(job, _Job) or job.abandoned:
                continue
            job.started, self._busy = True, True
            t0 = time.perf_counter()
            job.verdict = self.judge(job.model, job.crop)
            took = time.perf_counter() - t0
            self.ran(took, job.model)
            self._busy = False
            if self._timer is not None:
                self._timer(took)
            job.done.set()
        self._left_behind()
        self._skips.flush()

    def _left_behind(self) -> None:
        """Count and log the parts whose shadow the stopping thread leaves unjudged (none after a drain that got out)."""
        with self._lock:
            left = [i for i, job in self._jobs.items() if not job.done.is_set()]
            for i in left:  # their verdicts, if still decided, go out without a shadow and are not counted twice
                del self._jobs[i]
        for i in left:
            self._skip(i, ShadowSkip.STOPPED, "the shadow stopped before it judged the part")

    def judge(self, model: Model, crop: Crop) -> ShadowVerdict:
        """What ``model`` would publish alone on the part in ``crop``; never raises."""
        info = model.info
        try:
            mine = self._own_crop(crop, model)
            if mine.failure is not None or mine.pre is None or mine.pre.crop is None:
                scored = Scored(mine, None, mine.failure, info)
            else:
                raw = float(model.score(mine.pre.crop[None])[0])
                why = None if valid_score(raw) else Failure(Reason.ERROR, f"shadow: the model gave {raw!r}")
                scored = Scored(mine, raw if why is None else None, why, info)
            reason, _ = decide(scored, info.band)
        except Exception as exc:  # the shadow's failure is its own verdict; the active one is untouched
            self.metrics.part_errors.labels(stage=StageName.SHADOW).inc()
            log.error("part_error", stage="shadow", part_id=crop.part.part_id, error=f"{type(exc).__name__}: {exc}")
            return ShadowVerdict(verdict=Disposition.REJECT, reason=Reason.ERROR, score=None, model=info.model_id)
        score = published(scored.score)
        return ShadowVerdict(verdict=Disposition.of(reason), reason=reason, score=score, model=info.model_id)

    def _own_crop(self, crop: Crop, model: Model) -> Crop:
        """The live model's crop where the preprocessing is the same; else the shadow model's own, made from the circle the
        live model found where its search was the same (a taught model that rectifies: about half the time of a search)."""
        spec, live = model.info.spec, crop.model.info.spec if crop.model is not None else None
        if live == spec:
            return crop
        pre = crop.pre
        found = pre.circle if live is not None and same_search(live, spec) and pre is not None and pre.crop is not None else None
        return crop_part(crop.part, spec, model, self.metrics, StageName.SHADOW, found)
