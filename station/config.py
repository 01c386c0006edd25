"""Typed, validated configuration: declared once, every field constrained and described.

Relative paths in a config file are resolved against that file's own folder.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from station.config_base import Contradiction, Section
from station.config_gateway import GatewaySection
from station.endpoints import check_endpoint, check_host, same_interface, same_socket, tcp_address, without_password
from station.errors import ConfigError
from station.log import LogFormat, LogLevel
from station.model import Threads
from station.settings_file import apply_override, paths_in, read_mapping, resolve_paths
from station.source_kind import LIVE, NETWORK, USB, SourceKind, host_of, source_kind
from station.wire import shown

DEFAULTS = Path(__file__).resolve().parent / "defaults"  # package data: in the wheel as in the source tree
DEFAULT_CONFIG = DEFAULTS / "station.yaml"
SHIPPED_MODEL = DEFAULTS / "defect.onnx"


class TriggerMode(StrEnum):
    AUTO = "auto"
    FRAME = "frame"
    LINE = "line"


class Direction(StrEnum):
    LEFT_TO_RIGHT = "left_to_right"
    RIGHT_TO_LEFT = "right_to_left"


class StationSection(Section):
    id: str = Field("station-1", min_length=1, max_length=64, description="Station id, sent with every verdict.")

    @field_validator("id")
    @classmethod
    def _printable(cls, v: str) -> str:
        if not v.isprintable():  # it is quoted in every log line, the live page and the PLC gateway's
            raise ValueError("a station id is printable characters on one line (no newline, tab or escape)")
        return v


CAMERA_SETTINGS = ("exposure_us", "gain_db", "acquisition_fps", "roi", "pixel_format")  # written to the camera (with trigger)
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # a URL (udp://, rtmp://, file:// too): never a path in the config's folder
FREE_RUN = "free_run"  # camera.trigger of a camera that takes frames at its own rate (any other value: a hardware trigger line)
TRIGGER_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # any other camera.trigger: a GenICam name (Line1, Software, Line_1)
NOT_A_LINE = ("freerun", "none", "off", "continuous", "auto")  # near misses of free_run, in letters: a hardware trigger by mistake
GIGE_OPEN_S = 8.0  # the longest a GigE camera's open is waited for (station.gige); the capture stage shows no progress meanwhile


def resolved_mode(cfg: Config, images: bool, live: bool) -> TriggerMode:
    """``trigger.mode``, with ``auto`` resolved: one part a frame for images (an image folder, one image) and for a live
    camera with a hardware trigger (``camera.trigger``); the line for a free-running camera and for a recording (footage of
    a conveyor). ``images``, ``live``: what the source is."""
    if cfg.trigger.mode is not TriggerMode.AUTO:
        return cfg.trigger.mode
    return TriggerMode.FRAME if images or (live and cfg.camera.trigger != FREE_RUN) else TriggerMode.LINE


PIXEL_FORMATS = ("Mono8", "Mono10", "Mono12", "Mono16", "BayerRG8", "BayerGR8", "BayerBG8", "BayerGB8")  # gige.to_gray's


class CameraSection(Section):
    source: str = Field(
        "usb:0", min_length=1, description="Video file, image folder, usb:N, /dev/videoN, rtsp:// or http:// URL, gige:[ID], gst:PIPELINE."
    )
    fps: float | None = Field(
        None,
        gt=0,
        le=1000,
        description="Frame rate of an image folder (replay --realtime) or a USB camera or stream (its silence is judged against "
        "it); null: the source's own, else 25. Not read for video files or GigE.",
    )
    queue_size: int = Field(8, ge=1, le=1024, description="Frames held between capture and trigger.")
    stale_after_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description="A free-running live source silent this long is reopened (with a hardware trigger only a failed read is).",
    )
    backoff_max_s: float = Field(2.0, ge=0.1, le=300, description="Cap of the exponential backoff between reconnect attempts.")
    # at least 10 ms: the decoders take whole milliseconds, and 0 ms is no timeout at all to them
    read_timeout_s: float = Field(2.0, ge=0.01, le=60, description="Bound on one blocking frame read.")
    decode_threads: int | None = Field(
        None, ge=1, le=64, description="FFmpeg decoder threads for video files and network streams (null: FFmpeg's own, one per core)."
    )
    loop: bool = Field(False, description="Play a video file again from the start when it ends (demos and soak tests).")
    exposure_us: float | None = Field(None, gt=0, description="Exposure time in microseconds (null: leave the camera's own).")
    gain_db: float | None = Field(None, ge=0, description="Analogue gain in dB (null: leave the camera's own).")
    acquisition_fps: float | None = Field(None, gt=0, le=1000, description="Frame rate asked of the camera (null: its own).")
    roi: tuple[int, int, int, int] | None = Field(None, description="Sensor region [x, y, width, height] (null: full sensor).")
    pixel_format: str | None = Field(None, min_length=1, description="GenICam pixel format, e.g. Mono8 (GigE only; null: the camera's).")
    trigger: str = Field(FREE_RUN, min_length=1, description="free_run, or the hardware trigger line that starts each frame (e.g. Line1).")

    @field_validator("source")
    @classmethod
    def _device_number(cls, v: str) -> str:
        if v.startswith(USB) and not re.fullmatch(r"(usb:|/dev/video)[0-9]{1,4}", v):
            raise ValueError("a USB camera is usb:N or /dev/videoN, N its device number (0-9999)")
        if v.startswith(NETWORK) and not host_of(v):  # rtsp:// alone was retried for ever, the station degraded
            raise ValueError("a stream's URL names its host: rtsp://HOST[:PORT]/PATH (or rtsps, http, https)")
        return v

    @field_validator("trigger")
    @classmethod
    def _trigger_line(cls, v: str) -> str:
        if v != FREE_RUN and (not TRIGGER_LINE.fullmatch(v) or re.sub("[^a-z]", "", v.lower()) in NOT_A_LINE):
            raise ValueError(f"{FREE_RUN}, or a hardware trigger line named as the camera names it (Line1, Software ...)")
        return v

    @field_validator("pixel_format")
    @classmethod
    def _decodable(cls, v: str | None) -> str | None:
        if v is not None and v not in PIXEL_FORMATS:
            raise ValueError(f"the station reads {', '.join(PIXEL_FORMATS)}")
        return v

    @field_validator("roi")
    @classmethod
    def _region(cls, v: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if v is not None and not (all(0 <= n <= 65535 for n in v) and min(v[2:]) >= 32):
            raise ValueError("must be [x, y, width, height], each 0-65535, width and height at least 32")
        return v

    @model_validator(mode="after")
    def _settings_fit_the_source(self) -> CameraSection:
        """Camera settings are written to a GigE camera, and some of them to a USB one; anywhere else they would be
        ignored without a word, so they are refused, naming the key."""
        given = [k for k in CAMERA_SETTINGS if getattr(self, k) is not None] + ["trigger"] * (self.trigger != FREE_RUN)
        src, kind = without_password(self.source), source_kind(self.source)
        if not given or kind is SourceKind.GIGE:
            return self
        if kind is SourceKind.USB:
            if self.trigger != FREE_RUN:
                raise Contradiction("camera.trigger", f"{src} is a USB camera, which has no hardware trigger line here")
            if self.pixel_format is not None:
                raise Contradiction("camera.pixel_format", f"{src}: pixel formats are set on GigE cameras only")
            if self.roi is not None and self.roi[:2] != (0, 0):
                raise Contradiction("camera.roi", f"{src}: a USB camera takes a size [0, 0, width, height], not an offset")
            return self
        stream = kind in (SourceKind.NETWORK, SourceKind.PIPELINE)
        if stream:  # a triggered camera behind a pipeline or a URL: the trigger says silence is normal and frames are parts
            given = [k for k in given if k != "trigger"]
            if not given:
                return self
        what = "a network stream or pipeline" if stream else "a recording (a video file or an image folder)"
        raise Contradiction(
            f"camera.{given[0]}",
            f"camera.source {src} is {what}: the station sets this on a GigE or USB camera only; set it on the "
            "device itself, or remove the key",
        )


class TriggerSection(Section):
    mode: TriggerMode = Field(
        TriggerMode.AUTO,
        description=(
            "frame: each frame is a part; line: track parts on a conveyor; "
            "auto: frame for folders and a hardware-triggered camera (camera.trigger), line otherwise."
        ),
    )
    direction: Direction = Field(Direction.LEFT_TO_RIGHT, description="Direction of travel along the image x axis.")
    line: float = Field(
        0.5, gt=0, lt=1, description="Trigger line as a fraction of the frame width, counted along the direction of travel."
    )
    min_diameter_px: int = Field(120, ge=16, le=4000, description="Smallest part diameter in frame pixels.")
    max_diameter_px: int = Field(560, ge=16, le=8000, description="Largest part diameter in frame pixels.")
    contrast: float = Field(22.0, gt=0, le=200, description="Grey levels away from the belt that count as part.")
    edge_margin_px: int = Field(3, ge=0, le=100, description="A blob this close to the frame edge is not entirely in view.")

    @model_validator(mode="after")
    def _envelope(self) -> TriggerSection:
        if self.min_diameter_px >= self.max_diameter_px:
            raise Contradiction(
                "trigger.min_diameter_px", f"{self.min_diameter_px} must be below trigger.max_diameter_px ({self.max_diameter_px})"
            )
        return self


class ModelSection(Section):
    path: Path = Field(
        SHIPPED_MODEL,
        description="ONNX model (default: the shipped one); input size, normalisation, classes and threshold come from its metadata.",
    )
    shadow: Path | None = Field(
        None,
        description="A candidate model that judges every part beside the active one and changes no verdict: each verdict "
        "carries what it would have published (docs/protocol.md). Promote it: model.path set to its file, shadow null, SIGHUP.",
    )
    shadow_own_cpus: bool = Field(
        True,
        description="While a shadow model runs, the active and the shadow model score on separate halves of the CPUs the "
        "station may use (the active one gets the larger), so that a part waits for the slower of the two, not their sum "
        "(Linux, two CPUs or more; the split holds the scoring threads themselves, i.e. with intra_threads 1).",
    )
    shadow_wait_ms: float = Field(
        3.0,
        gt=0,
        le=60000,
        description="The longest a decided verdict waits for its shadow's (which started with the active model's run, on "
        "its own CPUs); a shadow not ready by then is skipped for that part and counted. The shadow's cost to any verdict "
        "stays within this (docs/benchmarks.md).",
    )
    watch: bool = Field(False, description="Reload the model when its file changes (SIGHUP always reloads).")
    intra_threads: int = Field(1, ge=1, le=64, description="ONNX Runtime intra-op threads.")
    inter_threads: int = Field(1, ge=1, le=64, description="ONNX Runtime inter-op threads.")
    spin_wait: bool = Field(
        False,
        description="Let ONNX Runtime's idle pool threads spin-wait for work instead of sleeping (with more than one thread: "
        "a little less latency on an idle machine, a busy core on a shared one).",
    )

    def threads(self) -> Threads:
        """The session's thread settings, as station.model takes them."""
        return Threads(self.intra_threads, self.inter_threads, self.spin_wait)


