from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from station.footage import Envelope, compose, labelled_photos, read_truth
from station.wire import Disposition, Reason, VerdictMessage

from .conftest import SAMPLE


def test_random_envelopes_stay_inside_the_spec() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        e = Envelope.random(rng)
        assert 640 <= e.width <= 1920 and 360 <= e.height <= 1080 and 25 <= e.fps <= 60
        assert 4 <= e.speed <= 40 and 180 <= e.diameter <= 440 and e.noise <= 4 and e.ring <= 0.1
        assert e.width - e.diameter * (1 + e.ring) >= 3 * e.speed  # whole in view for >= 3 frames


def test_truth_windows_match_the_frames(tmp_path: Path) -> None:
    env = Envelope(width=640, height=360, speed=20.0, diameter=200.0, codec="MJPG")
    video = compose(labelled_photos(SAMPLE)[:4], tmp_path / "v.avi", env, seed=2)
    truth = read_truth(video)
    assert [int(t["part"]) for t in truth] == [1, 2, 3, 4]
    assert {t["label"] for t in truth} <= {"ok", "def"}
    cap = cv2.VideoCapture(str(video))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (360, 640, 3)
    for t in truth:
        first, last = int(t["first_frame"]), int(t["last_frame"])
        assert first >= 0 and last - first >= 2 and last < n  # whole in view for >= 3 frames
    firsts = [int(t["first_frame"]) for t in truth]
    assert firsts == sorted(firsts)


def _passed(frame: int) -> VerdictMessage:
    return VerdictMessage(
        station="s", run_id="r", seq=frame, sent_at=0.0, part_id=frame, frame=frame, verdict=Disposition.PASS, reason=Reason.OK, score=0.01,
        captured_at=0.0, published_at=0.0,
        deadline_at=0.5, model="m", config="c", detail="d",
    )  # fmt: skip


def test_judge_counts_misses_windows_escapes_and_wrong_verdicts() -> None:
    from station.footage import judge

    truth = [
        {"label": "ok", "first_frame": "3", "last_frame": "9"},
        {"label": "def", "first_frame": "10", "last_frame": "15"},
        {"label": "def", "first_frame": "20", "last_frame": "25"},
    ]
    got = [_passed(frame=5), _passed(frame=16)]
    res = judge(truth, got)
    assert res == {"parts": 3, "verdicts": 2, "missing_or_extra": 1, "outside_window": 1, "escapes": 1, "wrong": 1, "unable": 0}


def test_a_shadow_takes_its_sector_of_a_part_down_to_the_belt_or_below_and_leaves_at_least_half_of_it_lit() -> None:
    """line-video.md: a sector of a rim may be shaded down to the belt's level or below it (``Envelope.shadow``)."""
    from station.footage import _shadow

    ang = np.linspace(-np.pi, np.pi, 720, endpoint=False).astype(np.float32)
    for seed in range(20):
        factor = _shadow(ang, 60.0, 0.3, np.random.default_rng(seed))  # the belt at 0.3 of the rim's level
        assert 0.3 * 0.7 - 1e-6 <= factor.min() <= 0.3 + 1e-6, "the rim at 0.7 to 1.0 times the belt's level"
        assert np.mean(factor > 0.99) >= 0.5 - 20 / 360, "at most 60 degrees either side, and half the soft edge"
