"""The pipeline: capture -> trigger -> preprocess -> inference -> decision -> publish.

The shadow stage is a side branch: inference hands it each crop, decision attaches its verdict.

Each arrow is a bounded queue; each stage owns one thread. ``drain`` stops capture and lets the
end-of-stream marker push every captured frame through to its verdict, within a time bound.
"""

from __future__ import annotations

import gc
import hashlib
import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import structlog

from station import __version__, runs
from station.archive import Archive
from station.blobs import no_room
from station.config import FREE_RUN, Config, ModelSection, TriggerMode
from station.errors import ConfigError
from station.frame_source import FrameSource
from station.gate import admit_configured
from station.inflight import InFlight, behind, first_waiting
from station.messages import CameraState, DropReason, Frame, Part, Scored, StageName, StationState, Verdict
from station.metrics import QUEUED, Metrics
from station.model import Model
from station.ratelog import RateLimitedLog
from station.reload import ModelSlot, Reloader, ShadowSlot
from station.review import Review, load_token
from station.stages.base import Stage, Worker
from station.stages.capture import CaptureStage
from station.stages.decision import DecisionStage
from station.stages.inference import InferenceStage
from station.stages.line_trigger import LineTrigger
from station.stages.preprocess import PreprocessStage
from station.stages.publish import Identity, Outlet
from station.stages.shadow import CpuSplit, ShadowStage
from station.stages.trigger import FrameTrigger, TriggerStage, trigger_for
from station.travel import TravelWatch
from station.web import Health, LiveView, WebServer
from station.wire import VerdictMessage

log = structlog.get_logger()
_LIVE = (StationState.RUNNING, StationState.DEGRADED)
# How long a thread that holds the GIL may keep a waiting one waiting (Python's default: 5 ms). A part's
# preprocessing and scoring hand the GIL back and forth with the capture, trigger and shadow threads a few
# dozen times; at 5 ms a turn, the waits made the real-time p99 (docs/benchmarks.md).
GIL_SWITCH_S = 0.001


def config_hash(cfg: Config) -> str:
    return hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RunOptions:
    realtime: bool = False
    out: Path | None = None
    metrics_server: bool = True
    on_verdict: Callable[[Verdict], None] | None = None  # each verdict as published, in order (station eval VIDEO)
    travel: TravelWatch | None = None  # told which way the parts move (station eval VIDEO reads it); else the pipeline's own


def _queues(cfg: Config) -> dict[StageName, queue.Queue[object]]:
    """The bounded queue in front of each stage after capture: frames in front of the trigger, parts after it; the shadow's
    holds one part (its overflow policy: a part that finds it full goes without a shadow, counted)."""
    sizes = {StageName.TRIGGER: cfg.camera.queue_size, StageName.SHADOW: 1}
    return {name: queue.Queue(maxsize=sizes.get(name, cfg.pipeline.queue_size)) for name in QUEUED}


