"""The one lifecycle of every stage: a named thread between bounded queues, its failure kept, the end marker forwarded."""

from __future__ import annotations

import queue
import threading
import time

import structlog.testing

from station.messages import END
from station.stages.base import Stage, Worker, put_bounded

from .conftest import wait_for


def _all(q: queue.Queue[object], timeout: float = 5.0) -> list[object]:
    """What ``q`` holds up to and with END (AssertionError if END does not come within ``timeout``)."""
    out: list[object] = []
    while not out or out[-1] is not END:
        out.append(q.get(timeout=timeout))
    return out


def test_put_bounded_waits_for_room_and_gives_up_only_once_stopped() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()
    q.put("full")
    threading.Timer(0.3, q.get).start()  # room comes later
    assert put_bounded(q, "waited", stop, poll_s=0.05) and q.get_nowait() == "waited"
    q.put("full")
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    assert not put_bounded(q, "dropped", stop, poll_s=0.05)  # no room, and stopped
    assert time.monotonic() - t0 < 5 and q.get_nowait() == "full"


def test_a_stage_handles_items_in_order_then_forwards_what_on_end_gives_and_the_end_marker() -> None:
    inbox: queue.Queue[object] = queue.Queue(maxsize=8)
    outbox: queue.Queue[object] = queue.Queue(maxsize=8)
    st: Stage[int, int] = Stage("double", inbox, outbox, lambda x: [2 * x], on_end=lambda: [99], poll_s=0.02)
    st.start()
    for x in (1, 2, 3, END):
        inbox.put(x)
    assert _all(outbox) == [2, 4, 6, 99, END]
    st.join(5)
    assert not st.is_alive() and st.failed is None and len(st.durations) == 3


def test_a_stage_whose_handler_raises_is_failed_logged_and_still_hands_on_the_end_marker() -> None:
    """The stages after it finish the parts already past it; a drain need not wait out its bound for an end never coming."""
    inbox: queue.Queue[object] = queue.Queue(maxsize=8)
    outbox: queue.Queue[object] = queue.Queue(maxsize=8)

    def handle(x: int) -> list[int]:
        if x == 2:
            raise RuntimeError("a bug")
        return [x]

    with structlog.testing.capture_logs() as logs:
        st: Stage[int, int] = Stage("broken", inbox, outbox, handle, poll_s=0.02)
        st.start()
        for x in (1, 2, 3):
            inbox.put(x)
        assert _all(outbox) == [1, END]
        st.join(5)
    assert isinstance(st.failed, RuntimeError) and not st.is_alive()
    assert [(e["event"], e["stage"], e["error"]) for e in logs] == [("stage_failed", "broken", "RuntimeError: a bug")]


def test_an_abort_ends_a_stage_waiting_on_an_empty_inbox_and_a_worker_never_started_joins_at_once() -> None:
    inbox: queue.Queue[object] = queue.Queue(maxsize=8)
    idle = threading.Event()
    st: Stage[int, int] = Stage("idle", inbox, None, lambda x: [x], on_idle=idle.set, poll_s=0.02)
    st.start()
    assert wait_for(idle.is_set, 5), "on_idle runs while the inbox is empty"
    st.abort()
    st.join(5)
    assert not st.is_alive() and st.failed is None
    never = Worker("never")
    t0 = time.monotonic()
    never.join(5)
    assert time.monotonic() - t0 < 1 and not never.is_alive()


def test_a_workers_finish_runs_on_every_way_out() -> None:
    class Once(Worker):
        def __init__(self, fail: bool) -> None:
            super().__init__("once")
            self.fail, self.finished = fail, False

        def _run(self) -> None:
            if self.fail:
                raise ValueError("boom")

        def _finish(self) -> None:
            self.finished = True

    for fail in (False, True):
        w = Once(fail)
        w.start()
        w.join(5)
        assert w.finished and (w.failed is not None) == fail
