"""The gateway's config section: tracking to the actuator, and the PLC's coils and registers."""

from __future__ import annotations

import pytest

from station.config import load_config
from station.errors import ConfigError


@pytest.mark.parametrize(("distance", "speed"), [(".inf", "100"), ("1.0e300", "1.0e-300"), ("0.001", "1000")])
def test_a_distance_and_belt_speed_that_put_the_actuator_at_no_time_or_never_are_refused(distance: str, speed: str) -> None:
    sets = ["gateway.tracking=distance", f"gateway.actuator_distance_mm={distance}", f"gateway.belt_speed_mm_s={speed}"]
    with pytest.raises(ConfigError) as err:  # an infinite delay decided no part until the gateway stopped
        load_config(None, sets)
    assert err.value.key == "gateway.actuator_distance_mm"


@pytest.mark.parametrize("sets", [["gateway.actuator_delay_ms=1500", "gateway.margin_ms=2000"],
                                  ["gateway.tracking=distance", "gateway.actuator_distance_mm=600", "gateway.belt_speed_mm_s=1000",
                                   "gateway.margin_ms=600"]])  # fmt: skip
def test_a_margin_that_leaves_no_time_before_the_actuator_is_refused_naming_it(sets: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"is not under the (1500|600) ms from capture to the actuator") as err:
        load_config(None, sets)  # a gateway so set started, with a warning, and rejected every part as late
    assert err.value.key == "gateway.margin_ms"
    assert load_config(None, [*sets[:-1], "gateway.margin_ms=20"]).gateway.margin_ms == 20


def test_gateway_tracking_by_distance_over_belt_speed() -> None:
    g = load_config(None, ["gateway.tracking=distance", "gateway.actuator_distance_mm=900", "gateway.belt_speed_mm_s=600"]).gateway
    assert g.actuator_delay_s() == 1.5
    assert load_config(None, ["gateway.actuator_delay_ms=700"]).gateway.actuator_delay_s() == 0.7
    with pytest.raises(ConfigError) as err:
        load_config(None, ["gateway.tracking=distance", "gateway.actuator_distance_mm=900"])
    assert err.value.key == "gateway.belt_speed_mm_s" and "tracking: distance needs" in str(err.value)  # the key missing, not the section


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (["gateway.modbus.healthy_coil=0"], "gateway.modbus.healthy_coil"),  # the reject coil's: a reject would read as health
        (["gateway.modbus.event_register=1"], "gateway.modbus.event_register"),  # the alive register's
    ],
)
def test_two_keys_on_one_coil_or_register_are_refused_naming_the_second(sets: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, sets)
    assert err.value.key == key


@pytest.mark.parametrize("block", ["0", "65533"])
def test_a_decision_block_over_the_registers_it_replaces_or_past_the_last_is_refused_naming_it(block: str) -> None:
    """At 0, over the default part, alive and event registers, a PLC still programmed for them read the block's part id as
    the alive count and its event count as the event, and the reject coil was never written: every part passed."""
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"gateway.modbus.decision_block={block}"])
    assert err.value.key == "gateway.modbus.decision_block"


def test_a_decision_block_writes_four_registers_and_no_reject_coil() -> None:
    m = load_config(None, ["gateway.modbus.decision_block=10"]).gateway.modbus
    assert m.used() == {"coil": {"healthy_coil": [1]}, "register": {"decision_block": [10, 11, 12, 13]}}
    assert (m.event_address(), m.alive_address()) == (12, 13)


@pytest.mark.parametrize("host", ["192.168.0.10", "fe80::1", "plc-1.line2", "plc_1", "PLC1."])
def test_a_plc_host_is_an_address_or_a_host_name(host: str) -> None:
    assert load_config(None, [f"gateway.modbus.host={host}"]).gateway.modbus.host == host


@pytest.mark.parametrize("host", ["a b", "tcp://plc", '"plc\\0x"', "-plc", "plc..line", "x" * 64])
def test_a_plc_host_that_is_neither_is_refused_naming_the_key(host: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"gateway.modbus.host={host}"])
    assert err.value.key == "gateway.modbus.host" and "not an IP address or a host name" in str(err.value)