class CurveSection(Section):
    enabled: bool = Field(False, description="Encrypt and authenticate the verdict stream and resend socket with ZeroMQ CURVE.")
    secret_key_file: Path | None = Field(None, description="The station's secret key file (made by `station keys`); required when enabled.")
    clients_dir: Path | None = Field(
        None, description="Folder of public key files of the gateways allowed to connect (null: any client that knows the station's key)."
    )


class PublisherSection(Section):
    endpoint: str = Field(
        "tcp://127.0.0.1:5556", description="ZeroMQ PUB endpoint the verdicts are published on (tcp://HOST:* picks a free port)."
    )
    heartbeat_ms: int = Field(250, ge=10, le=60000, description="Heartbeat interval.")
    deadline_ms: int = Field(500, ge=1, le=600000, description="A verdict later than capture + this is published as a reject (late).")
    linger_ms: int = Field(1000, ge=0, le=60000, description="Bound on flushing the socket at shutdown.")
    sndhwm: int = Field(10000, ge=1, le=10_000_000, description="Messages queued per subscriber before ZeroMQ drops.")
    resend_endpoint: str | None = Field(
        "tcp://127.0.0.1:5557", description="ZeroMQ ROUTER endpoint answering resend requests for missed seqs (null: no resend)."
    )
    resend_buffer: int = Field(4096, ge=16, le=1_000_000, description="Messages kept for resend; older ones are answered as gone.")
    curve: CurveSection = Field(CurveSection(), description="Optional CURVE encryption and authentication.")

    @field_validator("endpoint", "resend_endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        return None if v is None else check_endpoint(v)


class MetricsSection(Section):
    enabled: bool = Field(True, description="Serve /metrics while a pipeline runs.")
    host: str = Field("127.0.0.1", min_length=1, description="Address the metrics HTTP server binds.")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return check_host(v)

    port: int = Field(9108, ge=0, le=65535, description="Port of the HTTP server: /metrics, /healthz and the live page (0: any free port).")
    healthy_within_s: float = Field(
        5.0, gt=0, le=3600, description="/healthz is 200 only if the camera is connected and a frame arrived within this."
    )


class PipelineSection(Section):
    queue_size: int = Field(16, ge=1, le=4096, description="Items held between the stages after capture (the shadow model's queue: one).")
    stall_after_s: float = Field(
        15.0, ge=1, le=3600, description="A stage whose loop has not turned for this long is hung: the systemd watchdog stops."
    )
    opencv_threads: int | None = Field(
        None, ge=1, le=64, description="Worker threads of each OpenCV image operation (null: OpenCV's own, one per core)."
    )


class ArchiveSection(Section):
    dir: Path | None = Field(
        None, description="Folder of the reject archive (null: no archive); tools/install.sh sets /var/lib/station/archive."
    )
    full_frame: bool = Field(False, description="Also keep the whole frame of each archived part.")
    pass_sample: float = Field(0.01, ge=0, le=1, description="Share of passed parts archived too (for retraining).")
    max_bytes: int = Field(2_000_000_000, ge=1_000_000, description="Quota by size; the oldest passes go first, then the oldest rejects.")
    max_age_days: float = Field(30.0, gt=0, le=3650, description="Quota by age: anything older is deleted.")
    queue_size: int = Field(64, ge=1, le=10000, description="Parts waiting to be written; more are dropped and counted.")


class ShutdownSection(Section):
    timeout_s: float = Field(  # 1 µs was taken, and a SIGTERM then ended in exit 1 with the parts in flight unjudged
        10.0, ge=1, le=300, description="Bound on the drain after SIGTERM (at least 1 s: the parts in flight are judged)."
    )


class LoggingSection(Section):
    level: LogLevel = Field(LogLevel.INFO, description="Log level.")
    format: LogFormat = Field(LogFormat.AUTO, description="auto: console on a terminal, JSON lines otherwise.")


class ReviewSection(Section):
    token_file: Path | None = Field(
        None,
        description="File holding the review token (one word, at least 16 characters, 4 of them different). Set: the live page's "
        "/review view lets an operator label archived rejects, each request carrying the token; null: review is off. Needs "
        "archive.dir.",
    )
    recent: int = Field(60, ge=1, le=1000, description="Archived parts the review view lists, newest first.")


class Config(Section):
    station: StationSection = Field(StationSection(), description="Who this station is.")
    camera: CameraSection = Field(CameraSection(), description="Where frames come from.")
    trigger: TriggerSection = Field(TriggerSection(), description="Which frame shows which part.")
    model: ModelSection = Field(ModelSection(), description="The classifier.")
    publisher: PublisherSection = Field(PublisherSection(), description="The verdict stream (docs/protocol.md).")
    metrics: MetricsSection = Field(MetricsSection(), description="Prometheus /metrics.")
    pipeline: PipelineSection = Field(PipelineSection(), description="Queues between the stages.")
    archive: ArchiveSection = Field(ArchiveSection(), description="The reject archive.")
    review: ReviewSection = Field(ReviewSection(), description="Operators labelling archived rejects on the live page.")
    shutdown: ShutdownSection = Field(ShutdownSection(), description="How a stop drains.")
    logging: LoggingSection = Field(LoggingSection(), description="Log output.")
    gateway: GatewaySection = Field(GatewaySection(), description="The reference PLC gateway (station gateway).")

    @model_validator(mode="after")
    def _ports(self) -> Config:
        """Two of the station's own sockets on one TCP port and address can never both bind: say which key, before anything starts."""
        taken: dict[int, list[tuple[str, str]]] = {}
        pairs = [
            ("publisher.endpoint", tcp_address(self.publisher.endpoint)),
            ("publisher.resend_endpoint", tcp_address(self.publisher.resend_endpoint)),
        ]
        if self.metrics.enabled and self.metrics.port:
            pairs.append(("metrics.port", (self.metrics.host, self.metrics.port)))
        if self.gateway.metrics_port:  # on metrics.host too: one config for the station and its gateway on one PC
            pairs.append(("gateway.metrics_port", (self.metrics.host, self.gateway.metrics_port)))
        pub, resend = self.publisher.endpoint, self.publisher.resend_endpoint
        if resend is not None and same_socket(pub, resend) and pub.startswith(("ipc://", "inproc://")):  # the second bind takes it over
            raise Contradiction("publisher.resend_endpoint", f"{resend} is already publisher.endpoint's")
        for key, address in pairs:
            if address is None:
                continue
            host, port = address
            for other_key, other_host in taken.get(port, []):
                if same_interface(host, other_host):
                    raise Contradiction(key, f"port {port} is already {other_key}'s")
            taken.setdefault(port, []).append((key, host))
        return self


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load, override and validate; every problem is a ConfigError naming its key path."""
    path = path or DEFAULT_CONFIG
    data = read_mapping(path)
    if not data:  # a file cut short as it was saved (a SIGHUP then would put the shipped model on the line), or never written
        raise ConfigError("", f"{path}: holds no settings; an empty config is not the defaults (leave -c out for those)")
    given = frozenset(apply_override(data, o) for o in overrides or [])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        clash = err.get("ctx", {}).get("error")  # a cross-field check names its own full key
        if isinstance(clash, Contradiction):
            raise ConfigError(clash.key, str(clash)) from None
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        if err["type"] != "extra_forbidden":
            msg = f"{msg} (got {shown(without_password(got) if isinstance(got, str) else got)})"
        if err["type"] == "string_type" and isinstance(got, dict) and list(got.values()) == [None]:  # `gige:`: YAML for {gige: null}
            msg += f'; a value with a colon is a string only in quotes: "{next(iter(got))}:"'
        raise ConfigError(key, msg) from None
    fixed = resolve_paths(cfg, path.parent, given)  # relative paths: in the file against its folder, from --set against the cwd
    assert isinstance(fixed, Config)
    return _source_from(fixed, path.parent, given)


def _source_from(cfg: Config, folder: Path, given: frozenset[str]) -> Config:
    """A recording or image folder named by a relative path in the config file, against the file's folder as every other
    path there (it was opened against the working directory: another file of the same name); from --set, as typed."""
    src = cfg.camera.source
    if source_kind(src) in LIVE or SCHEME.match(src) or Path(src).is_absolute() or given & {"camera", "camera.source"}:
        return cfg
    return cfg.model_copy(update={"camera": cfg.camera.model_copy(update={"source": str(folder / src)})})


def read_with(config: Path | None, cfg: Config) -> list[Path]:
    """What a command that loads ``cfg`` from ``config`` reads besides its source: the config file (the packaged one when
    None), and every file and folder the config names (models, keys, the review token, the archive)."""
    return [config or DEFAULT_CONFIG, *paths_in(cfg)]
