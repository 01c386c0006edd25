"""The parts teaching keeps and refuses, and whether they can teach a line at all (``station/teach/parts.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from station.locate import Circle
from station.messages import Cause
from station.preprocess import Quality
from station.teach.parts import MISSED, Collection, Refused, Sample, footage_part, footage_row, from_footage


def _collection(good: int, defective: int, refused: list[str]) -> Collection:
    image = np.zeros((8, 8), np.uint8)
    parts = [Sample(image, Circle(4, 4, 3), int(k >= good), f"part{k}") for k in range(good + defective)]
    return Collection(samples=parts, refused=[Refused(f"gone{k}", 0, why, why) for k, why in enumerate(refused)])


def test_a_line_with_too_few_parts_of_a_class_cannot_be_taught() -> None:
    assert _collection(12, 12, []).unteachable() == []
    (few,) = _collection(12, 11, []).unteachable()
    assert "too few inspectable parts (12 good, 11 defective)" in few


def test_a_line_with_many_parts_it_cannot_inspect_is_a_framing_problem_named_by_its_commonest_reason() -> None:
    assert _collection(40, 40, ["cut_off"] * 20).unteachable() == []  # 20 %: allowed
    (framing,) = _collection(40, 40, ["cut_off"] * 15 + ["blurred"] * 6).unteachable()
    assert "21 of the 101 parts (20.8%, allowed 20%)" in framing and "most of them (15) cut_off" in framing
    assert "a framing or light problem" in framing and "trigger.direction" not in framing
    files = _collection(40, 40, [])
    files.refused += [Refused(f"torn{k}.jpg", 0, "not a decodable image", Cause.UNREADABLE, unreadable=True) for k in range(21)]
    (unreadable,) = files.unteachable()
    assert "most of them (21) unreadable: a file problem, not a model one" in unreadable and "framing" not in unreadable
    (missed,) = _collection(40, 40, [MISSED] * 30).unteachable()
    assert "(30) missed by the trigger" in missed and "trigger.direction" in missed


def test_a_defective_footage_part_the_trigger_missed_refuses_the_line_unless_the_gate_lets_that_many_pass() -> None:
    col = _collection(40, 40, [])  # photos
    col.videos[b"v"] = ("line.mp4", [])
    col.samples += [Sample(np.zeros((8, 8), np.uint8), Circle(4, 4, 3), 1, f"line.mp4#part{k}@frame{9 * k}") for k in range(19)]
    col.refused += [Refused("line.mp4#row3", 0, MISSED, MISSED), Refused("line.mp4#part30@frame270", 1, "cut_off", Quality.CUT_OFF)]
    assert col.unteachable() == [], "a good part missed: noted in the report, no escape"
    col.refused.append(Refused("line.mp4#row9", 1, MISSED, MISSED))
    (missed,) = col.unteachable()
    assert "1 of the footage's 21 defective parts got no verdict" in missed, "the photos' 40 do not count"
    assert "passes whatever the model" in missed
    assert col.unteachable(max_escape_rate=0.05) == [], "1 of 21 (4.8 %) is within a gate of 5 %"
    assert col.unteachable(max_escape_rate=0.04) != []


def test_parts_refused_for_one_reason_count_together_whatever_their_particulars() -> None:
    col = _collection(20, 20, ["blurred"] * 5)
    large = [f"part {300 + k} px across, larger than trigger.max_diameter_px (280): outside the size envelope" for k in range(6)]
    col.refused += [Refused(f"v.mp4#part{k}@frame{k}", 0, why, Cause.TOO_LARGE) for k, why in enumerate(large)]
    (framing,) = col.unteachable()
    assert "most of them (6) too_large:" in framing, "six sizes, one reason"


def test_footage_parts_the_trigger_missed_are_counted_apart_from_parts_it_could_not_inspect() -> None:
    col = _collection(0, 0, ["blurred", MISSED, "cut_off"])
    col.refused.append(Refused("v.mp4#row9", 1, MISSED, MISSED))
    assert col.refused_by_label() == (2, 0) and col.refused_by_label(missed=True) == (1, 1)


def test_a_footage_parts_origin_is_told_from_a_photos_whatever_the_names() -> None:
    video = Path("/lines/a#part3@frame9.mp4")  # a name that looks like an origin inside
    assert from_footage(footage_part(video, 12, 340)) and from_footage(footage_row(video, 4))
    assert not from_footage(str(video)) and not from_footage("/photos/ok_front/cast_ok_0_1.jpeg")
