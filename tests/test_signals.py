"""Signals: remembered from the first moment, given back to a host program, ignored while the process exits."""

from __future__ import annotations

import os
import signal

from station.signals import Signals


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
