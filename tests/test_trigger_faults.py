"""The trigger stage's guard against the line trigger raising: a fault injected once into each of the trigger's steps, on
each frame a part is judged on and the frame before, as the step begins and as it ends, leaves the verdicts a run without
it gives, numbered 1, 2, 3 ... (the frame taken as one not seen). Two reviews found a part with no verdict, a part with
two and a piece with one of its own this way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from station.config import TriggerSection
from station.messages import Frame, Part
from station.metrics import Metrics
from station.ratelog import RateLimitedLog
from station.stages.line_trigger import LineTrigger
from station.stages.trigger import TriggerStage

from .belt_frames import disc_frame, parted, unreadable

STEPS = ["_match", "_decide", "_inspect", "_of_older", "_lost_across", "_on_last_whole", "_retire", "_last_verdict", "_emit"]


def _belts() -> dict[str, list[Frame]]:
    w, h, r, v = 640, 360, 70, 16
    three = [Frame(t, disc_frame(w, h, [(s + v * t, 180, r) for s in (-r, -r - 220, -r - 470)]), 0.0, 0.0) for t in range(75)]
    return {
        "three": three,
        "three, frames not seen": unreadable(three, range(20, 23)),
        "one that comes apart": [Frame(t, parted(t, -160 + 23 * t, 150, 36), 0.0, 0.0) for t in range(44)],
    }


class _Faulty(LineTrigger):
    """A line trigger whose ``step`` raises once, on frame ``on``, as it begins (``after``: as it ends). What it knows of
    the fault is held in a list: the trigger's own attributes go back to the frame's start as it fails."""

    def __init__(self, step: str, on: int, after: bool) -> None:
        super().__init__(TriggerSection())
        self.fault = [step, on, after, False]  # ... and whether it came
        self.now = -1
        real: Callable[..., Any] = getattr(LineTrigger, step)

        def faulty(*a: Any, **k: Any) -> Any:
            fire = self.now == on and not self.fault[3]
            if fire and not after:
                self.fault[3] = True
                raise RuntimeError(f"injected into {step}")
            out = real(self, *a, **k)
            if fire:
                self.fault[3] = True
                raise RuntimeError(f"injected into {step}, after")
            return out

        setattr(self, step, faulty)

    def __call__(self, frame: Frame) -> list[Part]:
        self.now = frame.index
        return super().__call__(frame)


def _verdicts(trigger: LineTrigger, frames: list[Frame]) -> list[tuple[int, bool]]:
    stage = TriggerStage(trigger, Metrics(), RateLimitedLog())
    parts = [p for f in frames for p in stage(f)] + stage.flush()
    return [(p.part_id, p.failure is None) for p in parts]


@pytest.mark.parametrize("belt", list(_belts()))
def test_a_fault_in_any_step_of_the_trigger_leaves_the_verdicts_a_run_without_it_gives(belt: str) -> None:
    frames = _belts()[belt]
    clean = _verdicts(LineTrigger(TriggerSection()), frames)
    judged_on = {p.frame.index for p in _parts(frames)}
    came, wrong = 0, []
    for step in STEPS:
        for on in sorted({i for j in judged_on for i in (j - 1, j)}):
            for after in (False, True):
                trigger = _Faulty(step, on, after)
                got = _verdicts(trigger, frames)
                came += bool(trigger.fault[3])
                if got != clean:
                    wrong.append((step, on, after, got))
    assert clean and [n for n, _ in clean] == list(range(1, len(clean) + 1))
    assert came >= len(STEPS), "the faults came"
    assert not wrong, f"clean {clean}: {wrong[:3]}"


def _parts(frames: list[Frame]) -> list[Part]:
    trigger = LineTrigger(TriggerSection())
    return [p for f in frames for p in trigger(f)] + trigger.flush()
