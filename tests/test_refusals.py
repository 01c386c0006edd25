"""The line trigger's refusals at the line: too large, never seen whole, cut by the frame's top or bottom."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from station.blobs import Blob
from station.config import TriggerSection
from station.messages import Frame
from station.refusals import crossed_unseen, cut_by_frame, never_whole, of_refused, seen_whole, split_off, too_large, unseen_part
from station.tracks import Track

CFG = TriggerSection(edge_margin_px=3, min_diameter_px=100, max_diameter_px=300)


def test_a_part_larger_than_the_envelope_is_too_large_unless_a_sliver_already_past_the_line() -> None:
    why = too_large(Track(0, Blob(100, 50, 450, 400), before_line=True), CFG, 640, 480)
    assert why is not None and "350 px across" in why and "trigger.max_diameter_px (300)" in why
    assert too_large(Track(0, Blob(0, 50, 350, 400), before_line=False), CFG, 640, 480) is None, "first seen past the line, cut"
    assert too_large(Track(0, Blob(100, 50, 350, 300), before_line=True), CFG, 640, 480) is None, "250 px: in the envelope"


def test_a_part_sized_blob_never_round_is_refused_and_the_pieces_in_its_box_are_covered() -> None:
    crescent = Track(0, Blob(100, 100, 300, 210), before_line=True)
    piece = Track(1, Blob(150, 200, 260, 290), before_line=True)
    why = never_whole(crescent, [crescent, piece], CFG, 640, 480)
    assert why is not None and "never seen whole (200 x 110 px" in why
    assert crescent.never_whole and piece.covered, "the piece fits with it in one part's box: no reject of its own"
    assert never_whole(piece, [crescent, piece], CFG, 640, 480) is None
    assert of_refused(Blob(110, 100, 310, 300), [crescent, piece]), "a whole view where the rejected part is"
    assert not of_refused(Blob(400, 100, 600, 300), [crescent, piece]), "a neighbour keeps its verdict"


def test_a_crescent_beside_a_part_judged_is_a_piece_of_it_not_a_part() -> None:
    whole = Track(0, Blob(120, 120, 320, 320), before_line=True, inspected=True)
    crescent = Track(1, Blob(100, 100, 300, 210), before_line=True)
    assert never_whole(crescent, [whole, crescent], CFG, 640, 480) is None and not crescent.never_whole


def test_a_part_the_frames_top_or_bottom_cuts_is_handed_on_unless_a_piece_of_one_judged() -> None:
    cut = Track(0, Blob(200, 0, 400, 150), before_line=True)
    assert cut_by_frame(cut, [cut], CFG, 640, 480)
    assert not cut_by_frame(Track(0, Blob(0, 0, 200, 150), before_line=True), [], CFG, 640, 480), "at a side: a sliver"
    assert not cut_by_frame(Track(0, Blob(200, 100, 400, 250), before_line=True), [], CFG, 640, 480), "touches no edge"
    judged = Track(1, Blob(200, 0, 400, 160), before_line=True, inspected=True)
    assert not cut_by_frame(cut, [cut, judged], CFG, 640, 480), "a piece of a part already judged"


def test_a_part_seen_whole_only_as_a_piece_of_it_counts_as_never_seen_whole() -> None:
    """Seen whole at 130 px as it came into view (a bright crescent of a dark part's rim), then 280 px across: that view
    was a piece of it, and the part is judged as one never seen whole; seen whole at 200 px, it was seen whole."""
    frame = Frame(0, np.zeros((4, 4), np.uint8), 0.0, 0.0)
    cut = Track(0, Blob(200, 200, 480, 480), before_line=True)  # touching the frame's bottom
    cut.last_full = (frame, Blob(40, 300, 170, 430), 0.0)
    assert not seen_whole(cut) and cut_by_frame(cut, [cut], CFG, 640, 480)
    dark = Track(1, Blob(200, 150, 480, 300), before_line=True)  # in view, never round
    dark.last_full = cut.last_full
    assert not seen_whole(dark) and never_whole(dark, [dark], CFG, 640, 480) is not None
    cut.last_full = dark.last_full = (frame, Blob(40, 250, 240, 450), 0.0)
    assert seen_whole(cut) and not cut_by_frame(cut, [cut], CFG, 640, 480)
    assert seen_whole(dark) and never_whole(dark, [dark], CFG, 640, 480) is None


def test_a_part_coming_into_view_is_an_unseen_part_unless_a_piece_of_one_seen_whole_then_or_too_small() -> None:
    coming = Track(0, Blob(0, 100, 150, 300), before_line=True, seen=33)
    assert unseen_part(coming, [coming], CFG)
    whole = Track(1, Blob(20, 100, 220, 300), before_line=True, seen=33)
    whole.whole_view = (33, whole.blob)
    assert not unseen_part(coming, [coming, whole], CFG), "a piece of the part seen whole on the same frame"
    whole.whole_view = (20, whole.blob)
    assert unseen_part(coming, [coming, whole], CFG), "seen whole there earlier: another part"
    assert not unseen_part(Track(2, Blob(0, 100, 60, 160), before_line=True, seen=33), [], CFG), "60 px: a piece or a sliver"
    assert not unseen_part(Track(3, Blob(0, 100, 150, 300), before_line=False, seen=33), [], CFG), "first seen past the line"


def test_a_part_coming_into_view_crossed_unseen_when_the_belt_took_it_past_the_line_unless_it_was_past_it_already() -> None:
    coming = Track(0, Blob(0, 100, 150, 300), before_line=True, seen=33)  # its centre about 50 px in view
    assert crossed_unseen(coming, [], CFG, 640, 480, (20.0, 0.0), 20) == (True, None), "50 + 400 px: past 320"
    assert crossed_unseen(coming, [], CFG, 640, 480, (20.0, 0.0), 10) == (False, None), "50 + 200 px: short of it"
    leaving = Track(1, Blob(500, 100, 640, 300), before_line=True, seen=33)
    assert crossed_unseen(leaving, [], CFG, 640, 480, (20.0, 0.0), 20) == (False, None), "it crossed in view: decided there"


def test_a_whole_part_further_than_its_speeds_error_and_half_its_size_from_where_the_belt_took_it_is_another_part() -> None:
    """Coming into view (centre about 50 px in), then 40 frames at 20 px: it must be near 850 px. A whole part at 660 px
    is the part behind, not it (the reach was a whole part's size, for a blob cut by the frame's side: the part behind,
    whole, was taken for it, and it got no verdict)."""
    coming = Track(0, Blob(0, 100, 150, 300), before_line=True, seen=33)
    behind = Track(1, Blob(560, 100, 760, 300))
    assert crossed_unseen(coming, [behind], CFG, 1280, 480, (20.0, 0.0), 40) == (True, None)
    found = Track(2, Blob(680, 100, 880, 300))  # 780 px: within a tenth of the travel and half its size
    assert crossed_unseen(coming, [found], CFG, 1280, 480, (20.0, 0.0), 40) == (False, None)


def test_a_whole_blob_first_seen_past_the_line_where_a_judged_part_has_moved_to_is_a_piece_split_off_it() -> None:
    def judged_part() -> Track:
        """A part seen whole and judged, on a piece of it now (frame 20); whole on the frame before, at 280-480."""
        o = Track(0, Blob(430, 110, 500, 210), before_line=True, inspected=True, seen=20)
        o.last_full, o.was = (Frame(9, np.zeros((1, 1), np.uint8), 0.0, 0.0), Blob(0, 100, 200, 300), 0.0), (19, Blob(280, 100, 480, 300))
        return o

    v = (20.0, 0.0)  # px a frame: the part is at 300-500 now
    judged, piece = judged_part(), Track(1, Blob(310, 110, 400, 210), seen=20)  # another quarter of it, first seen past the line
    assert split_off(piece, [judged, piece], v, 20) and piece.split, "no part of its own, nor another's found again"
    behind = Track(1, Blob(60, 100, 260, 300), seen=20)
    assert not split_off(behind, [judged, behind], v, 20), "a part where no judged part is: its own verdict"
    assert not split_off(Track(1, Blob(300, 100, 500, 300), seen=20), [judged], v, 20), "as large as the part: not a piece"
    assert not split_off(piece, [judged, piece], None, 20), "the belt's speed not known: its own verdict"
    assert not split_off(replace(piece, seen=21), [judged, piece], v, 21), "the judged part not seen on this frame"
    assert not split_off(replace(piece, seen=19), [judged, piece], v, 20), "first seen before: its own track"
    assert not split_off(replace(piece, before_line=True), [judged], v, 20), "crossed the line while watched: the line's to judge"
    for change in ({"inspected": False}, {"last_full": None}, {"was": (16, Blob(220, 100, 420, 300))}):
        other = judged_part()
        for k, value in change.items():
            setattr(other, k, value)
        assert not split_off(replace(piece), [other], v, 20), change  # no verdict yet, never whole (a blob refused), a long gap
    for change in ({"gapped": True}, {"was": (18, Blob(260, 100, 460, 300))}):  # before 2026-12-07 each made the pieces parts
        other = judged_part()
        for k, value in change.items():
            setattr(other, k, value)
        assert split_off(replace(piece), [other], v, 20), change  # matched across a frame not seen long before; one just before
