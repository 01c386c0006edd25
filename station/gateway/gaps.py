"""The stretches of seqs a run skipped, asked for again by resend, until each is filled or given up (I/O-free)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_GAP = 100_000  # seqs all open gaps together may ask for again; a jump past that is lost without asking
MAX_GAPS = 256  # seq gaps open at once; more within one resend timeout is not a stream to mend by resend: lost at once


@dataclass
class _Gap:
    seqs: set[int]
    asked_at: float


class Gaps:
    """Open gaps, oldest first; a gap closes when its last seq is filled. Falsy when none is open."""

    def __init__(self) -> None:
        self._open: list[_Gap] = []

    def __len__(self) -> int:
        return len(self._open)

    def missing(self) -> int:
        """Seqs asked for and not yet heard, all gaps together."""
        return sum(len(g.seqs) for g in self._open)

    def open(self, first: int, last: int, now: float) -> None:
        """Seqs ``first``..``last`` were skipped, and are asked for at ``now``."""
        self._open.append(_Gap(set(range(first, last + 1)), now))

    def fill(self, seq: int) -> bool:
        """``seq`` heard: True if a gap was waiting for it (then it is no longer missing)."""
        for g in self._open:
            if seq in g.seqs:
                g.seqs.discard(seq)
                self._open = [x for x in self._open if x.seqs]
                return True
        return False

    def any_within(self, first: int, last: int) -> bool:
        """A seq still missing lies in ``first``..``last`` (a resend reply says those are gone)."""
        return any(first <= q <= last for g in self._open for q in g.seqs)

    def overdue(self, now: float, timeout_s: float) -> bool:
        """A gap was asked for more than ``timeout_s`` ago and is still open."""
        return any(now - g.asked_at > timeout_s for g in self._open)

    def shift(self, step: float) -> None:
        """The clock the asking times were read by jumped by ``step`` s: they move with it."""
        for g in self._open:
            g.asked_at += step

    def clear(self) -> None:
        self._open.clear()


BELOW = 3  # new live messages in a row under seqs a jump went past that show the stream goes on below it


@dataclass
class Skipped:
    """The seqs the newest jump of the live stream went past (``first`` to ``end`` - 1), and the new messages heard under
    them since. The live stream is ordered, so ``BELOW`` of them in a row, each after the one before, show the jump was a
    message out of this stream (forged, or another publisher's) and the stream goes on below it; one alone is a message
    late (under a seq given up as lost: never acted on twice)."""

    first: int = 0
    end: int = 0
    last: int = -1
    count: int = 0

    def jumped(self, first: int, end: int) -> None:
        self.first, self.end, self.last, self.count = first, end, -1, 0

    def below(self, seq: int) -> bool:
        """``seq``, new and no gap's, is one more of a stream going on below the jump (and ``BELOW`` of them now)."""
        if not self.first <= seq < self.end:
            return False
        self.count = self.count + 1 if seq > self.last else 1
        self.last = seq
        return self.count >= BELOW
