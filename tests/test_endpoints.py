"""station/endpoints.py: endpoint syntax, TCP addresses, bind hosts that collide, and where a local client connects."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq

from station.endpoints import check_endpoint, ipc_in_use, local_endpoint, same_interface, same_socket, tcp_address, without_password

from .conftest import wait_for


@pytest.mark.parametrize("good", ["tcp://127.0.0.1:5556", "tcp://*:*", "tcp://[::1]:80", "ipc:///run/station.sock", "inproc://x"])
def test_a_zeromq_endpoint_is_taken_as_written(good: str) -> None:
    assert check_endpoint(good) == good


BAD = [("127.0.0.1:5556", "not a ZeroMQ endpoint"), ("tcp://host:0", "port out of range"), ("tcp://host:70000", "port out of range"),
       ("udp://host:5556", "not a ZeroMQ endpoint"),
       ("tcp://127.0.0.1:\u0665\u0665\u0665\u0666", "not a ZeroMQ endpoint")]  # fmt: skip
# the last: a port in Arabic-Indic digits, which a regular expression's \d took and ZeroMQ refused (the gateway's traceback)


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


def test_ipc_endpoints_that_name_one_file_are_one_socket() -> None:
    assert same_socket("ipc:///run/station/a", "ipc:///run/station//a") and same_socket("ipc:///run/./a", "ipc:///run/a")
    assert not same_socket("ipc:///run/a", "ipc:///run/b") and not same_socket("tcp://127.0.0.1:1", "tcp://127.0.0.1:2")


def test_an_ipc_path_another_process_listens_on_is_in_use_and_a_stale_one_is_not(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path / 'pub'}"
    assert not ipc_in_use(endpoint)  # no file
    pub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    try:
        assert ipc_in_use(endpoint) and ipc_in_use(f"ipc://{tmp_path}//pub")
    finally:
        pub.close(0)
    assert wait_for(lambda: not ipc_in_use(endpoint), 5)  # closed in libzmq's own thread; its file may stay: no one listens
    assert not ipc_in_use("tcp://127.0.0.1:5556")


def test_an_ipc_path_through_a_link_loop_or_with_a_nul_is_no_crash(tmp_path: Path) -> None:
    (tmp_path / "l1").symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(tmp_path / "l1")
    assert not same_socket(f"ipc://{tmp_path}/l1/a", f"ipc://{tmp_path}/b") and not ipc_in_use(f"ipc://{tmp_path}/l1/a")
    with pytest.raises(ValueError, match="NUL"):
        check_endpoint("ipc:///tmp/a\0b")


def test_a_camera_urls_password_is_never_shown() -> None:
    """rtsp://admin:PASSWORD@camera was in every capture log line, each reopen's error and check-config's output."""
    assert without_password("rtsp://admin:s3cr:et@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    assert without_password("rtsp://u:p@ss@h/x") == "rtsp://u:***@h/x"  # an @ the URL should have escaped
    assert without_password("gst:rtspsrc location=rtsp://u:pw@cam/1 ! decodebin") == "gst:rtspsrc location=rtsp://u:***@cam/1 ! decodebin"
    assert without_password("rtsp://cam:554/s?user=admin&password=pw&x=1") == "rtsp://cam:554/s?user=admin&password=***&x=1"
    assert without_password("rtsp://cam:554?token=a@b") == "rtsp://cam:554?token=***"  # no user: the host is kept
    pipeline = "gst:rtspsrc location=rtsp://cam/1 user-id=admin user-pw=s3cret ! decodebin"
    assert without_password(pipeline) == "gst:rtspsrc location=rtsp://cam/1 user-id=admin user-pw=*** ! decodebin"
    for kept in ("rtsp://admin@h/s", "rtsp://h:554/s", "usb:0", "/srv/line:1.mp4", "tcp://127.0.0.1:5556"):
        assert without_password(kept) == kept
