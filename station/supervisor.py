"""The daemon's supervisor: runs one pipeline until its source ends or a signal arrives, then drains.

It owns what happens around the pipeline, not inside it: systemd readiness and the watchdog,
SIGHUP and ``model.watch`` reloads, the progress bar of a replay, and the exit code (0 when every
frame got its verdict, 1 when a stage died or the drain ran out of time). It reads the pipeline
only through its facade (``state``, ``camera``, ``frames``, ``verdicts``, ``failed``, ``hung``).
"""

from __future__ import annotations

import sys

import structlog

from station.config import Config
from station.metrics import Metrics
from station.model import Model
from station.notify import Notifier, Watchdog
from station.pipeline import Pipeline, RunOptions
from station.signals import SIGNALS
from station.sources import CameraSettings, FrameSource, source_for
from station.stages.capture import CameraState

log = structlog.get_logger()


def run_pipeline(cfg: Config, model: Model, source: FrameSource, opts: RunOptions, progress: bool = False) -> int:
    """Run until the source ends or a signal arrives; drain; 0 when every frame got its verdict."""
    stop = SIGNALS
    ours = stop.install()  # False under `station`: installed at the first moment, kept to the end
    model.warm_up()
    notifier = Notifier()
    pipe = Pipeline(cfg, source, model, Metrics(deadline_s=cfg.publisher.deadline_ms / 1000), opts)
    watchdog = Watchdog(notifier, pipe.hung, lambda: (pipe.state.value, pipe.verdicts))
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=source.frame_count, unit="frame", desc="replay")
    pipe.start()
    watchdog.start()
    failure, ready = None, False
    try:
        while not stop.stop.wait(0.1):
            if not ready and pipe.camera in (CameraState.CONNECTED, CameraState.ENDED):
                notifier.send("READY=1", f"STATUS={pipe.state.value}, camera {pipe.camera.value}")
                ready = True
            if stop.reload.is_set() or (cfg.model.watch and pipe.model_changed()):
                log.info("reload_requested", by="SIGHUP" if stop.reload.is_set() else "model.watch")
                stop.reload.clear()
                pipe.reload_model()
            if bar is not None:
                bar.update(pipe.frames - bar.n)
            failure = pipe.failed()
            if failure is not None or pipe.finished():
                break
    finally:
        if bar is not None:
            bar.close()
    if stop.stop.is_set():
        log.info("signal_received", signal=stop.last.name if stop.last is not None else None)
    notifier.send("STOPPING=1", "STATUS=stopping: draining")
    drained = pipe.drain(cfg.shutdown.timeout_s)
    watchdog.stop()
    watchdog.join(2.0)
    notifier.close()
    pipe.close()
    failure = failure or pipe.failed()
    stop.consume()
    if ours:  # called from another program (a test, a tool): its handlers back
        stop.uninstall()
    if failure is not None:
        print(f"station: error: stage failed: {failure}", file=sys.stderr)
        return 1
    return 0 if drained else 1


def camera_settings(cfg: Config) -> CameraSettings:
    c = cfg.camera
    return CameraSettings(c.exposure_us, c.gain_db, c.acquisition_fps, c.roi, c.pixel_format, c.trigger)


def configured_source(cfg: Config, spec: str | None = None) -> FrameSource:
    """The camera.* source (or ``spec``, a recording to replay) with its camera.* settings."""
    c = cfg.camera
    settings = camera_settings(cfg) if spec is None else None
    return source_for(spec or c.source, c.fps, c.read_timeout_s, c.loop, settings, c.decode_threads)
