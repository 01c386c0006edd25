from __future__ import annotations

from prometheus_client import CollectorRegistry

from station.blobs import Blob
from station.config import Direction, TriggerSection
from station.metrics import Metrics
from station.tracks import Track
from station.travel import RUN, TravelWatch


def test_a_part_moved_less_than_half_its_size_says_nothing_of_the_direction_yet() -> None:
    watch = TravelWatch(Direction.LEFT_TO_RIGHT)
    told = [watch.moved(-99.0, 200.0), watch.moved(99.0, 200.0), watch.moved(100.0, 200.0)]
    assert told == [False, False, True], "told once it has moved far enough to tell, and then need not be told again"
    assert (watch.forwards, watch.backwards) == (1, 0)


def test_parts_moving_against_the_direction_degrade_the_station_only_after_a_run_of_them() -> None:
    metrics = Metrics(CollectorRegistry())
    watch = TravelWatch(Direction.RIGHT_TO_LEFT, metrics)
    said = []
    for _ in range(RUN):
        said.append(watch.against())
        watch.moved(-800.0, 240.0)
    why = watch.against()
    assert said == [None] * RUN, "one part backing out is not a wrong setting"
    assert why is not None and why.startswith(f"{RUN} parts in a row moved left_to_right")
    assert "trigger.direction is right_to_left" in why and "set trigger.direction: left_to_right and restart the station" in why
    assert metrics.registry.get_sample_value("station_parts_against_direction_total") == RUN


def test_it_takes_a_run_of_parts_with_the_direction_to_end_it_not_one_stray_count() -> None:
    watch = TravelWatch(Direction.LEFT_TO_RIGHT)
    for _ in range(RUN):
        watch.moved(-800.0, 240.0)
    said = []
    for _ in range(RUN):
        watch.moved(800.0, 240.0)
        said.append(watch.against() is not None)
    assert said == [True] * (RUN - 1) + [False]
    assert (watch.forwards, watch.backwards) == (RUN, RUN)


def test_mostly_against_needs_a_run_and_more_against_than_with() -> None:
    watch = TravelWatch(Direction.LEFT_TO_RIGHT)
    for _ in range(RUN - 1):
        watch.moved(-800.0, 240.0)
    assert not watch.mostly_against()
    watch.moved(-800.0, 240.0)
    assert watch.mostly_against()
    for _ in range(RUN):
        watch.moved(800.0, 240.0)
    assert not watch.mostly_against(), "as many with the direction as against it: parts backing out, not the setting"


def test_a_track_is_told_once_it_moved_half_its_size_unless_a_piece_or_followed_across_frames_not_seen() -> None:
    watch, cfg = TravelWatch(Direction.LEFT_TO_RIGHT), TriggerSection(min_diameter_px=100, max_diameter_px=300)
    part = Track(0, Blob(400, 100, 600, 300))
    part.blob = Blob(290, 100, 490, 300)  # 110 px against left_to_right: more than half its 200 px
    watch.tell(part, cfg, 1280)
    assert part.part_like and part.told and watch.backwards == 1
    piece = Track(1, Blob(400, 100, 450, 150))  # 50 px: a piece, not a part
    piece.blob = Blob(200, 100, 250, 150)
    watch.tell(piece, cfg, 1280)
    assert not piece.told and watch.backwards == 1
    gapped = Track(2, Blob(400, 100, 600, 300), gapped=True)
    gapped.blob = Blob(200, 100, 400, 300)
    watch.tell(gapped, cfg, 1280)
    assert not gapped.told and watch.backwards == 1, "its blob may have been another part's"
