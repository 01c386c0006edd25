"""Signals: remembered from the first moment, given back to a host program, ignored while the process exits."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from station.signals import Signals, Stopped, Stops


@pytest.fixture
def installed() -> Iterator[Signals]:
    """A Signals of its own, its handlers installed for the test and given back after."""
    s = Signals()
    s.install()
    try:
        yield s
    finally:
        s.uninstall()


def test_install_remembers_uninstall_gives_back_retire_ignores() -> None:
    before = signal.getsignal(signal.SIGHUP)
    s = Signals()
    assert s.install() is True and s.install() is False
    os.kill(os.getpid(), signal.SIGHUP)
    assert s.reload.wait(5) and not s.stop.is_set() and s.last is signal.SIGHUP
    s.uninstall()
    assert signal.getsignal(signal.SIGHUP) == before
    s.install()
    s.retire()
    try:
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        assert s.install() is True, "a retired instance can take over again"
    finally:
        s.uninstall()
        signal.signal(signal.SIGHUP, before)


@pytest.mark.timeout(20)  # without its fix it hangs: failed here, not at the suite's bound
def test_a_signal_while_the_main_thread_holds_the_events_lock_still_stops_and_never_hangs(installed: Signals) -> None:
    """The handler runs in the main thread between two bytecodes, perhaps inside its ``stop.wait`` with the event's lock
    held (the supervisor and the gateway wait on it a tenth of a second at a time): setting the event in the handler
    waited for ever on that lock, and two SIGTERMs microseconds apart hung the gateway."""
    s = installed
    with s.stop._cond:  # type: ignore[attr-defined]  # as Event.wait holds it for a few bytecodes every turn
        signal.raise_signal(signal.SIGTERM)  # the handler runs here, in this thread, the lock held
        assert s.stop_seen is signal.SIGTERM
    assert s.stop.wait(5) and s.last is signal.SIGTERM


def test_a_signal_on_its_way_when_a_run_is_consumed_never_reaches_the_next_run(installed: Signals) -> None:
    """The relay set the event after consume cleared it: a stale stop or reload in the next pipeline of the process."""
    for _ in range(20):
        signal.raise_signal(signal.SIGHUP)
        installed.consume()
        assert not installed.reload.wait(0.05)


def test_a_forked_childs_signals_are_its_own(installed: Signals) -> None:
    """The child had the handler and the pipe but not the relay: its SIGTERM stopped the parent, and never itself."""
    pid = os.fork()
    if pid == 0:  # the child
        signal.raise_signal(signal.SIGTERM)
        os._exit(0 if installed.stop.wait(5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child's own stop was never set"
    assert not installed.stop.wait(0.5), "the child's SIGTERM stopped the parent"


def test_a_stop_raises_at_once_waits_inside_held_and_is_dropped_once_the_work_is_done() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    stops = Stops()
    stops.install()
    try:
        with pytest.raises(Stopped) as stopped:
            signal.raise_signal(signal.SIGTERM)
        assert stopped.value.signum == signal.SIGTERM
        with pytest.raises(Stopped), stops.held():  # held: the stop comes at the block's end, nothing in it is cut short
            signal.raise_signal(signal.SIGINT)
            reached = sum(range(1000))
        assert reached == 499500
        with pytest.raises(RuntimeError, match="does not nest"), stops.held(), stops.held():
            pass
        stops.uninstall()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and signal.getsignal(signal.SIGINT) == signal.default_int_handler
        stops.install()
        with stops.held() as done:  # the work was done: the stop is dropped, and so is any later one
            signal.raise_signal(signal.SIGTERM)
            done()
        signal.raise_signal(signal.SIGINT)
        stops.uninstall()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN, "a stop now would only turn exit 0 into a death"
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_stop_during_station_teachs_imports_comes_after_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM while PyTorch is being imported must not cut the import short (a half-initialised extension at exit)."""
    import argparse
    import builtins

    from station import cli

    real, seen = builtins.__import__, list[str]()

    def importing(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "torch" and not seen:
            seen.append("started")
            signal.raise_signal(signal.SIGTERM)  # the handler runs at the next bytecode: inside the import
            module = real(name, *args, **kwargs)
            seen.append("finished")
            return module
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", importing)
    assert cli.cmd_teach(argparse.Namespace(config=None, overrides=[])) == 128 + signal.SIGTERM
    assert seen == ["started", "finished"]
