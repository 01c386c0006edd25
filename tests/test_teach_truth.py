"""station/teach/truth.py: a video's ground truth, and which of its parts a part seen in a frame is."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.errors import InputError
from station.teach.truth import fitted_speed, read_truth, renumbered, row_for


def test_a_missed_part_does_not_shift_the_labels_of_the_parts_after_it() -> None:
    # rows A..D in order of arrival, windows overlapping (parts in view together); A never fires
    truth = [(1, 0, 30), (0, 20, 50), (0, 40, 70), (1, 60, 90)]
    used = [False] * 4
    d = 200.0

    def at(frame: int, row: int) -> float:  # where row's part is at that frame: its centre runs d/2 .. W - d/2
        a, b = truth[row][1], truth[row][2]
        return d / 2 + (frame - a) / (b - a) * (1000 - d)

    got = []
    for frame, row in ((25, 1), (45, 2), (65, 3)):
        k = row_for(frame, (at(frame, row), 200.0, d), 1000, truth, used, rtl=False)
        assert k is not None
        used[k] = True
        got.append(k)
    assert got == [1, 2, 3] and not used[0]  # A is reported missed; D keeps its defective label


def test_a_part_coming_into_view_before_its_window_is_found_by_its_leading_edge() -> None:
    """Seen 3 frames before its window (at 20 px a frame its centre is 40 px into the frame, its leading edge 140 px),
    cut by the frame's side: its blob runs from 0 to 140 px. Before, a frame outside every window matched no row."""
    truth = [(0, 0, 40), (1, 30, 70)]  # 1000 px wide, d = 200: 20 px a frame
    assert row_for(27, (70.0, 200.0, 200.0), 1000, truth, [False, False], rtl=False) == 1
    assert row_for(27, (930.0, 200.0, 200.0), 1000, truth, [False, False], rtl=True) == 1
    assert row_for(19, (70.0, 200.0, 200.0), 1000, truth, [False, False], rtl=False) is None, "11 frames early: not in view"
    assert row_for(27, (70.0, 200.0, 200.0), 1000, truth, [False, True], rtl=False) is None, "its row used: another part's"


@pytest.mark.parametrize("frame", ["7_0", "+7", " 7", "\u0667", "--1", "7.0"])
def test_a_frame_number_is_ascii_digits_only_never_read_round(tmp_path: Path, frame: str) -> None:
    """int() reads 7_0 as 70 and takes a sign, spaces and other scripts' digits: a file that is not what it seems."""
    csv = tmp_path / "line.csv"
    csv.write_text(f"part,label,first_frame,last_frame,source\n1,ok,{frame},90,a.png\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line\.csv: line 2: expected part,label\(ok\|def\),first_frame,last_frame,source"):
        read_truth(csv)
    csv.write_text("part,label,first_frame,last_frame,source\n1,ok,70,90,a.png\n", encoding="utf-8")
    assert read_truth(csv)[0] == [(0, 70, 90)]


def test_frames_lost_where_the_count_is_exact_are_refused_and_elsewhere_left_to_the_caller() -> None:
    """Teach and eval share the rule: a video of exact frame count that lost frames has its later frames renumbered."""
    with pytest.raises(InputError, match=r"line\.avi: 3 of the 90 frames it declares could not be read .*use an intact copy"):
        renumbered(Path("line.avi"), 3, 90, exact=True)
    renumbered(Path("line.mp4"), 3, 90, exact=False)  # a count that is a guess: teach notes it, eval checks the rows
    renumbered(Path("line.avi"), 0, 90, exact=True)


@pytest.mark.parametrize("row", ["1,ok,3,9,x.jpeg", "1,ok,3,9,x.jpeg,", '1,ok,3,9,"x, y.jpeg"'])
def test_a_row_of_the_headers_five_fields_is_read_a_trailing_comma_or_a_quoted_comma_too(tmp_path: Path, row: str) -> None:
    (tmp_path / "clip.csv").write_text(f"part,label,first_frame,last_frame,source\n{row}\n")
    assert read_truth(tmp_path / "clip.csv")[0] == [(0, 3, 9)]


