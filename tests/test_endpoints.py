"""station/endpoints.py: endpoint syntax, TCP addresses, bind hosts that collide, and where a local client connects."""

from __future__ import annotations

import pytest

from station.endpoints import check_endpoint, local_endpoint, same_interface, tcp_address


@pytest.mark.parametrize("good", ["tcp://127.0.0.1:5556", "tcp://*:*", "tcp://[::1]:80", "ipc:///run/station.sock", "inproc://x"])
def test_a_zeromq_endpoint_is_taken_as_written(good: str) -> None:
    assert check_endpoint(good) == good


BAD = [("127.0.0.1:5556", "not a ZeroMQ endpoint"), ("tcp://host:0", "port out of range"), ("tcp://host:70000", "port out of range"),
       ("udp://host:5556", "not a ZeroMQ endpoint")]  # fmt: skip


@pytest.mark.parametrize(("bad", "why"), BAD)
def test_anything_else_is_refused_saying_why(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_endpoint(bad)


def test_only_a_tcp_endpoint_with_a_fixed_port_has_an_address() -> None:
    assert tcp_address("tcp://[::1]:5556") == ("::1", 5556)
    assert [tcp_address(e) for e in ("tcp://*:*", "ipc:///tmp/s", None)] == [None, None, None]


def test_bind_hosts_collide_when_they_are_the_same_address_or_either_is_every_address() -> None:
    assert same_interface("localhost", "127.0.0.1") and same_interface("*", "10.0.0.5") and same_interface("10.0.0.5", "0.0.0.0")
    assert not same_interface("10.0.0.5", "127.0.0.1")


def test_a_client_on_this_machine_connects_to_a_wildcard_bind_on_loopback() -> None:
    assert local_endpoint("tcp://*:5556") == local_endpoint("tcp://0.0.0.0:5556") == "tcp://127.0.0.1:5556"
    assert local_endpoint("tcp://10.0.0.5:5556") == "tcp://10.0.0.5:5556"
