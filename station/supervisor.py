"""The daemon's supervisor: runs one pipeline until its source ends or a signal arrives, then drains.

It owns what happens around the pipeline, not inside it: systemd readiness and the watchdog,
SIGHUP and ``model.watch`` reloads, the progress bar of a replay, and the exit code (0 when every
frame got its verdict, 1 when a stage died or the drain ran out of time). It reads the pipeline
only through its facade (``state``, ``camera``, ``frames``, ``verdicts``, ``failed``, ``hung``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import structlog

from station.camera import CameraSettings
from station.config import Config, ModelSection
from station.errors import ConfigError, one_line
from station.frame_source import FrameSource
from station.log import say
from station.messages import CameraState
from station.metrics import Metrics
from station.model import Model
from station.notify import Notifier, Watchdog
from station.pipeline import Pipeline, RunOptions
from station.signals import SIGNALS
from station.sources import source_for

log = structlog.get_logger()
_KEPT = "the config in use stays, and the model files it names are read again"  # a config refused on SIGHUP


def _model_section(cfg: Config, reread: Callable[[], Config] | None) -> ModelSection | None:
    """The model section of the config file as it is now (SIGHUP); None to reload the same files.

    Only ``model.path`` and ``model.shadow`` take effect without a restart; other changed keys are
    named in a warning. A config that no longer validates is refused with one line; the files
    already named are reloaded.
    """
    if reread is None:
        return None
    try:
        new = reread()
    except ConfigError as exc:
        named = {"key": exc.key} if exc.key else {}  # a file that is not YAML names no key
        log.error("config_refused", stage="reload", why=str(exc), then=_KEPT, **named)
        return None
    except Exception as exc:  # a fault in reading it is never worth the running station
        log.error("config_refused", stage="reload", why=f"{type(exc).__name__}: {exc}", then=_KEPT)
        return None
    kept = {"model": {"path", "shadow"}}  # what a reload takes; every other key changed waits for a restart
    old, now = cfg.model_dump(mode="json", exclude=kept), new.model_dump(mode="json", exclude=kept)
    changed = sorted(f"{sec}.{k}" for sec in now for k in now[sec] if now[sec][k] != old.get(sec, {}).get(k))
    if changed:
        log.warning("config_needs_restart", stage="reload", keys=changed)
    return new.model


def run_pipeline(
    cfg: Config, model: Model, source: FrameSource, opts: RunOptions, progress: bool = False, reread: Callable[[], Config] | None = None
) -> int:
    """Run until the source ends or a signal arrives; drain; 0 when every frame got its verdict.

    ``reread`` reads the config file again; given, SIGHUP takes ``model.path`` and ``model.shadow``
    from it (promoting the shadow model is a config edit and SIGHUP).
    """
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
    try:
        failure = _watch(cfg, pipe, notifier, bar, reread)
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
        say(one_line(f"station: error: stage failed: {failure}"))
        return 1
    return 0 if drained else 1


def _watch(cfg: Config, pipe: Pipeline, notifier: Notifier, bar: Any, reread: Callable[[], Config] | None) -> str | None:
    """Until a signal, the source's end or a stage's failure (returned): say ready once, reload on request, show progress."""
    stop, ready, failure = SIGNALS, False, None
    while not stop.stop.wait(0.1):
        if not ready and pipe.camera in (CameraState.CONNECTED, CameraState.ENDED):
            notifier.send("READY=1", f"STATUS={pipe.state.value}, camera {pipe.camera.value}")
            ready = True
        if stop.reload.is_set() or (cfg.model.watch and pipe.model_changed()):
            by = "SIGHUP" if stop.reload.is_set() else "model.watch"
            log.info("reload_requested", by=by)
            stop.reload.clear()
            pipe.reload_model(_model_section(cfg, reread) if by == "SIGHUP" else None, stop.stop)  # a stop cuts it short
        if bar is not None:
            bar.update(pipe.frames - bar.n)
        failure = pipe.failed()
        if failure is not None or pipe.finished():
            break
    return failure


def camera_settings(cfg: Config) -> CameraSettings:
    """The camera.* keys a live camera is asked for: each of CameraSettings' fields, read by its name."""
    return CameraSettings(**{f.name: getattr(cfg.camera, f.name) for f in fields(CameraSettings)})


def configured_source(cfg: Config, spec: str | None = None) -> FrameSource:
    """The camera.* source (or ``spec``, a recording to replay) with its camera.* settings."""
    c = cfg.camera
    settings = camera_settings(cfg) if spec is None else None
    return source_for(spec or c.source, c.fps, c.read_timeout_s, c.loop, settings, c.decode_threads)