@pytest.mark.parametrize("row", ["1,ok,3", "1,ok,3,9,x.jpeg,12", "1,ok,3,4,9,x.jpeg"])
def test_a_row_short_of_the_headers_fields_or_with_values_past_them_is_refused_naming_its_line(tmp_path: Path, row: str) -> None:
    (tmp_path / "clip.csv").write_text(f"part,label,first_frame,last_frame,source\n{row}\n")
    with pytest.raises(InputError, match=r"clip\.csv: line 2: expected part,label\(ok\|def\),first_frame,last_frame,source"):
        read_truth(tmp_path / "clip.csv")


def test_a_bad_row_is_named_by_its_line_in_the_file_after_blank_lines_and_a_quoted_newline(tmp_path: Path) -> None:
    """The rows were counted, not the file's lines: after blank lines the line named was another (before 2026-12-07)."""
    (tmp_path / "clip.csv").write_text('part,label,first_frame,last_frame,source\n\n1,ok,3,9,"a\nb.png"\n\n2,maybe,10,20,c.png\n')
    with pytest.raises(InputError, match=r"clip\.csv: line 6: expected part"):
        read_truth(tmp_path / "clip.csv")


def test_a_part_in_view_as_the_video_began_is_found_where_the_belt_has_taken_it() -> None:
    """Its window begins at frame 0 only because the video does: 800 px of travel at 10 px a frame put its start at -30."""
    truth = [(1, 0, 50), (0, 60, 140), (1, 120, 200)]  # the first cut by the video's start; the others 80 frames each
    assert row_for(20, (600.0, 300.0, 200.0), 1000, truth, [False] * 3, rtl=False) == 0  # its centre: 100 + 50 x 10
    assert row_for(20, (420.0, 300.0, 200.0), 1000, truth, [False] * 3, rtl=False) is None  # where its cut window put it


def test_a_part_in_view_as_the_video_ended_is_found_where_the_belt_took_it_from_its_first_frame() -> None:
    """Its window ends at the video's last frame only because the video does: 20 of its 80 frames in the video, taken for
    a whole window, ran its part at 40 px a frame where it ran at 10."""
    truth = [(0, 40, 120), (1, 100, 180), (1, 160, 180)]  # the last cut by the video's end at 180; the others 80 frames each
    assert row_for(175, (250.0, 300.0, 200.0), 1000, truth, [True, True, False], rtl=False, end=180) == 2  # 100 + 15 x 10
    assert row_for(175, (700.0, 300.0, 200.0), 1000, truth, [True, True, False], rtl=False, end=180) is None  # its cut window's place
    assert row_for(175, (700.0, 300.0, 200.0), 1000, truth, [True, True, False], rtl=False) == 2, "end not known: as before"


def test_a_window_past_the_videos_last_frame_is_one_the_video_cut_there() -> None:
    """A last frame no video of the line has (a video cut short, or a ground truth's impossible value) took the window for
    a part crawling across: placed far from its own, missed, and its verdict extra."""
    truth = [(0, 40, 120), (1, 100, 180), (1, 160, 99999999999999999999)]  # the video's last frame is 180
    assert row_for(175, (250.0, 300.0, 200.0), 1000, truth, [True, True, False], rtl=False, end=180) == 2  # 100 + 15 x 10
    assert row_for(175, (250.0, 300.0, 200.0), 1000, truth, [True, True, False], rtl=False) is None, "end not known"


# Three parts in view as a short clip begins, none coming in after: 1000 px wide, d = 200, 20 px a frame. Each leaves
# (its centre at 900) at its window's end, so at frame 0 their centres were at 700, 400 and 100.
ALL_CUT = [(1, 0, 10), (0, 0, 25), (1, 0, 40)]
SEEN_ALL_CUT: list[tuple[int, tuple[float, float, float] | None]] = [(0, (700.0, 200.0, 200.0)), (6, (520.0, 200.0, 200.0)),
                                                                      (20, (500.0, 200.0, 200.0))]  # fmt: skip


