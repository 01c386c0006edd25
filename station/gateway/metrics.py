"""The gateway's own Prometheus series: decisions counted by an output that sees each one last, and the counts the core
and the outputs keep, read at each scrape.

:class:`MetricsOutput` is the last of the gateway's outputs: it counts each part's decision (by decision and reason), those
the PLC did not take, and holds the "vision healthy" the PLC is told. :class:`GatewayCounts` reads the plain counts that
the core (messages ignored, parts pending, the fault holding vision down, trips by fault) and the outputs (PLC requests
that failed, parts not sent, log lines not written) keep on the gateway's thread. Served on
``metrics.host:gateway.metrics_port`` (``station.httpserve``); no per-part labels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from station.gateway.core import GatewayCore
from station.gateway.outputs import JsonLinesOutput, ModbusOutput, Output
from station.gateway.reasons import REJECTS, Fault, PartDecision
from station.wire import Disposition, Reason


class MetricsOutput:
    """An Output (``station.gateway.outputs.Output``) that delivers nothing and counts everything."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "gateway_decisions", "Parts decided at their actuator time, by decision and reason.", ["decision", "reason"],
            registry=registry,
        )  # fmt: skip
        self.undelivered = Counter("gateway_decisions_undelivered", "Decisions the PLC did not take (vision trips).", registry=registry)
        self.healthy_state = Gauge("gateway_vision_healthy", "1 while the gateway tells the PLC that vision is healthy.", registry=registry)
        self.decisions.labels(decision=Disposition.PASS.value, reason=Reason.OK.value)
        for reason in REJECTS:  # every series from the first scrape
            self.decisions.labels(decision=Disposition.REJECT.value, reason=reason)

    def part(self, d: PartDecision) -> bool:
        self.decisions.labels(decision=d.decision, reason=d.reason).inc()
        if not d.delivered:
            self.undelivered.inc()
        return True  # a count is not a delivery: it never trips vision

    def healthy(self, ok: bool, reason: str) -> None:
        self.healthy_state.set(1 if ok else 0)

    def tick(self, now: float) -> None:
        pass

    def stopping(self, at: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.healthy_state.set(0)


class GatewayCounts(Collector):
    """The core's and the outputs' own counts, as series; a PLC's only with a Modbus output, the log's only with one.

    Read from the scrape's thread while the gateway's thread counts: each is one integer read, never a torn value."""

    def __init__(self, core: GatewayCore, outputs: Sequence[Output]) -> None:
        self._core = core
        self._plc = [o for o in outputs if isinstance(o, ModbusOutput)]
        self._log = [o for o in outputs if isinstance(o, JsonLinesOutput)]

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "gateway_messages_ignored", "Messages not acted on: not the contract, another station's, or a run that ended.",
            value=self._core.ignored,
        )  # fmt: skip
        yield GaugeMetricFamily("gateway_parts_pending", "Parts heard of and not yet at their actuator.", value=len(self._core.pending))
        yield GaugeMetricFamily(
            "gateway_test_reject_every", "N while every part whose id N divides is rejected where it would pass "
            "(station gateway --test-reject, to time the actuator); 0 otherwise.", value=self._core.test_every,
        )  # fmt: skip
        yield from self._vision()
        if self._plc:
            yield GaugeMetricFamily(
                "gateway_plc_reachable", "1 when the PLC answered the gateway's last request (the healthy coil, every alive_ms), "
                "0 when it did not: gateway_vision_healthy says what the gateway tells the PLC, this whether the PLC hears it.",
                value=int(all(o.reachable for o in self._plc)),
            )  # fmt: skip
            yield CounterMetricFamily(
                "gateway_plc_requests_failed", "Modbus requests the PLC did not answer or refused.",
                value=sum(o.failed_requests for o in self._plc),
            )  # fmt: skip
            yield CounterMetricFamily(
                "gateway_plc_parts_skipped", "Decisions not sent while the PLC was not reached (each is undelivered).",
                value=sum(o.skipped_parts for o in self._plc),
            )  # fmt: skip
        if self._log:
            yield CounterMetricFamily(
                "gateway_out_write_failures", "Decision lines that could not be written to --out (the PLC was told).",
                value=sum(o.failed_writes for o in self._log),
            )  # fmt: skip

    def _vision(self) -> Iterator[Metric]:
        """Every fault, each with 1 when it holds vision unhealthy now, and how often it took vision down."""
        core = self._core
        fault = GaugeMetricFamily("gateway_vision_fault", "1 for the fault holding vision unhealthy (present, or being recovered "
                                  "from), 0 for the others.", labels=["fault"])  # fmt: skip
        trips = CounterMetricFamily("gateway_vision_trips", "Times vision went unhealthy, by the fault that took it down.",
                                    labels=["fault"])  # fmt: skip
        holding = None if core.healthy else core.fault  # read once: the gateway's thread may trip another meanwhile
        for f in Fault:
            fault.add_metric([f.value], 1 if f is holding else 0)
            trips.add_metric([f.value], core.trips[f])
        yield fault
        yield trips
