"""Settings that are valid but unwise together, or given and never read: ``check-config`` prints them and ``run`` and
``replay`` log them, each naming its key first. None of them stops the station."""

from __future__ import annotations

from pydantic import BaseModel

from station.config import FREE_RUN, Config, TriggerMode, resolved_mode
from station.config_gateway import GATEWAY_STOP_S, REPLACED, GatewayOutputKind, Tracking
from station.endpoints import without_password
from station.source_kind import IMAGES, LIVE, SourceKind, source_kind

LINE_NEAR_EDGE = 0.2  # trigger.line closer than this to a side of the frame (a fraction of its width) is warned of
SHORT_DEADLINE_MS = 50  # publisher.deadline_ms under this is warned of: the benchmark's p99 is 10-30 ms (docs/benchmarks.md)
UNIT_STOP_S = 30  # systemd/station.service's TimeoutStopSec: systemd kills the station this long after SIGTERM (a test holds them equal)
AFTER_DRAIN_S = 3  # what a stop takes besides shutdown.timeout_s and publisher.linger_ms: the watchdog's join (2 s), closing


def warnings(cfg: Config, source: str | None = None) -> list[str]:
    """Settings that are valid but unwise together, or not read: ``check-config`` prints them and ``run`` logs them
    (key first); ``source``: what replay reads in place of camera.source."""
    out = _timing(cfg)
    g, p = cfg.gateway, cfg.publisher
    if cfg.camera.trigger != FREE_RUN and cfg.trigger.mode is TriggerMode.LINE:
        out.append(
            "trigger.mode: line with a hardware trigger (camera.trigger) follows parts across frames, as for pulses by belt travel; "
            "a frame lost on the way is then only counted, not a part rejected in its place (auto: one part a frame)"
        )
    near, kind = min(cfg.trigger.line, 1 - cfg.trigger.line), source_kind(source or cfg.camera.source)
    if resolved_mode(cfg, kind in IMAGES, kind in LIVE) is TriggerMode.LINE and near < LINE_NEAR_EDGE:
        out.append(
            f"trigger.line: {cfg.trigger.line:g} is near the frame's side: a part is whole in view as its centre crosses only "
            f"if it is under {2 * near:.0%} of the frame's width across; a larger one never seen whole, or cut by the frame, "
            "may leave without a verdict (keep the line between 0.2 and 0.8)"
        )
    if kind in IMAGES and cfg.trigger.mode is TriggerMode.LINE:
        out.append(
            "trigger.mode: line on an image folder takes its images for frames of one belt, following parts across them; "
            "photos of separate parts (one part each) may run together into one part: auto or frame judges each photo"
        )
    if cfg.model.shadow is not None and cfg.model.shadow_wait_ms > p.deadline_ms / 2:
        out.append(
            f"model.shadow_wait_ms: {cfg.model.shadow_wait_ms:g} ms is over half publisher.deadline_ms ({p.deadline_ms}): a verdict "
            "never waits for its shadow past half the time it has left, so the shadow is skipped sooner than this says"
        )
    if g.output is GatewayOutputKind.MODBUS and 4 * g.modbus.timeout_s > GATEWAY_STOP_S:
        out.append(
            f"gateway.modbus.timeout_s: {g.modbus.timeout_s:g} s; a stop with a PLC that does not answer waits on up to four "
            f"requests (the one under way, a tick, the healthy coil, the close), over the {GATEWAY_STOP_S:g} s a stop has: the "
            "gateway then exits 1"
        )
    return out + _stop(cfg) + _unread(cfg, source or cfg.camera.source, own_source=source is None)


def _stop(cfg: Config) -> list[str]:
    """A drain longer than the systemd unit lets a stop take: it is killed with parts in flight."""
    drain_s = cfg.shutdown.timeout_s + cfg.publisher.linger_ms / 1000
    if drain_s + AFTER_DRAIN_S <= UNIT_STOP_S:
        return []
    return [
        f"shutdown.timeout_s: {cfg.shutdown.timeout_s:g} s, with publisher.linger_ms ({cfg.publisher.linger_ms}), lets a stop take "
        f"{drain_s + AFTER_DRAIN_S:g} s, over the {UNIT_STOP_S} s the systemd unit gives it (TimeoutStopSec): it is killed with "
        "parts in flight, exit 1 or none. Raise TimeoutStopSec past it in a drop-in (sudo systemctl edit station), or lower them"
    ]