def test_where_every_window_is_cut_by_the_video_the_belts_speed_is_fitted_to_the_parts_seen() -> None:
    assert fitted_speed(SEEN_ALL_CUT, 1000, ALL_CUT, rtl=False, end=60) == pytest.approx(20.0)


def test_with_the_fitted_speed_each_part_of_a_clip_whose_windows_are_all_cut_finds_its_row() -> None:
    """Before, each cut window was taken for a whole one (the first part ran at 80 px a frame from 100 px at frame 0):
    the part judged at 700 px on frame 0 found no row."""
    used = [False] * 3
    rows = []
    for frame, blob in SEEN_ALL_CUT:
        rows.append(row_for(frame, blob, 1000, ALL_CUT, used, rtl=False, end=60, speed=20.0))
        used[rows[-1] or 0] = True
    assert rows == [0, 1, 2]
    assert row_for(0, SEEN_ALL_CUT[0][1], 1000, ALL_CUT, [False] * 3, rtl=False, end=60) is None, "no speed: as before"


def test_a_part_in_view_as_a_clip_ends_gives_the_fit_its_speed_from_where_its_window_began() -> None:
    """Right to left, two parts come in at frames 10 and 30 and are in view as the clip ends at frame 45 (15 px a frame)."""
    truth = [(0, 10, 45), (1, 30, 45)]
    seen: list[tuple[int, tuple[float, float, float] | None]] = [(37, (495.0, 200.0, 200.0)), (42, (720.0, 200.0, 200.0))]
    assert fitted_speed(seen, 1000, truth, rtl=True, end=45) == pytest.approx(15.0)


def test_no_speed_is_fitted_where_a_window_is_whole_or_too_many_rows_would_be_tried() -> None:
    assert fitted_speed(SEEN_ALL_CUT, 1000, [*ALL_CUT, (0, 30, 70)], rtl=False, end=100) is None, "a whole window says it"
    assert fitted_speed(SEEN_ALL_CUT, 1000, [(0, 0, 10 + k) for k in range(17)], rtl=False, end=100) is None
    assert fitted_speed([(5, None)], 1000, ALL_CUT, rtl=False, end=60) is None, "no blob: no place to fit to"


def test_a_part_in_view_from_a_clips_first_frame_to_its_last_is_the_one_seen_where_it_could_have_stayed_in_view() -> None:
    """At 5 px a frame the second part, in view throughout the 60 frames, had its centre between 100 and 600 px at frame
    0. Before, its window was taken to end as it left the frame: it was looked for 300 px ahead of where it was."""
    truth = [(1, 0, 10), (0, 0, 60)]
    seen: list[tuple[int, tuple[float, float, float] | None]] = [(0, (850.0, 200.0, 200.0)), (20, (500.0, 200.0, 200.0))]
    assert fitted_speed(seen, 1000, truth, rtl=False, end=60) == pytest.approx(5.0)
    assert row_for(20, seen[1][1], 1000, truth, [True, False], rtl=False, end=60, speed=5.0) == 1
    assert row_for(20, (800.0, 200.0, 200.0), 1000, truth, [True, False], rtl=False, end=60, speed=5.0) is None, "where it never was"
    assert row_for(0, seen[0][1], 1000, truth, [False, False], rtl=False, end=60, speed=5.0) == 0, "a row whose place is known first"


def test_a_video_named_like_a_ground_truth_is_never_its_own(tmp_path: Path) -> None:
    """A video named v.csv beside v.csv.csv: told it had two ground truths, the message inviting the video's deletion
    (before 2026-12-07, found by a hostile probe)."""
    from station.teach.truth import truth_csv

    (tmp_path / "v.csv").write_bytes(b"a video")
    (tmp_path / "v.csv.csv").write_text("part,label,first_frame,last_frame,source\n1,ok,0,9,a.png\n")
    assert truth_csv(tmp_path / "v.csv") == tmp_path / "v.csv.csv"
