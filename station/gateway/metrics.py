"""The gateway's own Prometheus series, kept by an output that sees every decision after the PLC and the log.

It is the last of the gateway's outputs: it counts each part's decision (by decision and reason), those the PLC did not
take, and holds the "vision healthy" the PLC is told. Served on ``metrics.host:gateway.metrics_port``
(``station.httpserve``); no per-part labels.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from station.gateway.core import PartDecision


class MetricsOutput:
    """An Output (``station.gateway.outputs.Output``) that delivers nothing and counts everything."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "gateway_decisions", "Parts decided at their actuator time, by decision and reason.", ["decision", "reason"],
            registry=registry,
        )  # fmt: skip
        self.undelivered = Counter("gateway_decisions_undelivered", "Decisions the PLC did not take (vision trips).", registry=registry)
        self.healthy_state = Gauge("gateway_vision_healthy", "1 while the gateway tells the PLC that vision is healthy.", registry=registry)
        self.decisions.labels(decision="pass", reason="ok")
        self.decisions.labels(decision="reject", reason="defect")

    def part(self, d: PartDecision) -> bool:
        self.decisions.labels(decision=d.decision, reason=d.reason).inc()
        if not d.delivered:
            self.undelivered.inc()
        return True  # a count is not a delivery: it never trips vision

    def healthy(self, ok: bool, reason: str) -> None:
        self.healthy_state.set(1 if ok else 0)

    def tick(self, now: float) -> None:
        pass

    def close(self) -> None:
        self.healthy_state.set(0)
