"""Whether the station's clock runs behind the gateway's, told from the heartbeats heard live (I/O-free; time passed in).

A verdict captured in the gateway's future says the station's clock is ahead (the core checks each one against
``CLOCK_AHEAD_S``). A clock behind shows the other way: every heartbeat is read long after it says it was sent, and so
each part would be fired that much early. One heartbeat read late is no fault (the gateway's loop was held up and read a
burst); every heartbeat over a span of at least ``CLOCK_BEHIND_S`` and ``CLOCK_BEHIND_BEATS`` beats is.
"""

from __future__ import annotations

from collections import deque

CLOCK_AHEAD_S = 0.25  # a verdict captured further in the future than this: the station's clock is not the gateway's
CLOCK_BEHIND_S = 1.5  # every heartbeat heard live for this long (3 at least) sent more than CLOCK_AHEAD_S before it was
# read: the station's clock is that far behind (each part would be fired that much early). Heartbeats read late in a
# burst after the gateway's loop was held up are no fault: the ones read before and after the burst were on time.
CLOCK_BEHIND_BEATS = 3


class HeartbeatLag:
    """The heartbeats heard live over the last span: when each was read, and how long after it was sent."""

    def __init__(self, heartbeat_s: float) -> None:
        self.span = max(CLOCK_BEHIND_S, CLOCK_BEHIND_BEATS * heartbeat_s)  # long enough for 3 beats where they come slower
        self._lags: deque[tuple[float, float]] = deque()  # (read, read - sent)

    def heard(self, now: float, sent_at: float) -> None:
        """A heartbeat read live at ``now`` (a resent one was sent long before: never given here)."""
        self._lags.append((now, now - sent_at))
        while len(self._lags) > 1 and self._lags[1][0] <= now - self.span:  # the one just older than the span stays
            self._lags.popleft()

    def clear(self) -> None:
        """Forget every heartbeat heard: a new run, or a step of the gateway's clock they were read against."""
        self._lags.clear()

    def known(self, now: float) -> bool:
        """Heartbeats heard live over the whole span (3 at least): enough to tell whether the station's clock is behind.
        Not yet after a new run, a step of the gateway's clock or a silence: vision is not healthy before it is known."""
        lags = self._lags
        return bool(lags) and lags[0][0] <= now - self.span and len(lags) >= CLOCK_BEHIND_BEATS

    def behind(self, now: float) -> bool:
        """Every heartbeat heard over the last span (3 at least) was read more than CLOCK_AHEAD_S after it was sent."""
        lags = self._lags
        spans = bool(lags) and lags[0][0] <= now - self.span and lags[-1][0] > now - self.span
        return spans and len(lags) >= CLOCK_BEHIND_BEATS and min(lag for _, lag in lags) > CLOCK_AHEAD_S