class Pipeline:
    """Wires the stages for one source; start(), then drain() or wait()."""

    def __init__(self, cfg: Config, source: FrameSource, model: Model, metrics: Metrics, opts: RunOptions) -> None:
        self.cfg = cfg
        self.opts = opts
        self.metrics = metrics
        self._trigger_log = RateLimitedLog()
        self.state = StationState.STARTING  # written only by _move_to (stopping is final)
        self._degraded_by = ""  # the kind of fault (:meth:`_faults`) last logged as the reason for being degraded
        self._state_lock = threading.Lock()
        if cfg.pipeline.opencv_threads is not None:  # a process-wide setting
            cv2.setNumThreads(cfg.pipeline.opencv_threads)
        self.queues = q = _queues(cfg)
        self.travel = opts.travel if opts.travel is not None else TravelWatch(cfg.trigger.direction, metrics, self._trigger_log)
        trig = trigger_for(cfg, source, self._blank_frame, self.travel)
        self.mode = TriggerMode.FRAME if isinstance(trig, FrameTrigger) else TriggerMode.LINE
        self.capture = CaptureStage(
            source,
            q[StageName.TRIGGER],
            metrics,
            opts.realtime,
            stale_after_s=cfg.camera.stale_after_s,
            backoff_cap_s=cfg.camera.backoff_max_s,
            free_run=cfg.camera.trigger == FREE_RUN,
            frames_are_parts=isinstance(trig, FrameTrigger),
            no_room=None if isinstance(trig, FrameTrigger) else partial(no_room, cfg.trigger),
        )
        self.slot = ModelSlot(model)
        shadow = admit_configured(cfg.model.shadow, "model.shadow", cfg.model.threads()) if cfg.model.shadow else None
        self.shadow = ShadowSlot(shadow)
        metrics.set_shadow(shadow.info if shadow is not None else None)
        self.reloader = Reloader(cfg.model.path, self.slot, metrics, cfg.model.threads(), self.shadow, cfg.model.shadow)
        self.live = LiveView(metrics)
        self.archive: Archive | None = None
        cfg_hash = config_hash(cfg)
        who = Identity(cfg.station.id, cfg_hash, model.info.model_id)
        self.outlet = Outlet(cfg.publisher, who, metrics, out=opts.out, camera=lambda: self.capture.state, on_published=self._published)
        if cfg.archive.dir is not None:
            try:
                self.archive = Archive(cfg.archive, metrics, self.outlet.publisher.run_id, cfg_hash)
            except ConfigError:
                self.outlet.close()
                raise
        self.publisher = self.outlet.publisher
        self.parts_triggered = 0
        self.inflight = InFlight()

        self.stages = self._stages(trig, model, metrics)
        self.web = self._serve() if opts.metrics_server and cfg.metrics.enabled else None
        if self.web is not None:
            self.metrics_port = self.web.port
        metrics.set_model(model.info)
        metrics.build_info.info({"version": __version__})

    def _serve(self) -> WebServer:
        """The HTTP endpoints (metrics, health, live page, review when on); a port or token that fails closes the publisher."""
        cfg = self.cfg
        try:
            token = load_token(cfg, warn=False)  # warned of when the command checked it, before anything started
            review = Review(cfg.archive.dir, token, self.metrics, cfg.review.recent) if token and cfg.archive.dir else None
            return WebServer(cfg.metrics.host, cfg.metrics.port, self.metrics, self.live, self.healthz, review)
        except ConfigError:
            self.outlet.close()
            if self.archive is not None:
                self.archive.release()
            raise

    def _stages(self, trig: FrameTrigger | LineTrigger, model: Model, metrics: Metrics) -> list[Stage[Any, Any]]:
        """The five stages after capture, each between two of the bounded queues."""
        q = self.queues

        def count(parts: list[Part]) -> list[Part]:
            self.parts_triggered += len(parts)
            self.inflight.handed_on(parts)
            return parts

        def t(stage: StageName) -> Callable[[float], None]:
            return metrics.stage_seconds.labels(stage=stage.value).observe

        S = StageName
        split = CpuSplit.of_this_process() if self.cfg.model.shadow_own_cpus else None
        deadline_s, wait_s = self.publisher.deadline_s, self.cfg.model.shadow_wait_ms / 1000
        self.shadow_stage = ShadowStage(self.shadow, metrics, deadline_s, wait_s, q[S.SHADOW], timer=t(S.SHADOW), split=split)
        decision, shadow = DecisionStage(model.info, metrics), self.shadow_stage
        self.trigger_stage = tr = TriggerStage(trig, metrics, self._trigger_log)

        def decide_then_attach(scored: Scored) -> list[Verdict]:
            return [shadow.attach(v) for v in decision(scored)]

        return [
            Stage(S.TRIGGER, q[S.TRIGGER], q[S.PREPROCESS], lambda f: count(tr(f)), on_end=lambda: count(tr.flush()), timer=t(S.TRIGGER)),
            Stage(S.PREPROCESS, q[S.PREPROCESS], q[S.INFERENCE], PreprocessStage(self.slot, metrics), timer=t(S.PREPROCESS)),
            Stage(S.INFERENCE, q[S.INFERENCE], q[S.DECISION], InferenceStage(self.slot, metrics, shadow.submit), timer=t(S.INFERENCE)),
            Stage(S.DECISION, q[S.DECISION], q[S.PUBLISH], decide_then_attach, timer=t(S.DECISION)),
            Stage(
                S.PUBLISH,
                q[S.PUBLISH],
                None,
                self.publisher,
                on_idle=self._idle,
                on_end=self._final,
                timer=t(S.PUBLISH),
                poll_s=min(0.1, self.cfg.publisher.heartbeat_ms / 2000),
            ),  # its idle turns send the heartbeats: it waits at most half their interval
        ]

    def _blank_frame(self, index: int) -> None:
        """A frame the line trigger did not believe: counted, and logged at most every 10 s with how many more."""
        self.metrics.frames_dropped.labels(reason=DropReason.BLANK).inc()
        why = "it shows no part where one must be (a light out or a flash): the parts in view are looked for in the next frames"
        self._trigger_log.emit("blank", "frame_blank", level="warning", frame=index, why=why)

    def _published(self, v: Verdict, msg: VerdictMessage) -> None:
        self.inflight.published(v.part_id)
        if self.opts.on_verdict is not None:
            self.opts.on_verdict(v)
        self.live.record(v, msg)
        if self.archive is not None:
            self.archive.submit(v, msg)

    def healthz(self) -> Health:
        """Camera connected, frames arriving within metrics.healthy_within_s, no stage dead or stuck; else unhealthy (503).
        Degraded (200, each named): the archive failing, the shadow stuck (it changes no verdict: never a reason to restart
        the station), --out failing, parts against trigger.direction, the trigger failing, a part past its deadline."""
        now, camera = time.monotonic(), self.capture.state
        age = now - self.capture.last_frame_mono if self.capture.frames else None
        late = None if age is None or age <= self.cfg.metrics.healthy_within_s else f"no frame for {age:.1f} s"
        seen = self.capture.blind() if camera is CameraState.CONNECTED else f"camera {camera.value}"
        problems = [p for p in (seen, "no frame yet" if age is None else late, self.hung()) if p]
        failing = f"archive: {self.archive.failing}" if self.archive is not None and self.archive.failing else None
        faults = (failing, self._stuck([self.shadow_stage]), self.publisher.out_failing, self.travel.against(),
                  self.trigger_stage.failing(now), self._behind())  # fmt: skip
        degraded = [d for d in faults if d]
        status = "unhealthy" if problems else "degraded" if degraded else "ok"
        body = {"state": self.state.value, "camera": camera.value, "last_frame_age_s": age, "problems": problems, "degraded": degraded}
        return Health(not problems, {**body, "status": status})

    def _idle(self) -> None:
        """The publish stage's idle turn: the state the heartbeats say, then a heartbeat. Degraded (gateways reject every
        part) while the camera is lost or a stage that parts flow through is stuck (parts then get no verdict), or while
        parts move against trigger.direction (judged as they enter the view, or not at all)."""
        kind, why = next(((k, w) for k, w in self._faults() if w), ("", None))
        was = self.state
        if why:  # starting stays starting while the camera first opens (no fault to warn of); not once it failed or sent frames
            failed = self.capture.state is CameraState.DISCONNECTED or self.capture.sending  # frames too small, or none decoding
            self._move_to(StationState.DEGRADED, only_from=(StationState.STARTING, *_LIVE) if failed else _LIVE)
        else:
            self._move_to(StationState.RUNNING, only_from=(StationState.STARTING, *_LIVE))
        if why and self.state is StationState.DEGRADED and kind != self._degraded_by:  # a reason of another kind is said too
            log.warning("station_degraded", why=why)
        elif self.state is not was and not why:
            log.info("station_running")
        self._degraded_by = kind if self.state is StationState.DEGRADED else ""
        self.publisher.set_state(self.state)
        self.publisher.beat()
        self.metrics.set_queue_depths((n, q.qsize()) for n, q in self.queues.items())

    def _faults(self) -> list[tuple[str, str | None]]:
        """What makes the heartbeats say degraded, by kind, first first: why, or None where that kind is fine now."""
        return [
            ("camera", self.capture.blind()),
            ("stuck", self._stuck(self._path())),
            ("behind", self._behind()),
            ("trigger", self.trigger_stage.failing(time.monotonic())),
            ("direction", self.travel.against()),
        ]

    def _behind(self) -> str | None:
        """A part or a frame past its deadline without a verdict (:mod:`station.inflight`): gateways must hold."""
        held = self.stages[0].handling
        frames = [held if isinstance(held, Frame) else None, first_waiting(self.queues[StageName.TRIGGER])]
        return behind(self.inflight, frames, self.publisher.deadline_s, time.monotonic())

    def _final(self) -> list[None]:
        """Last words of the publish thread: the station is stopping (a status message, unless an idle turn during the
        drain already said so)."""
        self._move_to(StationState.STOPPING)
        self.publisher.set_state(self.state)
        return []

    def _move_to(self, new: StationState, only_from: tuple[StationState, ...] | None = None) -> None:
        """The one writer of ``state``: the idle hook, start and drain all come here; nothing leaves STOPPING."""
        with self._state_lock:
            if self.state is StationState.STOPPING or (only_from is not None and self.state not in only_from):
                return
            self.state = new

    def start(self) -> None:
        # Everything loaded so far (modules, models, config) lives as long as the process: frozen out of the
        # garbage collector's full passes. A full pass over it takes about 30 ms (docs/benchmarks.md); over hours
        # of running one would land in the middle of some part.
        gc.collect()
        gc.freeze()
        sys.setswitchinterval(GIL_SWITCH_S)
        self.outlet.start()
        if self.archive is not None:
            self.archive.start()
        self.shadow_stage.start()
        for s in reversed(self.stages):
            s.start()
        self.capture.start()
        if not self.capture.source.live:  # a live camera is running from its first frame (the publish stage's idle turn)
            self._move_to(StationState.RUNNING, only_from=(StationState.STARTING,))
        web = f"http://{self.cfg.metrics.host}:{self.web.port}/" if self.web is not None else None  # metrics.port 0: the port taken
        log.info("pipeline_started", source=self.capture.source.name, mode=self.mode.value, endpoint=self.publisher.endpoint, web=web)

    # ---- the facade: what the supervisor and the tools read ---------------------------------
    @property
    def camera(self) -> CameraState:
        return self.capture.state

    @property
    def frames(self) -> int:
        return self.capture.frames

    @property
    def verdicts(self) -> int:
        return self.publisher.verdicts

    def model_changed(self) -> bool:
        """The model file changed on disk since it was loaded (``model.watch``)."""
        return self.reloader.changed()

    def reload_model(self, section: ModelSection | None = None, stop: threading.Event | None = None) -> None:
        """Load ``model.path`` and ``model.shadow`` again through the gate (from ``section``, a re-read config,
        when given); a refused model, or one not judged to the end before ``stop`` was set, leaves the running one."""
        if section is not None:
            self.reloader.retarget(section.path, section.shadow)
        self.reloader.reload(stop)

    def _loops(self) -> list[Worker]:
        """The threads parts flow through: capture, the stages, the shadow beside them."""
        return [self.capture, *self.stages, self.shadow_stage]

    def workers(self) -> list[Worker]:
        """Every thread of the station, capture first: each one's failure and progress are read the same way."""
        extra = [w for w in (self.outlet.resend, self.archive) if w is not None]
        return [*self._loops(), *extra]

    def failed(self) -> str | None:
        """Name of a stage or worker (resend, archive) whose thread died, if any."""
        for w in self.workers():
            if w.failed is not None:
                return f"{w.name}: {type(w.failed).__name__}: {w.failed}"
        return None

    def hung(self) -> str | None:
        """Why the process is not healthy: a dead thread, or a loop that parts pass through stuck past pipeline.stall_after_s."""
        dead = self.failed()
        if dead is not None:  # stopping too: a dead stage hands on its end marker, which says stopping as the last stage ends
            return f"stage died: {dead}"
        if self.state is StationState.STOPPING:
            return None  # the drain is bounded by shutdown.timeout_s
        if failing := self.trigger_stage.stuck(time.monotonic(), self.cfg.pipeline.stall_after_s):
            return failing
        return self._stuck(self._path())  # resend and archive wait on their own sockets and queues; the shadow: healthz

    def _path(self) -> list[Worker]:
        """The threads parts flow through to their verdicts: capture and the stages (not the shadow beside them)."""
        return [self.capture, *self.stages]

    def _stuck(self, loops: list[Worker]) -> str | None:
        """The first of ``loops`` from downstream whose loop has not turned for pipeline.stall_after_s: a stage waiting to hand
        its part to a stuck one is stuck too, and the cause is the one it waits on."""
        now = time.monotonic()
        for w in reversed(loops):
            if w.is_alive() and now - w.last_progress > self.cfg.pipeline.stall_after_s:
                return f"{w.name} stuck for {now - w.last_progress:.0f} s"
        return None

    def finished(self) -> bool:
        return not self.stages[-1].is_alive()

    def drain(self, timeout_s: float) -> bool:
        """Stop capture; wait until every captured frame has its verdict. True if it all got out."""
        self._move_to(StationState.STOPPING)
        log.info("drain_started", timeout_s=timeout_s)
        self.capture.stop()
        deadline = time.monotonic() + timeout_s
        self._join_path(deadline)
        self.shadow_stage.stop()  # decision, its one user, has ended (or the drain ran out of time)
        self._ended(self.shadow_stage, self._end_shadow_runs, "the station is stopping: the shadow's verdict has no part", deadline)
        ended = not any(w.is_alive() for w in self._path())
        if self.archive is not None:
            self.archive.drain(max(0.5, deadline - time.monotonic()))
        if not ended:
            log.error("drain_timed_out", timeout_s=timeout_s)
            for w in self._loops():
                w.abort()
            for s in self.stages:  # a run left going aborts the exit (exit 134); a part may run on a model a reload replaced
                self._ended(s, runs.interrupt_all, f"the drain ran out of time ({timeout_s:g} s)", time.monotonic() + 1.0)
        return ended and all(w.failed is None for w in self._path())  # a dead stage's parts, and those before it, got none

    def _join_path(self, deadline: float) -> None:
        """Wait by ``deadline`` for capture and the stages to end, in order. Once one of the stages is dead (before the drain
        or during it), the threads before it are not waited for: what they hold can reach no verdict (a dead stage hands on
        its end marker: those after it finish the parts already past it)."""
        loops = self._path()
        while (alive := next((w for w in loops if w.is_alive()), None)) is not None and time.monotonic() < deadline:
            if dead := [i for i, w in enumerate(loops) if w.failed is not None]:
                for w in loops[: dead[-1]]:  # the last: one alive between two dead ones waits on the second
                    w.abort()
            alive.join(min(0.1, max(0.0, deadline - time.monotonic())))

    def _end_shadow_runs(self, why: str) -> None:
        if (m := self.shadow.current) is not None:
            m.interrupt(why)

    @staticmethod
    def _ended(worker: Worker, interrupt: Callable[[str], None], why: str, until: float) -> None:
        """Join ``worker`` by ``until``, ending runs (``interrupt(why)``) meanwhile: one it starts after an interrupt would
        have its whole bound (station.runs)."""
        while worker.is_alive() and time.monotonic() < until:
            interrupt(why)
            worker.join(0.05)

    def close(self) -> None:
        for s in self.stages:  # the publish thread owns the socket: it must be gone before the socket closes
            s.join(2.0)
        self.shadow_stage.stop()
        self.shadow_stage.join(2.0)
        self.outlet.close()
        if self.web is not None:
            self.web.close()
        log.info("pipeline_stopped", verdicts=self.publisher.verdicts, frames=self.capture.frames)
        shadow = self.shadow.current
        if shadow is not None or self.cfg.model.shadow is not None:  # e.g. a replay checked with a candidate: what it judged
            model = shadow.info.model_id if shadow is not None else None  # None: a reload took the shadow away meanwhile
            log.info("shadow_summary", model=model, **self.metrics.shadow_totals())
