"""Typed, validated configuration: declared once, every field constrained and described.

Relative paths in a config file are resolved against that file's own folder.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from station.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "station.yaml"
_ENDPOINT = re.compile(r"^(tcp://(\*|[A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(\d{1,5}|\*)|ipc://.+|inproc://.+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TriggerMode(StrEnum):
    AUTO = "auto"
    FRAME = "frame"
    LINE = "line"


class Direction(StrEnum):
    LEFT_TO_RIGHT = "left_to_right"
    RIGHT_TO_LEFT = "right_to_left"


class StationSection(_Model):
    id: str = Field("station-1", min_length=1, max_length=64, description="Station id, sent with every verdict.")


class CameraSection(_Model):
    source: str = Field("usb:0", min_length=1, description="Video file, image folder, usb:N, /dev/videoN, rtsp:// or http:// URL.")
    fps: float | None = Field(
        None, gt=0, le=1000, description="Frame rate for pacing image folders and live sources that do not report one."
    )
    queue_size: int = Field(8, ge=1, le=1024, description="Frames held between capture and trigger.")
    stale_after_s: float = Field(5.0, gt=0, le=600, description="A live source silent this long is reconnected.")
    read_timeout_s: float = Field(2.0, gt=0, le=60, description="Bound on one blocking frame read.")


class TriggerSection(_Model):
    mode: TriggerMode = Field(
        TriggerMode.AUTO,
        description="frame: each frame is a part; line: track parts on a conveyor; auto: frame for folders, line otherwise.",
    )
    direction: Direction = Field(Direction.LEFT_TO_RIGHT, description="Direction of travel along the image x axis.")
    line: float = Field(
        0.5, gt=0, lt=1, description="Trigger line as a fraction of the frame width, counted along the direction of travel."
    )
    min_diameter_px: int = Field(120, ge=16, le=4000, description="Smallest part diameter in frame pixels.")
    max_diameter_px: int = Field(560, ge=16, le=8000, description="Largest part diameter in frame pixels.")
    contrast: float = Field(22.0, gt=0, le=200, description="Grey levels away from the belt that count as part.")
    edge_margin_px: int = Field(3, ge=0, le=100, description="A blob this close to the frame edge is not entirely in view.")


class ModelSection(_Model):
    path: Path = Field(
        Path("../models/defect.onnx"), description="ONNX model; input size, normalisation, classes and threshold come from its metadata."
    )
    intra_threads: int = Field(1, ge=1, le=64, description="ONNX Runtime intra-op threads.")
    inter_threads: int = Field(1, ge=1, le=64, description="ONNX Runtime inter-op threads.")


class PublisherSection(_Model):
    endpoint: str = Field(
        "tcp://127.0.0.1:5556", description="ZeroMQ PUB endpoint the verdicts are published on (tcp://HOST:* picks a free port)."
    )
    heartbeat_ms: int = Field(250, ge=10, le=60000, description="Heartbeat interval.")
    deadline_ms: int = Field(500, ge=1, le=600000, description="A verdict later than capture + this is published as a reject (late).")
    linger_ms: int = Field(1000, ge=0, le=60000, description="Bound on flushing the socket at shutdown.")
    sndhwm: int = Field(10000, ge=1, le=10_000_000, description="Messages queued per subscriber before ZeroMQ drops.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not _ENDPOINT.match(v):
            raise ValueError(f"{v!r} is not a ZeroMQ endpoint (tcp://HOST:PORT, ipc://PATH or inproc://NAME)")
        port = v.rsplit(":", 1)[1]
        if v.startswith("tcp://") and port != "*" and not 0 < int(port) < 65536:
            raise ValueError(f"{v!r}: port out of range")
        return v


class MetricsSection(_Model):
    enabled: bool = Field(True, description="Serve /metrics while a pipeline runs.")
    host: str = Field("127.0.0.1", min_length=1, description="Address the metrics HTTP server binds.")
    port: int = Field(9108, ge=0, le=65535, description="Port of the metrics HTTP server (0: any free port).")


class PipelineSection(_Model):
    queue_size: int = Field(16, ge=1, le=4096, description="Items held between the stages after capture.")


class ShutdownSection(_Model):
    timeout_s: float = Field(10.0, gt=0, le=300, description="Bound on the drain after SIGTERM.")


class LoggingSection(_Model):
    level: str = Field("info", pattern="^(debug|info|warning|error)$", description="Log level.")
    format: str = Field("auto", pattern="^(auto|json|console)$", description="auto: console on a terminal, JSON lines otherwise.")


class Config(_Model):
    station: StationSection = StationSection()
    camera: CameraSection = CameraSection()
    trigger: TriggerSection = TriggerSection()
    model: ModelSection = ModelSection()
    publisher: PublisherSection = PublisherSection()
    metrics: MetricsSection = MetricsSection()
    pipeline: PipelineSection = PipelineSection()
    shutdown: ShutdownSection = ShutdownSection()
    logging: LoggingSection = LoggingSection()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("", f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError("", f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("", f"{path}: the top level must be a mapping of sections")
    return data


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``dotted.key=yaml_value`` override in place."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError("", f"--set {assignment!r}: expected KEY=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(key, f"--set value {raw!r} is not valid YAML") from None
    node = data
    parts = key.strip().split(".")
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(key, f"{p} is not a section")
        node = child
    node[parts[-1]] = value


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load, override and validate; every problem is a ConfigError naming its key path."""
    path = path or DEFAULT_CONFIG
    data = _read_yaml(path)
    for o in overrides or []:
        apply_override(data, o)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(key, f"{msg} (got {err.get('input')!r})" if err["type"] != "extra_forbidden" else msg) from None
    model_path = cfg.model.path if cfg.model.path.is_absolute() else (path.parent / cfg.model.path).resolve()
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": model_path})})
