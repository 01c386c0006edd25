"""Start-up under attack: busy ports, clashing ports, signals that come early. Exit 2 naming the key, or a clean run."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import SAMPLE, free_port
from ..proc import STATION, one_line_error, run, sets

FOLDER = str(SAMPLE / "ok_front")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


def _pub() -> str:
    """A publisher endpoint of the test's own. Every station these tests start binds no default port (5556, 5557, 9108):
    another test's station may hold those meanwhile (the tests run in two processes)."""
    return f"publisher.endpoint=tcp://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("command", ["run", "replay"])
def test_a_metrics_port_in_use_is_exit_2_naming_it(busy_port: int, command: str) -> None:
    args = ["run", *sets(f"camera.source={FOLDER}")] if command == "run" else ["replay", FOLDER, "--no-progress"]
    one_line_error(run(*args, *sets(f"metrics.port={busy_port}", _pub(), "publisher.resend_endpoint=null")), "metrics.port", "in use")


def test_publisher_and_resend_ports_in_use_are_exit_2_naming_them(busy_port: int) -> None:
    busy = f"publisher.endpoint=tcp://127.0.0.1:{busy_port}"
    one_line_error(run("replay", FOLDER, *sets(busy, "publisher.resend_endpoint=null", "metrics.port=0")), "publisher.endpoint")
    p = run("replay", FOLDER, *sets(_pub(), f"publisher.resend_endpoint=tcp://127.0.0.1:{busy_port}", "metrics.port=0"))
    one_line_error(p, "publisher.resend_endpoint")


@pytest.mark.parametrize(
    ("assignments", "key"),
    [
        (["metrics.port=5556", "publisher.endpoint=tcp://127.0.0.1:5556"], "metrics.port"),
        (
            [
                "metrics.host=no-such-host.invalid",
                "metrics.port=0",
                "publisher.endpoint=tcp://127.0.0.1:*",
                "publisher.resend_endpoint=null",
            ],
            "metrics.host",
        ),
    ],
)
def test_clashing_ports_and_an_unusable_host_are_exit_2_naming_the_key(assignments: list[str], key: str) -> None:
    one_line_error(run("replay", FOLDER, "--no-progress", *sets(*assignments)), key)
    if key == "metrics.port":  # a contradiction in the config itself: check-config says so too
        one_line_error(run("check-config", *sets(*assignments)), key)


@pytest.mark.parametrize("delay_s", [0.1, 0.3, 0.6, 1.0, 2.0])
def test_sighup_at_any_moment_of_start_up_is_never_fatal(tmp_path: Path, delay_s: float) -> None:
    out = tmp_path / "v.jsonl"
    args = ["replay", FOLDER, "--no-progress", "--out", str(out), *sets("metrics.port=0", _pub(), "publisher.resend_endpoint=null")]
    proc = subprocess.Popen([*STATION, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(delay_s)
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert len(out.read_text().splitlines()) == 18, "every part still got its verdict"


@pytest.mark.parametrize("delay_s", [0.1, 0.5])
def test_sigterm_during_start_up_drains_and_exits_0(delay_s: float) -> None:
    args = ["run", *sets(f"camera.source={FOLDER}", "camera.fps=2", "metrics.port=0", _pub(), "publisher.resend_endpoint=null")]
    proc = subprocess.Popen([*STATION, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(delay_s)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]


def test_a_storm_of_sighups_from_start_to_exit_is_never_fatal(tmp_path: Path) -> None:
    out = tmp_path / "v.jsonl"
    args = ["replay", FOLDER, "--no-progress", "--out", str(out), *sets("metrics.port=0", _pub(), "publisher.resend_endpoint=null")]
    proc = subprocess.Popen([*STATION, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.1)
        end = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < end:
            proc.send_signal(signal.SIGHUP)  # through start-up, the run, the drain and the interpreter's own shutdown
            time.sleep(0.02)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert len(out.read_text().splitlines()) == 18
