"""Signals, handled from the first moment of the process.

``station`` installs these handlers before it imports anything heavy (station.entry), so a SIGHUP
or SIGTERM that arrives while the config, the model or the camera is still loading is remembered,
never fatal: a stop is honoured as soon as the pipeline could drain (it exits 0), and a reload is
carried out once the pipeline runs. Commands that run no pipeline (``classify``, ``eval`` ...) give
SIGTERM and SIGINT back their default meaning with :meth:`Signals.release`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Signals:
    """SIGTERM/SIGINT set ``stop``; SIGHUP sets ``reload``. Waited on with a timeout by the supervisor.

    The handler sets neither event itself: Python runs it in the main thread between two bytecodes, perhaps inside that
    thread's own ``Event.wait`` or ``set`` with the event's lock held, and setting it there waited for ever on that lock
    (two SIGTERMs microseconds apart hung the gateway). It writes the signal's number to a pipe, and a thread of its own
    sets the event; what the handler saw is kept at once, without a lock (``stop_seen``, ``last``).
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.last: signal.Signals | None = None
        self.stop_seen: signal.Signals | None = None  # the stop received, perhaps not yet relayed to ``stop``
        self.stopped = False  # the pipeline that ran last was stopped before its source ended (set by consume)
        self._installed = False
        self._previous: dict[signal.Signals, object] = {}
        self._pipe: tuple[int, int] | None = None
        self._relaying = threading.Lock()  # the relay's read-and-set and consume's drain-and-clear, one at a time (never
        # taken by the handler)

    def install(self) -> bool:
        """Take over the three signals; True when this call did (idempotent; only the main thread may)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return False
        if self._pipe is None:
            self._open_pipe()
            os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))
        for sig in HANDLED:
            self._previous[sig] = signal.signal(sig, self._handle)
        self._installed = True
        return True

    def _open_pipe(self) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._pipe = (read, write)
        threading.Thread(target=self._relay, args=(read,), name="signals", daemon=True).start()

    def _after_fork(self) -> None:
        """A forked child has the handlers and the pipe but not the relay thread: its signals stopped the parent. A pipe
        and a relay of its own."""
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._relaying = threading.Lock()
            self._open_pipe()

    def _relay(self, read: int) -> None:
        """Each signal the handler wrote, set as its event (the process's life long, waiting a second at a time)."""
        while True:
            if not select.select([read], [], [], 1.0)[0]:
                continue
            with self._relaying:
                try:
                    got = os.read(read, 64)
                except BlockingIOError:  # consume drained it first
                    continue
                for signum in got:
                    (self.reload if signum == signal.SIGHUP else self.stop).set()

    def uninstall(self) -> None:
        """Give the three signals back the handlers they had before :meth:`install` (a pipeline run inside another program)."""
        if not self._installed or threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._installed = False

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.last = signal.Signals(signum)
        if signum != signal.SIGHUP:
            self.stop_seen = signal.Signals(signum)
        if self._pipe is not None:
            with contextlib.suppress(BlockingIOError):  # 64 kB of signals on their way already: this one changes nothing
                os.write(self._pipe[1], bytes([signum]))

    def release(self) -> None:
        """Back to the defaults for SIGTERM and SIGINT (a one-shot command); one already received takes effect now.

        SIGHUP stays remembered and unused: a one-shot command has nothing to reload.
        """
        if not self._installed:
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if self.stop_seen is not None:
            os.kill(os.getpid(), self.stop_seen)

    def retire(self) -> None:
        """The work is done and the process is exiting: ignore the three signals from now on.

        Python puts back the default action of a signal with a Python handler while it shuts down,
        and the default action of SIGHUP kills: a SIGHUP or SIGTERM in the last few hundred
        milliseconds would turn a clean exit 0 into a death by signal. An ignored signal stays
        ignored through the shutdown.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_IGN)
        self._installed = False

    def consume(self) -> None:
        """Forget what was received (after a pipeline ran to its end in this process), but whether it was a stop."""
        with self._relaying:  # a signal on its way is taken now, not set after the clear for the next pipeline
            if self._pipe is not None:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._pipe[0], 4096):
                        pass
            self.stopped = self.stop_seen is not None or self.stop.is_set()
            self.stop.clear()
            self.reload.clear()
            self.last, self.stop_seen = None, None


def _after_fork(ref: weakref.ref[Signals]) -> None:
    if (signals := ref()) is not None:
        signals._after_fork()


SIGNALS = Signals()


class Stopped(BaseException):  # not an Exception, which a handler might catch: a stop, like KeyboardInterrupt
    """SIGTERM or SIGINT during a one-shot command that writes a file (``station teach``), raised so that its cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Stops:
    """SIGTERM and SIGINT raise :class:`Stopped`, except inside :meth:`held`: there a stop waits for the end of the block,
    and is dropped when the block said its work is done (a model file written is not a stop's to undo). Once the work is
    done, and while :meth:`uninstall` runs, every stop is dropped: the command is ending anyway."""

    def __init__(self) -> None:
        self._holding = False
        self._finished = False
        self._closing = False
        self._pending: int | None = None

    def install(self) -> None:
        self._holding, self._finished, self._closing, self._pending = False, False, False, None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        """The defaults back; ignored instead when the work was done (a stop now would only turn exit 0 into a death)."""
        self._closing = True
        signal.signal(signal.SIGTERM, signal.SIG_IGN if self._finished else signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN if self._finished else signal.default_int_handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._finished or self._closing:
            return
        if self._holding:
            self._pending = signum
            return
        raise Stopped(signum)

    @contextmanager
    def held(self) -> Iterator[Callable[[], None]]:
        """Stops wait for the block's end; calling what it yields says the work is done (stops are dropped from then on)."""
        if self._holding:
            raise RuntimeError("Stops.held does not nest")
        self._holding, self._pending = True, None

        def done() -> None:
            self._finished = True

        try:
            yield done
        finally:
            self._holding = False
            if self._pending is not None and not self._finished:
                raise Stopped(self._pending)


STOPS = Stops()
