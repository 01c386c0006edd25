"""The gateway's own metrics: counted by the last output, served on a bounded HTTP server, over real HTTP."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from station.config import load_config
from station.errors import ConfigError
from station.gateway.core import GatewayCore
from station.gateway.metrics import GatewayCounts, MetricsOutput
from station.gateway.outputs import JsonLinesOutput, ModbusOutput, Outputs
from station.gateway.reasons import REJECTS, Fault, PartDecision
from station.httpserve import MetricsServer
from station.wire import Disposition

from ..conftest import free_port
from .conftest import Recorder
from .stream import FakeStation, T, healthy_core, run_to


def _decision(pid: int, decision: str, reason: str) -> PartDecision:
    return PartDecision("r", pid, Disposition(decision), reason, decision, reason, pid, 0.0, 1.0, 1.0)


class _Refusing(Recorder):
    def part(self, d: PartDecision) -> bool:
        super().part(d)
        return False


def test_decisions_are_counted_by_decision_and_reason_and_the_undelivered_apart() -> None:
    registry = CollectorRegistry()
    counted = MetricsOutput(registry)
    Outputs([Recorder(), counted]).part(_decision(1, "pass", "ok"))
    Outputs([Recorder(), counted]).part(_decision(2, "reject", "late"))
    Outputs([_Refusing(), counted]).part(_decision(3, "reject", "defect"))
    counted.healthy(True, "ok")
    value = registry.get_sample_value
    assert value("gateway_decisions_total", {"decision": "pass", "reason": "ok"}) == 1
    assert value("gateway_decisions_total", {"decision": "reject", "reason": "late"}) == 1
    assert value("gateway_decisions_total", {"decision": "reject", "reason": "defect"}) == 1
    assert value("gateway_decisions_undelivered_total") == 1  # the one the PLC did not take
    assert value("gateway_vision_healthy") == 1
    counted.close()
    assert value("gateway_vision_healthy") == 0


def test_the_core_s_and_the_outputs_counts_are_series_read_at_each_scrape() -> None:
    pytest.importorskip("pymodbus", reason="the Modbus output needs the modbus extra (pymodbus)")
    cfg = load_config(None, ["gateway.output=modbus", f"gateway.modbus.port={free_port()}", "gateway.modbus.timeout_s=1"])
    plc, log = ModbusOutput(cfg.gateway.modbus), JsonLinesOutput(Path("/dev/full"))  # nobody on the port; every write fails
    core = GatewayCore(T, "station-1")
    registry = CollectorRegistry()
    registry.register(GatewayCounts(core, [plc, log]))
    value = registry.get_sample_value
    assert [value(n) for n in ("gateway_messages_ignored_total", "gateway_plc_requests_failed_total", "gateway_plc_parts_skipped_total",
                               "gateway_out_write_failures_total", "gateway_parts_pending")] == [0, 0, 0, 0, 0]  # fmt: skip
    assert value("gateway_plc_reachable") == 1  # nothing asked of it yet
    core.ignore("not the contract")
    st = FakeStation()
    core.receive(st.beat(), 0.0)
    core.receive(st.verdict(0.1), 0.1)
    outputs = Outputs([plc, log])
    assert not outputs.part(_decision(1, "pass", "ok"))  # the PLC refused the connection: one failed request
    assert not outputs.part(_decision(2, "reject", "defect"))  # not tried until the PLC is reached again
    assert value("gateway_messages_ignored_total") == 1
    assert value("gateway_parts_pending") == 1  # the verdict heard, its part not yet at the actuator
    assert (value("gateway_plc_requests_failed_total"), value("gateway_plc_parts_skipped_total")) == (1, 1)
    assert value("gateway_plc_reachable") == 0  # vision may read healthy again once its hold ends: this says the PLC is not heard
    assert value("gateway_out_write_failures_total") == 2  # both lines, whatever the PLC did
    plc.close()
    log.close()


def test_without_a_plc_there_are_no_plc_series() -> None:
    registry = CollectorRegistry()
    registry.register(GatewayCounts(GatewayCore(T, "station-1"), [Recorder(), JsonLinesOutput(None)]))
    assert registry.get_sample_value("gateway_plc_requests_failed_total") is None
    assert registry.get_sample_value("gateway_out_write_failures_total") == 0


def test_test_rejects_are_a_gauge_of_their_n_and_0_without_them() -> None:
    """A gateway left running with ``--test-reject`` rejects good parts on purpose: the gauge lets an alert say so."""
    for every in (0, 7):
        registry = CollectorRegistry()
        registry.register(GatewayCounts(GatewayCore(T, "station-1", every), [Recorder()]))
        assert registry.get_sample_value("gateway_test_reject_every") == every


def test_every_reject_reason_is_a_series_from_the_first_scrape() -> None:
    registry = CollectorRegistry()
    MetricsOutput(registry)
    for reason in REJECTS:
        assert registry.get_sample_value("gateway_decisions_total", {"decision": "reject", "reason": reason}) == 0, reason


def test_the_fault_holding_vision_down_is_1_and_each_time_vision_went_down_is_counted_by_its_fault() -> None:
    st = FakeStation()
    core = healthy_core(st)  # heartbeats until t=1.5: healthy
    registry = CollectorRegistry()
    registry.register(GatewayCounts(core, []))

    def faults() -> dict[Fault, float | None]:
        return {f: registry.get_sample_value("gateway_vision_fault", {"fault": f.value}) for f in Fault}

    def trips() -> dict[Fault, float | None]:
        return {f: registry.get_sample_value("gateway_vision_trips_total", {"fault": f.value}) for f in Fault}

    assert core.healthy and set(faults().values()) == {0} and set(trips().values()) == {0}
    core.tick(1.5 + 3 * T.heartbeat_s + 0.01)  # the station went quiet
    assert not core.healthy
    assert {f for f, v in faults().items() if v == 1} == {Fault.NO_HEARTBEAT} and set(faults().values()) == {0, 1}
    assert trips()[Fault.NO_HEARTBEAT] == 1 and sum(v or 0 for v in trips().values()) == 1
    core.tick(3.0)  # still quiet: the same trip, not another
    assert trips()[Fault.NO_HEARTBEAT] == 1
    core.receive(st.beat(at=3.0), 3.0)  # back: healthy again an actuator delay later, its clock told (1.5 s of beats)
    core.tick(3.0)
    assert core.reason == "recovering_from_no_heartbeat" and faults()[Fault.NO_HEARTBEAT] == 1  # still what holds it down
    run_to(core, st, 3.0, 4.6)
    assert core.healthy and set(faults().values()) == {0}
    core.tick(4.6 + 3 * T.heartbeat_s + 0.01)  # quiet again: a second trip
    assert trips()[Fault.NO_HEARTBEAT] == 2


@pytest.mark.integration
def test_the_gateway_metrics_are_served_over_http_and_a_busy_port_names_its_key() -> None:
    registry = CollectorRegistry()
    MetricsOutput(registry).part(_decision(1, "pass", "ok"))
    server = MetricsServer("127.0.0.1", 0, registry, "gateway.metrics_port", "gateway")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert 'gateway_decisions_total{decision="pass",reason="ok"} 1.0' in text
        assert "gateway_http_connections_refused_total 0.0" in text
        with pytest.raises(ConfigError) as err, socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            MetricsServer("127.0.0.1", taken.getsockname()[1], CollectorRegistry(), "gateway.metrics_port", "gateway")
        assert err.value.key == "gateway.metrics_port"
        with pytest.raises(ConfigError) as err:  # an address this machine does not have: the host is wrong, not the port
            MetricsServer("192.0.2.1", 0, CollectorRegistry(), "gateway.metrics_port", "gateway")
        assert err.value.key == "metrics.host"
    finally:
        server.close()