def _timing(cfg: Config) -> list[str]:
    """The deadline against the actuator and against inspection's own time, and endpoints nothing else can reach."""
    out = []
    g, p = cfg.gateway, cfg.publisher
    budget_ms = g.actuator_delay_s() * 1000 - g.margin_ms
    if budget_ms < p.deadline_ms:
        key = "gateway.actuator_delay_ms" if g.tracking is Tracking.DELAY else "gateway.actuator_distance_mm"
        out.append(
            f"{key}: the actuator comes {g.actuator_delay_s() * 1000:.0f} ms after capture; less gateway.margin_ms ({g.margin_ms}), "
            f"that leaves {budget_ms:.0f} ms, under publisher.deadline_ms ({p.deadline_ms}): the gateway rejects verdicts the "
            "station sent on time"
        )
    silent_ms = g.missed_heartbeats * p.heartbeat_ms
    if silent_ms >= budget_ms:
        out.append(
            f"gateway.missed_heartbeats: {g.missed_heartbeats} heartbeats of publisher.heartbeat_ms ({p.heartbeat_ms}) is {silent_ms} ms "
            f"of silence before vision is unhealthy, not under the {budget_ms:.0f} ms a part takes to the actuator (less "
            "gateway.margin_ms): parts captured as the station fell silent reach the actuator with the healthy coil still 1"
        )
    if p.deadline_ms < SHORT_DEADLINE_MS:
        out.append(
            f"publisher.deadline_ms: {p.deadline_ms} ms is under {SHORT_DEADLINE_MS} ms: a part took 10 to 30 ms from capture "
            "to its verdict at the 99th percentile on the benchmark's PC (docs/benchmarks.md), and a verdict past its deadline "
            "is a reject (late): on a slower or busier PC many parts, or all, are rejected as late"
        )
    unreachable = {"publisher.endpoint": (p.endpoint, "no gateway hears the station: vision stays unhealthy and every part is rejected"),
                   "publisher.resend_endpoint": (p.resend_endpoint, "a gateway cannot ask again for a verdict it lost")}  # fmt: skip
    out += [
        f"{key}: {endpoint} reaches only this process: no gateway or subscriber elsewhere can connect, so {then} "
        "(tcp://HOST:PORT or ipc://PATH)"
        for key, (endpoint, then) in unreachable.items()
        if endpoint is not None and endpoint.startswith("inproc://")
    ]
    return out


def _unread(cfg: Config, src: str, own_source: bool) -> list[str]:
    """Keys given a value that nothing reads with the rest of the config as it is and ``src`` the source (key first);
    ``own_source``: ``src`` is camera.source (not a replay's own)."""
    out = []
    cam, g, curve = cfg.camera, cfg.gateway, cfg.publisher.curve
    kind, src = source_kind(src), without_password(src)
    device = kind in (SourceKind.USB, SourceKind.GIGE, SourceKind.PIPELINE)
    still = kind in IMAGES
    if cam.loop and kind is not SourceKind.VIDEO:
        out.append(f"camera.loop: camera.source {src} is no video file: nothing plays again, the key is not read")
    if cam.decode_threads is not None and (device or still):
        out.append(f"camera.decode_threads: camera.source {src} is no video file or network stream: the key is not read")
    if cam.fps is not None and kind in (SourceKind.VIDEO, SourceKind.GIGE):
        rate = "its own frame rate paces it" if kind is SourceKind.VIDEO else "camera.acquisition_fps sets its rate"
        out.append(f"camera.fps: camera.source {src} is {kind.value} ({rate}): the key is not read")
    if g.tracking is Tracking.DELAY:
        out += [
            f"gateway.{key}: not read with gateway.tracking: delay (gateway.actuator_delay_ms times the actuator)"
            for key in ("actuator_distance_mm", "belt_speed_mm_s")
            if getattr(g, key) is not None
        ]
    if not curve.enabled:
        keys = {"publisher.curve.secret_key_file": curve.secret_key_file, "publisher.curve.clients_dir": curve.clients_dir,
                "gateway.curve_public_key_file": g.curve_public_key_file,
                "gateway.curve_secret_key_file": g.curve_secret_key_file}  # fmt: skip
        out += [f"{key}: not read while publisher.curve.enabled is false: the verdict stream is neither encrypted nor authenticated"
                for key, value in keys.items() if value is not None]  # fmt: skip
    return out + _changed_unread(cfg, kind, own_source)


def _changed(section: BaseModel, keys: tuple[str, ...] | None = None) -> list[str]:
    """The keys of ``section`` (all, or ``keys``) set to other than their defaults: given, where every key may be written
    out with its default (the packaged config is)."""
    fields = type(section).model_fields
    return [k for k in keys or tuple(fields) if getattr(section, k) != fields[k].get_default(call_default_factory=True)]


def _changed_unread(cfg: Config, kind: SourceKind, own_source: bool) -> list[str]:
    """Keys moved from their defaults in a section the rest of the config leaves unread (key first); ``kind``: the source's,
    whose camera timing keys are judged only where it is camera.source (``own_source``: not replay, which reads another)."""
    out = []
    if cfg.gateway.output is GatewayOutputKind.LOG:
        out += [f"gateway.modbus.{k}: not read with gateway.output: log (the gateway drives no PLC; modbus drives it)"
                for k in _changed(cfg.gateway.modbus)]  # fmt: skip
    elif cfg.gateway.modbus.decision_block is not None:
        out += [f"gateway.modbus.{k}: not read with gateway.modbus.decision_block (the decision, part id, event and alive count "
                "are its four registers)" for k in _changed(cfg.gateway.modbus, REPLACED)]  # fmt: skip
    if not cfg.metrics.enabled:
        keys = ("port", "healthy_within_s") if cfg.gateway.metrics_port is not None else ("host", "port", "healthy_within_s")
        out += [f"metrics.{k}: not read while metrics.enabled is false (no /metrics, /healthz or live page is served)"
                for k in _changed(cfg.metrics, keys)]  # fmt: skip  # metrics.host: where the gateway serves its own
    if own_source and kind not in LIVE:
        out += [f"camera.{k}: camera.source is {kind.value}, which is never silent or reopened: the key is not read"
                for k in _changed(cfg.camera, ("stale_after_s", "read_timeout_s", "backoff_max_s"))]  # fmt: skip
    return out