@pytest.mark.parametrize("endpoint", ["tcp://*:5556", "tcp://0.0.0.0:5556", "tcp://[::]:5556", "tcp://127.0.0.1:*", "inproc://station"])
def test_a_station_endpoint_that_only_binds_is_refused_naming_the_key(endpoint: str) -> None:
    for key in ("gateway.station_endpoint", "gateway.resend_endpoint"):
        with pytest.raises(ConfigError) as err:
            load_config(None, [f"{key}={endpoint}"])
        assert err.value.key == key and "cannot be connected to" in str(err.value)


def test_a_station_port_chosen_at_its_start_is_refused_for_the_gateway_naming_the_key() -> None:
    from station.gateway.service import station_endpoints

    assert station_endpoints(load_config(None, ["publisher.endpoint=tcp://*:5556"]))[0] == "tcp://127.0.0.1:5556"
    with pytest.raises(ConfigError) as err:
        station_endpoints(load_config(None, ["publisher.endpoint=tcp://127.0.0.1:*"]))
    assert err.value.key == "gateway.station_endpoint" and "on a port it chooses at start" in str(err.value)
    with pytest.raises(ConfigError) as err:
        station_endpoints(load_config(None, ["publisher.resend_endpoint=tcp://127.0.0.1:*"]))
    assert err.value.key == "gateway.resend_endpoint"


@pytest.mark.parametrize(("publisher_key", "key"), [("publisher.endpoint", "gateway.station_endpoint"),
                                                    ("publisher.resend_endpoint", "gateway.resend_endpoint")])  # fmt: skip
def test_a_station_endpoint_the_gateway_would_take_from_an_inproc_bind_is_refused_naming_the_gateways_key(publisher_key: str,
                                                                                                          key: str) -> None:  # fmt: skip
    """Not given, the gateway's endpoint is the station's bind: inproc reaches only the station's process (it heard nothing)."""
    from station.gateway.service import station_endpoints

    with pytest.raises(ConfigError, match="reaches only the station's own process") as err:
        station_endpoints(load_config(None, [f"{publisher_key}=inproc://verdicts"]))
    assert err.value.key == key


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "255.255.255.255", "224.0.0.1", '"::"', "ff02::1", '"::ffff:0.0.0.0"', '"::ffff:255.255.255.255"', '"::ffff:224.0.0.1"'],
)
def test_a_plc_host_that_is_no_one_devices_address_is_refused_naming_the_key(host: str) -> None:
    """Unspecified, broadcast or multicast, also as an IPv4-mapped IPv6 address: accepted before 2026-12-07 (the mapped
    ones after the plain ones were refused), and no PLC was ever reached there, or whatever listened on this machine."""
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"gateway.modbus.host={host}"])
    assert err.value.key == "gateway.modbus.host" and "is no one device's address" in str(err.value)


@pytest.mark.parametrize(("host", "address"), [("0x0", "0.0.0.0"), ("0x7f000001", "127.0.0.1"), ("0x7f.1", "127.0.0.1")])
def test_a_host_name_the_resolver_reads_as_a_number_is_refused_as_the_address_it_is(host: str, address: str) -> None:
    """'0x0' passed as a host name, and the resolver made it 0.0.0.0: the address checks never saw it (before 2026-12-07)."""
    with pytest.raises(ConfigError) as err:
        load_config(None, [f'gateway.modbus.host="{host}"'])  # quoted: YAML would take 0x0 for a number itself
    assert err.value.key == "gateway.modbus.host" and f"is read as the IPv4 address {address}" in str(err.value)
    assert load_config(None, ["gateway.modbus.host=plc-1"]).gateway.modbus.host == "plc-1"


def test_an_actuator_window_two_parts_held_hold_ms_each_would_overrun_is_refused_naming_it() -> None:
    sets = ["gateway.output=modbus", "gateway.modbus.hold_ms=20"]
    assert load_config(None, [*sets, "gateway.actuator_window_ms=40"]).gateway.actuator_window_ms == 40
    with pytest.raises(ConfigError) as err:
        load_config(None, [*sets, "gateway.actuator_window_ms=39"])
    assert err.value.key == "gateway.actuator_window_ms" and "under twice gateway.modbus.hold_ms" in str(err.value)
    assert load_config(None, ["gateway.actuator_window_ms=39"]).gateway.actuator_window_ms == 39  # a log: no PLC to hold
    assert load_config(None, ["gateway.output=modbus", "gateway.modbus.hold_ms=50"]).gateway.modbus.hold_ms == 50  # the most, as before
