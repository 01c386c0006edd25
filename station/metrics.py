"""Prometheus metrics for the whole pipeline, on an injectable registry.

Each stage receives this object and updates the series that measure it. Every labelled series
that is known in advance is created at zero, so dashboards see it from the first scrape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from station.httpserve import refused_counter
from station.log import lines_dropped
from station.messages import Cause, Disposition, DropReason, Reason, ReloadResult, ResendResult, ShadowSkip, StageName, StationState
from station.preprocess import Quality

if TYPE_CHECKING:
    from station.model import ModelInfo

_MS_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
# the stages with a bounded queue in front (the trigger's holds the camera's frames), and those whose handling of one part may raise
QUEUED = tuple(s for s in StageName if s is not StageName.CAPTURE)
# an exception in their handling rejects the parts concerned (station_part_errors_total)
PART_HANDLERS = (StageName.TRIGGER, StageName.PREPROCESS, StageName.INFERENCE, StageName.DECISION, StageName.SHADOW)
DISAGREEMENTS = tuple((a, b) for a in Disposition for b in Disposition if a != b)  # (active, shadow) when they differ
UNABLE_CAUSES = (*Cause, *(q for q in Quality if q is not Quality.OK))  # why a part could not be inspected: the trigger's, preprocess's


class _LogLinesDropped(Collector):
    """The log lines this process dropped (station/log.py: a reader that made no room for them)."""

    def collect(self) -> Iterable[CounterMetricFamily]:
        yield CounterMetricFamily(
            "station_log_lines_dropped", "Log lines dropped: the log's reader made no room for them.", value=lines_dropped()
        )


def _buckets(deadline_s: float) -> tuple[float, ...]:
    return tuple(sorted(set(_MS_BUCKETS) | {deadline_s}))


class Metrics:
    """All station series. Pass a fresh registry in tests."""

    def __init__(self, registry: CollectorRegistry | None = None, deadline_s: float = 0.5) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        r.register(_LogLinesDropped())
        self.frames = Counter("station_frames", "Frames grabbed from the source.", registry=r)
        self.frames_dropped = Counter("station_frames_dropped", "Frames dropped, by reason.", ["reason"], registry=r)
        self.parts = Counter("station_parts", "Parts with a verdict, by verdict and reason.", ["verdict", "reason"], registry=r)
        self.parts_unable = Counter(
            "station_parts_unable", "Parts decided unable_to_inspect, by cause (one then published late too).", ["cause"], registry=r
        )
        self.inference_seconds = Histogram(
            "station_inference_seconds", "Model run time per part.", buckets=_buckets(deadline_s), registry=r
        )
        self.latency_seconds = Histogram(
            "station_latency_seconds", "Capture to publish, per part.", buckets=_buckets(deadline_s), registry=r
        )
        self.stage_seconds = Histogram(
            "station_stage_seconds", "Handling time per item, by stage.", ["stage"], buckets=_buckets(deadline_s), registry=r
        )
        self.score = Histogram("station_score", "Defect score of inspected parts.", buckets=tuple(i / 20 for i in range(1, 21)), registry=r)
        self.camera_connected = Gauge("station_camera_connected", "1 while the camera delivers frames.", registry=r)
        self.camera_reconnects = Counter("station_camera_reconnects", "Camera reconnects.", registry=r)
        self.parts_against_direction = Counter(
            "station_parts_against_direction", "Parts the line trigger followed moving against trigger.direction.", registry=r
        )
        self.http_refused = refused_counter("station", r)
        self.queue_depth = Gauge("station_queue_depth", "Items waiting in front of each stage.", ["stage"], registry=r)
        self.brightness = Gauge("station_image_brightness", "Mean grey level of the last inspected frame (0-255).", registry=r)
        self.sharpness = Gauge("station_image_sharpness", "Mean absolute Laplacian on the last inspected part.", registry=r)
        self.clipped = Gauge(
            "station_image_clipped_ratio",
            "Share of the image around the last inspected part at full white (0-1): glare hides its rim.",
            registry=r,
        )
        self._declare_runtime(r, deadline_s)
        self._declare_archive(r)
        self._declare_shadow(r)
        self._preset_labels()
        self.set_state(StationState.STARTING)

    def _declare_runtime(self, r: CollectorRegistry, deadline_s: float) -> None:
        """The model, the build, the publisher, resend and the station's state."""
        self.model_info = Info("station_model", "The model in use.", registry=r)
        self.build_info = Info("station_build", "Station software build.", registry=r)
        self.last_verdict = Gauge("station_last_verdict_timestamp_seconds", "Unix time of the last published verdict.", registry=r)
        self.resend_requests = Counter("station_resend_requests", "Resend requests answered, by result.", ["result"], registry=r)
        self.resent_messages = Counter("station_resent_messages", "Messages sent again on request.", registry=r)
        self.deadline = Gauge("station_deadline_seconds", "The verdict deadline after capture (publisher.deadline_ms).", registry=r)
        self.deadline.set(deadline_s)
        self.state = Gauge("station_state", "1 for the station's current state, 0 for the others.", ["state"], registry=r)
        self.model_reloads = Counter("station_model_reloads", "Model reloads, by result (ok, refused).", ["result"], registry=r)

    def _declare_archive(self, r: CollectorRegistry) -> None:
        """The archive, the review page and the scores and outputs that failed."""
        self.archive_writes = Counter("station_archive_writes", "Parts written to the archive, by kind.", ["kind"], registry=r)
        self.archive_dropped = Counter("station_archive_dropped", "Parts not archived because its queue was full.", registry=r)
        self.archive_errors = Counter(
            "station_archive_errors", "Archive writes or deletions that failed (disk full, read-only).", registry=r
        )
        self.archive_bytes = Gauge("station_archive_bytes", "Bytes held in the archive.", registry=r)
        self.invalid_scores = Counter(
            "station_invalid_scores", "Scores that were not a finite number in [0, 1] (each part rejected as error).", registry=r
        )
        self.output_errors = Counter(
            "station_output_errors", "Verdict lines that could not be written to --out (disk full, file gone).", registry=r
        )
        self.part_errors = Counter("station_part_errors", "Parts whose handling raised, by stage.", ["stage"], registry=r)
        self.reviewed = Counter("station_reviewed", "Labels operators gave archived parts on the review page (the label a part "
                                "has already, given again, is not counted).", registry=r)  # fmt: skip
        self.review_overruled = Counter(
            "station_review_overruled", "Operator labels that contradict the station's verdict (good on a reject, defect on a pass).",
            registry=r,
        )  # fmt: skip

    def _declare_shadow(self, r: CollectorRegistry) -> None:
        """The shadow model beside the active one."""
        self.shadow_info = Info("station_shadow_model", "The shadow model (model.shadow); id none when there is none.", registry=r)
        self.shadow_parts = Counter("station_shadow_parts", "Published verdicts that carry the shadow model's verdict.", registry=r)
        self.shadow_disagreements = Counter(
            "station_shadow_disagreements",
            "Published verdicts whose shadow verdict differs, by the pair (active, shadow).",
            ["active", "shadow"],
            registry=r,
        )
        self.shadow_skipped = Counter(
            "station_shadow_skipped", "Parts the shadow model did not judge, by why (the live verdict never waits for it).", ["cause"],
            registry=r,
        )  # fmt: skip

    def shadow_totals(self) -> dict[str, int]:
        """What the shadow model did this run: parts it judged, how many it would have judged otherwise, each skip's cause."""

        def total(name: str, **labels: str) -> int:
            return int(self.registry.get_sample_value(name, labels) or 0)

        return {
            "judged": total("station_shadow_parts_total"),
            "disagreed": sum(total("station_shadow_disagreements_total", active=a, shadow=b) for a, b in DISAGREEMENTS),
            **{f"skipped_{c.value}": total("station_shadow_skipped_total", cause=c.value) for c in ShadowSkip},
        }

    def _preset_labels(self) -> None:
        """Every known label value exists from the start, so a rate() over it never begins with a gap."""
        for drop in DropReason:
            self.frames_dropped.labels(reason=drop.value)
        for cause in ShadowSkip:
            self.shadow_skipped.labels(cause=cause.value)
        for reason in Reason:
            self.parts.labels(verdict=Disposition.of(reason).value, reason=reason.value)
        for cause in UNABLE_CAUSES:
            self.parts_unable.labels(cause=cause.value)
        for active, shadow in DISAGREEMENTS:
            self.shadow_disagreements.labels(active=active.value, shadow=shadow.value)
        self.set_shadow(None)
        for resend in ResendResult:
            self.resend_requests.labels(result=resend.value)
        for reload in ReloadResult:
            self.model_reloads.labels(result=reload.value)
        for kind in Disposition:
            self.archive_writes.labels(kind=kind.value)
        for stage in StageName:
            self.stage_seconds.labels(stage=stage.value)
        for stage in QUEUED:
            self.queue_depth.labels(stage=stage.value)
        for stage in PART_HANDLERS:
            self.part_errors.labels(stage=stage.value)

    def set_queue_depths(self, depths: Iterable[tuple[str, int]]) -> None:
        for stage, depth in depths:
            self.queue_depth.labels(stage=stage).set(depth)

    def set_model(self, info: ModelInfo) -> None:
        """The model in use (``station_model_info``)."""
        self.model_info.info(_about(info))

    def set_shadow(self, info: ModelInfo | None) -> None:
        self.shadow_info.info({"id": "none"} if info is None else _about(info))

    def set_state(self, current: StationState) -> None:
        for state in StationState:
            self.state.labels(state=state.value).set(1 if state is current else 0)


def _about(info: ModelInfo) -> dict[str, str]:
    """A model's info labels: its id and version, and the scores it passes below and rejects as defective above (its
    uncertain band between them; the model file's ``threshold`` lies inside the band and decides no verdict)."""
    return {"id": info.model_id, "version": info.version, "pass_below": str(info.band[0]), "defect_above": str(info.band[1])}
