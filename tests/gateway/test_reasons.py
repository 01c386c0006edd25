"""The gateway's reasons and faults, declared once: every station state but running is a fault, every reject reason is one."""

from __future__ import annotations

from station.gateway.reasons import REJECTS, Fault, GatewayReason
from station.wire import Reason, StationState

from ..conftest import ROOT


def test_every_station_state_but_running_and_a_state_not_yet_heard_is_a_fault() -> None:
    for state in StationState:
        if state is not StationState.RUNNING:
            assert Fault.of_station(state).value == f"station_{state.value}"
    assert Fault.of_station(StationState.RUNNING) is Fault.STATION_NOT_RUNNING  # asked of running all the same: never a crash
    assert Fault.of_station(None) is Fault.STATION_NOT_RUNNING  # no state said yet


def test_the_reasons_a_reject_may_give_are_the_station_s_but_ok_and_the_gateway_s_own() -> None:
    assert set(REJECTS) == {r.value for r in Reason if r is not Reason.OK} | {r.value for r in GatewayReason}
    assert "ok" not in REJECTS and len(REJECTS) == len(set(REJECTS))  # late is both the station's and the gateway's: once


def test_the_protocol_doc_names_every_fault_and_every_reason_of_the_gateway() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    assert [f.value for f in (*Fault, *GatewayReason) if f"`{f.value}`" not in doc] == []
