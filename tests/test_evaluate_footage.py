"""station eval VIDEO: footage replayed through the station, each verdict matched to its part, the line's figures."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from station.cli import main
from station.footage import Envelope, compose, labelled_photos
from station.messages import Cause, Reason, Verdict
from station.offline.evaluate_footage import Matched, _write_parts, line_figures, match, out_of_order

from .conftest import MODEL, SAMPLE, cut_out, damaged_video, ended_in_a_window, every_window_cut, one_part_a_frame

TRUTH = [(1, 0, 30), (0, 15, 45), (1, 30, 60)]  # (label, first, last): three parts, 640 px wide, d = 200 px


def _verdict(part_id: int, frame: int, verdict: str, cx: float, reason: Reason | None = None) -> Verdict:
    """A verdict as the pipeline hands it to eval, for a part the trigger saw at ``cx`` (d = 200 px)."""
    why, score = (Reason.OK, 0.01) if verdict == "pass" else (Reason.DEFECT, 0.97)
    if reason is Reason.UNABLE:
        return Verdict(part_id, frame, reason, None, "never seen whole", 0.0, 0.0, None, blob=(cx, 180.0, 200.0))
    return Verdict(part_id, frame, why, score, "", 0.0, 0.0, None, blob=(cx, 180.0, 200.0))


def test_each_verdict_goes_to_the_part_that_was_where_it_was_judged() -> None:
    """Frames 30: parts 1 (leaving) and 3 (entering) are both in view; the place along the belt says which was judged."""
    at_30_entering = 100 + 0 / 30 * 440  # part 3 enters at d/2
    parts, extra = match([_verdict(1, 30, "reject", at_30_entering), _verdict(2, 30, "pass", 540.0)], TRUTH, 640, rtl=False)
    assert [p.verdict.part_id if p.verdict else None for p in parts] == [2, None, 1]
    assert extra == []


def test_a_missed_defect_is_an_escape_and_a_verdict_for_no_part_is_extra() -> None:
    """On the line a part with no verdict gets no reject: a defective one passes."""
    got = [_verdict(1, 15, "reject", 320.0), _verdict(2, 40, "pass", 466.0), _verdict(3, 100, "reject", 320.0)]
    parts, extra = match(got, TRUTH, 640, rtl=False)
    assert [p.verdict.part_id if p.verdict else None for p in parts] == [1, 2, None] and [v.part_id for v in extra] == [3]
    figures = line_figures(parts, extra)
    assert (figures["missed"], figures["extra"], figures["escapes"], figures["false_rejects"]) == (1, 1, 1, 0)
    assert figures["verdicts"] == 3 and figures["wrong"] == 1 and figures["escape_rate"] == 0.5 and figures["extra_rejects"] == 1
    assert figures["out_of_order"] == 0


def test_verdicts_out_of_the_order_the_parts_arrived_in_are_counted() -> None:
    """Verdicts go out in order of arrival: the second part's verdict went out before the first's (its id is lower)."""
    got = [_verdict(2, 20, "reject", 320.0), _verdict(1, 40, "pass", 466.0), _verdict(3, 50, "reject", 373.0)]
    parts, extra = match(got, TRUTH, 640, rtl=False)
    assert [p.verdict.part_id if p.verdict else None for p in parts] == [2, 1, 3] and extra == []
    assert line_figures(parts, extra)["out_of_order"] == 1
    assert out_of_order([1, 2, 3]) == 0 and out_of_order([3, 1, 2]) == 2 and out_of_order([2, 1, 4, 3]) == 2


def test_a_part_not_located_is_matched_by_where_the_trigger_saw_it_not_to_the_first_part_due() -> None:
    """A review's case: the defect ahead is missed, the good part behind is rejected unable (no circle): the reject is the
    good part's, and the missed defect an escape."""
    truth = [(1, 50, 135), (0, 90, 175)]
    behind = 100 + (132 - 90) / 85 * 440  # the good part's place at frame 132
    parts, extra = match([_verdict(1, 132, "reject", behind, Reason.UNABLE)], truth, 640, rtl=False)
    assert parts[0].verdict is None and parts[1].verdict is not None and extra == []
    figures = line_figures(parts, extra)
    assert (figures["escapes"], figures["false_rejects"], figures["not_inspected"]) == (1, 1, 1)


def test_a_part_judged_late_on_an_earlier_view_goes_to_the_part_that_was_where_that_view_saw_it() -> None:
    """Across frames the trigger did not believe (a light dropout) or could not decode, a part is judged as it crosses
    the line on its last whole view: stamped with a later frame (40, after its window), its blob from the view (frame 20).
    It went to no part (missed and extra) by the frame it was stamped with."""
    at_20 = 100 + (20 - 0) / 30 * 440
    late = Verdict(1, 40, Reason.OK, 0.01, "", 0.0, 0.0, None, blob=(at_20, 180.0, 200.0), seen=20)
    parts, extra = match([late], TRUTH[:1], 640, rtl=False)
    assert parts[0].verdict is late and extra == []


def test_a_part_rejected_as_crossed_unseen_on_a_view_of_it_coming_into_view_goes_to_that_part() -> None:
    """The line trigger rejects a part seen only coming into view before frames it did not see (the belt took it past
    the line in them) on that view: frame 12, three frames before the second part's window, its leading edge at 156 px
    (its blob 0-156 px, centre 78). It went to no part (missed and extra): the view is outside the part's window."""
    refused = Verdict(
        1, 40, Reason.UNABLE, None, "crossed the line in 27 frames not seen", 0.0, 0.0, None, blob=(78.0, 180.0, 200.0), seen=12
    )
    parts, extra = match([refused], TRUTH, 640, rtl=False)
    assert [p.verdict is refused for p in parts] == [False, True, False] and extra == []
    mirrored = replace(refused, blob=(640 - 78.0, 180.0, 200.0))
    parts, extra = match([mirrored], TRUTH, 640, rtl=True)
    assert parts[1].verdict is mirrored and extra == []


def test_a_clip_whose_parts_were_all_in_view_as_it_began_has_each_verdict_matched_to_its_part() -> None:
    """Three parts in view on the first frame (640 px, d = 200, 20 px a frame; they leave at frames 4, 10 and 16): no
    window says how fast they move. Before, each cut window was taken for a whole one: missed 2 and extra 2 (the first
    judged part went to the wrong row), with the station right."""
    truth = [(1, 0, 4), (0, 0, 10), (1, 0, 16)]  # centres at 460, 340 and 220 on frame 0
    got = [_verdict(1, 0, "reject", 460.0), _verdict(2, 0, "pass", 340.0), _verdict(3, 5, "reject", 320.0)]
    parts, extra = match(got, truth, 640, rtl=False, end=30)
    assert [p.verdict.part_id if p.verdict else None for p in parts] == [1, 2, 3] and extra == []


@pytest.mark.integration
def test_eval_of_footage_replays_it_and_judges_every_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = Envelope(width=960, height=540, fps=30, speed=16.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[:10], tmp_path / "line.mp4", env, seed=3)
    assert main(["eval", str(video), "--report", str(tmp_path / "r")]) == 0
    said = capsys.readouterr()
    figures = json.loads(said.out.strip().splitlines()[-1])
    with video.with_suffix(".csv").open() as f:
        truth = list(csv.DictReader(f))
    assert figures["parts"] == len(truth) == 10 and figures["missed"] == 0 and figures["extra"] == 0
    assert figures["escapes"] == 0, "the sample's defects are the shipped model's own kind"
    with (tmp_path / "r" / "parts.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in sorted(rows, key=lambda r: int(r["part"]))] == [t["label"] for t in truth]
    assert (tmp_path / "r" / "metrics.json").exists() and f"report in {tmp_path / 'r'}/" in said.err


@pytest.mark.integration
def test_footage_judged_the_wrong_way_round_shows_its_parts_missed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = Envelope(width=960, height=540, fps=30, speed=16.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[:6], tmp_path / "line.mp4", env, seed=3)
    assert main(["eval", str(video), "--report", str(tmp_path / "r"), "--set", "trigger.direction=right_to_left"]) == 0
    said = capsys.readouterr()
    figures = json.loads(said.out.strip().splitlines()[-1])
    assert figures["missed"] + figures["extra"] > 0, "parts crossing the other way are not the parts of the ground truth"
    assert 2 * figures["missed"] > figures["parts"], figures
    assert "note: the parts moved left_to_right (" in said.err and "trigger.direction is right_to_left" in said.err
    assert "set trigger.direction: left_to_right" in said.err


def test_a_video_without_its_ground_truth_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "line.mp4"
    video.write_bytes(b"not a video")
    assert main(["eval", str(video), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"station: error: {video}: a video needs its ground truth beside it (line.mp4.csv or line.csv)"


def test_a_report_that_would_write_over_the_ground_truth_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "parts.mp4"
    video.write_bytes(b"not read")
    truth = tmp_path / "parts.csv"
    truth.write_text(rows := "part,label,first_frame,last_frame,source\n1,ok,0,30,a.jpeg\n")
    assert main(["eval", str(video), "--report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1] == f"station: error: {tmp_path}: --report would write its parts.csv where parts.mp4's ground truth lies; give "
        "another report folder"
    )
    assert truth.read_text() == rows


def test_a_report_is_never_written_where_another_videos_ground_truth_lies_or_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Judging x.mp4 with its report beside parts.mp4: the report's parts.csv replaced parts.mp4's ground truth, and parts.mp4
    was then judged against x's report (exit 0, wrong figures; before 2026-12-07, found by a hostile probe). A video named
    parts beside a report folder's parts.csv would take it for its ground truth too."""
    (tmp_path / "x.mp4").write_bytes(b"not read")
    (tmp_path / "x.csv").write_text("part,label,first_frame,last_frame,source\n1,ok,0,30,a.jpeg\n")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "parts.avi").write_bytes(b"another video")
    assert main(["eval", str(tmp_path / "x.mp4"), "--report", str(tmp_path / "r")]) == 2
    assert "--report would write its parts.csv where parts.avi's ground truth lies" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["parts.avi"]


@pytest.mark.integration
def test_footage_whose_frames_change_size_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Eval places each ground-truth part along one frame width: the last frame's misplaced the parts of the other size, and
    parts judged right were counted missed, a defect rejected as an escape (exit 0; before 2026-12-07, found by a probe)."""
    import shutil
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("Debian's ffmpeg is not installed (.ci/run installs it)")
    photos = labelled_photos(SAMPLE)
    small = compose(
        photos[:3], tmp_path / "a.avi", Envelope(width=640, height=360, fps=25, speed=20.0, diameter=200.0, codec="MJPG"), seed=1
    )
    large = compose(
        photos[3:6], tmp_path / "b.avi", Envelope(width=800, height=450, fps=25, speed=20.0, diameter=200.0, codec="MJPG"), seed=2
    )
    (tmp_path / "list.txt").write_text(f"file '{small}'\nfile '{large}'\n")
    video = tmp_path / "mixed.avi"
    subprocess.run([ffmpeg, "-v", "error", "-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"), "-c", "copy", str(video)],
                   check=True, timeout=120)  # fmt: skip
    (tmp_path / "mixed.csv").write_text(small.with_suffix(".csv").read_text())  # the first stretch's parts suffice to be judged
    assert main(["eval", str(video), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"station: error: {video}: its frames change size (640x360, 800x450)"), err


@pytest.mark.integration
def test_eval_of_footage_is_not_swayed_by_settings_for_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A looping camera would replay for ever; a tight deadline would turn passes into late rejects (counted as caught);
    CURVE would read the station's key. Eval sets them aside. The frame trigger on a belt's footage, whose parts span
    frames, is refused: each frame's verdict would go to whichever part's window it falls in."""
    env = Envelope(width=960, height=540, fps=30, speed=16.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[:4], tmp_path / "line.mp4", env, seed=3)
    line = ["--set", "camera.loop=true", "--set", "publisher.deadline_ms=1", "--set", "publisher.curve.enabled=true",
            "--set", f"publisher.curve.secret_key_file={tmp_path / 'none.key_secret'}"]  # fmt: skip
    assert main(["eval", str(video), "--report", str(tmp_path / "r"), *line, "--set", f"model.shadow={MODEL}"]) == 0
    said = capsys.readouterr()
    figures = json.loads(said.out.strip().splitlines()[-1])
    assert figures["parts"] == 4 and figures["missed"] == 0 and figures["extra"] == 0
    assert f"model.shadow ({MODEL}) is not judged" in said.err
    with (tmp_path / "r" / "parts.csv").open(newline="") as f:
        assert "late" not in {r["reason"] for r in csv.DictReader(f)}
    assert main(["eval", str(video), "--report", str(tmp_path / "r"), "--set", "trigger.mode=frame"]) == 2
    assert "line.csv: line 2: frames " in (err := capsys.readouterr().err) and "trigger.mode frame makes every frame a part" in err


@pytest.mark.integration
def test_a_hardware_triggered_recording_is_judgedone_part_a_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = [(p.path, p.label) for p in labelled_photos(SAMPLE)[::3]]
    one_part_a_frame(photos, tmp_path / "triggered.avi")
    assert main(["eval", str(tmp_path / "triggered.avi"), "--report", str(tmp_path / "r"), "--set", "trigger.mode=frame"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["parts"] == figures["verdicts"] == len(photos) and figures["missed"] == figures["extra"] == 0
    with (tmp_path / "r" / "parts.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["frame"] == r["first_frame"] == str(int(r["part"]) - 1) for r in rows), "each verdict to its own frame's part"
    assert figures["escapes"] == 0, "the sample's defects are the shipped model's own kind"


@pytest.mark.integration
def test_ground_truth_rows_after_the_videos_end_are_named_and_not_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As teach leaves them: they were never in the video, so they are neither missed parts nor escapes."""
    photos = [(p.path, p.label) for p in labelled_photos(SAMPLE)[::4]]
    video = tmp_path / "triggered.avi"
    one_part_a_frame(photos, video)
    n = len(photos)
    with video.with_suffix(".csv").open("a") as f:
        f.write(f"{n + 1},def,{n},{n},\n{n + 2},def,{n + 1},{n + 1},\n")
    assert main(["eval", str(video), "--report", str(tmp_path / "r"), "--set", "trigger.mode=frame"]) == 0
    said = capsys.readouterr()
    figures = json.loads(said.out.strip().splitlines()[-1])
    assert figures["parts"] == n and figures["not_judged"] == 2 and figures["missed"] == 0 and figures["escapes"] == 0
    assert f"2 rows of its ground truth (from line {n + 2} of the CSV) after its last frame ({n - 1}): not judged" in said.err


@pytest.mark.integration
@pytest.mark.parametrize("share", [0.3, 0.7])
def test_a_part_in_view_as_the_video_ended_is_not_counted_missed(tmp_path: Path, capsys: pytest.CaptureFixture[str], share: float) -> None:
    """Its window ends where the video does: placed at that cut window's speed, eval counted it missed (an escape, for a
    defect) and its verdict extra, where the station judged it right."""
    video, rows = ended_in_a_window(tmp_path, share)
    assert main(["eval", str(video), "--report", str(tmp_path / "r")]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (figures["parts"], figures["verdicts"], figures["missed"], figures["extra"]) == (rows, rows, 0, 0)
    assert figures["escapes"] == 0 and figures["wrong"] == 0


@pytest.mark.integration
def test_a_clip_whose_every_part_was_in_view_as_it_began_or_ended_is_judged_right(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No window of the clip's ground truth says how fast its parts move: each cut window taken for a whole one placed its
    part far from where it was, so eval counted parts missed and verdicts extra where the station judged them right."""
    video, rows = every_window_cut(tmp_path)
    assert main(["eval", str(video), "--report", str(tmp_path / "r")]) == 0
    said = capsys.readouterr()
    figures = json.loads(said.out.strip().splitlines()[-1])
    assert (figures["parts"], figures["verdicts"], figures["missed"], figures["extra"]) == (rows, rows, 0, 0)
    assert figures["escapes"] == 0 and "check the trigger settings" not in said.err


@pytest.mark.integration
def test_frames_a_recorder_dropped_cost_no_part_its_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """7 frames cut out at 40 px a frame, their timestamps kept: taken for consecutive frames, each track took the blob of
    the part behind it (a hostile review: a defective part got no verdict, and eval counted 3 escapes)."""
    photos = labelled_photos(SAMPLE)
    mix = [x for pair in zip([p for p in photos if p.label == "ok"][:4], [p for p in photos if p.label == "def"][:4], strict=True)
           for x in pair]  # fmt: skip
    env = Envelope(width=960, height=540, fps=30, speed=40.0, diameter=240.0, codec="MJPG")
    whole = compose(mix, tmp_path / "whole.avi", env, seed=3)
    cut_out(whole, 40, 46, tmp_path / "cut.mkv")
    (tmp_path / "cut.csv").write_text(whole.with_suffix(".csv").read_text())  # the frames keep their numbers
    assert main(["eval", str(tmp_path / "cut.mkv"), "--report", str(tmp_path / "r")]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (figures["parts"], figures["verdicts"], figures["missed"], figures["extra"]) == (8, 8, 0, 0)
    assert figures["escapes"] == 0 and figures["wrong"] == 0


@pytest.mark.integration
def test_a_video_that_loses_frames_is_refused_not_judged_against_shifted_frame_numbers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A zeroed stretch mid-file: FFmpeg skips its frames without a failed read, and every later verdict's frame comes
    numbered too early (a review saw part 4's verdict given to part 3, and F1 1.0)."""
    _, damaged = damaged_video(tmp_path)
    assert main(["eval", str(damaged), "--report", str(tmp_path / "r")]) == 2
    assert "frames it declares could not be read (damaged or cut short)" in capsys.readouterr().err


@pytest.mark.integration
def test_a_video_cut_short_before_parts_its_ground_truth_lists_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Whose frame count is not exact (not an MJPG AVI): the parts after its end were judged missed, escapes."""
    env = Envelope(width=640, height=360, fps=25, speed=20.0, diameter=200.0, codec="mp4v")
    video = compose(labelled_photos(SAMPLE)[::3], tmp_path / "line.avi", env, seed=4)
    (tmp_path / "cut").mkdir()
    cut = tmp_path / "cut" / "line.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    cut.with_suffix(".csv").write_bytes(video.with_suffix(".csv").read_bytes())
    assert main(["eval", str(cut), "--report", str(tmp_path / "r")]) == 2
    assert "frames it declares (cut short), and its ground truth has parts up to frame" in capsys.readouterr().err


def test_a_video_none_of_whose_ground_truth_it_holds_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A photo named .avi is a video of one frame: its ground truth's parts were judged missed, and the note blamed the trigger."""
    (tmp_path / "clip.avi").write_bytes(sorted((SAMPLE / "ok_front").iterdir())[0].read_bytes())
    (tmp_path / "clip.csv").write_text("part,label,first_frame,last_frame,source\n1,ok,3,9,x\n2,def,12,19,y\n")
    assert main(["eval", str(tmp_path / "clip.avi"), "--report", str(tmp_path / "r")]) == 2
    assert "clip.avi: every part its ground truth lists comes after its last frame (0)" in capsys.readouterr().err


@pytest.mark.integration
def test_eval_of_the_footage_a_model_was_taught_on_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch", reason="station teach needs PyTorch (pip install -e '.[train]')")
    from .teaching import QUICK

    env = Envelope(width=960, height=540, fps=30, speed=16.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE), tmp_path / "line.mp4", env, seed=3)
    model = tmp_path / "m.onnx"
    assert main(["teach", str(video), "--out", str(model), "--report", str(tmp_path / "t"), *QUICK]) == 0
    capsys.readouterr()
    assert main(["eval", str(video), "--report", str(tmp_path / "r"), "--set", f"model.path={model}"]) == 0
    said = capsys.readouterr()
    figures = json.loads(said.out.strip().splitlines()[-1])
    taught = json.loads((tmp_path / "t" / "metrics.json").read_text())["counts"]
    assert figures["taught_on"] == taught["ok"] + taught["defective"], "each part taught known again by its frame and blob"
    assert "was taught on at least" in said.err
    assert main(["eval", str(video), "--report", str(tmp_path / "r2")]) == 0, "the shipped model was taught on none of them"
    assert "taught_on" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_verdicts_kept_for_judging_hold_no_frames() -> None:
    """An hour of footage is thousands of parts: a frame each would be gigabytes."""
    import numpy as np

    from station.model import Model
    from station.offline.evaluate_footage import _Kept

    from .conftest import MODEL

    kept = _Kept(Model(MODEL))
    v = _verdict(1, 5, "pass", 320.0)
    kept.add(Verdict(**{**v.__dict__, "image": np.zeros((360, 640), np.uint8)}))
    assert kept.verdicts[0].image is None and kept.verdicts[0].blob == v.blob and kept.taught_on == 0


def test_a_footage_part_taught_on_is_known_by_its_frame_and_blob_wherever_its_circle_is_found() -> None:
    """A taught model's search (an ellipse) finds the circle a sub-pixel from where teaching's round search found it, and
    the pixels round it differ: known by those alone, 27 of 40 taught parts were."""
    from dataclasses import replace

    import numpy as np

    from station.locate import Circle
    from station.model import Model
    from station.offline.evaluate_footage import _Kept
    from station.preprocess import view_digest

    from .conftest import MODEL

    frame = np.random.default_rng(1).integers(0, 255, (360, 640), dtype=np.uint8)
    model = Model(MODEL)
    model.info = replace(model.info, taught_parts=frozenset({view_digest(frame, (320.0, 180.0, 200.0))}))
    kept = _Kept(model)
    v = _verdict(1, 5, "pass", 320.0)
    for blob in [(320.0, 180.0, 200.0), (320.5, 180.0, 200.0)]:  # the part taught, and another
        kept.add(replace(v, image=frame, blob=blob, circle=Circle(320.3, 180.2, 98.0)))
    assert kept.taught_on == 1


@pytest.mark.integration
def test_odd_video_names_are_judged_or_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file named like a camera (usb:0) is still the file; a name that is not UTF-8 crashed OpenCV (a segfault), and a
    report folder with such a name crashed the pictures: refused, and written."""
    import os
    import shutil

    env = Envelope(width=960, height=540, fps=30, speed=16.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[:4], tmp_path / "line.mp4", env, seed=3)
    camera_like = tmp_path / "usb:0"
    shutil.copy(video, camera_like)
    shutil.copy(video.with_suffix(".csv"), tmp_path / "usb:0.csv")
    assert main(["eval", str(camera_like), "--report", os.fsdecode(bytes(tmp_path) + b"/r\xff")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["parts"] == 4
    assert (tmp_path / os.fsdecode(b"r\xff") / "confusion_matrix.png").is_file()
    odd = os.fsdecode(bytes(tmp_path) + b"/line\xff.mp4")
    shutil.copy(video, odd)
    shutil.copy(video.with_suffix(".csv"), odd + ".csv")
    assert main(["eval", odd, "--report", str(tmp_path / "r2")]) == 2
    assert "its name is not UTF-8" in capsys.readouterr().err


@pytest.mark.integration
def test_a_stop_during_eval_of_footage_drains_and_gives_no_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C raised inside the running pipeline and the process aborted (exit 134); it drains as replay does, and figures
    on part of a video would count its other parts missed. A stop that came before the pipeline ran (here: set before the
    command) drains it at once, as one in the middle does."""
    from station.signals import SIGNALS

    env = Envelope(width=640, height=360, fps=30, speed=16.0, diameter=180.0)
    video = compose(labelled_photos(SAMPLE)[:6], tmp_path / "line.mp4", env, seed=3)
    SIGNALS.stop.set()
    try:
        assert main(["eval", str(video), "--report", str(tmp_path / "r")]) == 130
    finally:
        SIGNALS.consume()
    said = capsys.readouterr()
    assert said.out.strip() == "" and "stopped before its end, so no figures" in said.err
    assert main(["eval", str(video), "--report", str(tmp_path / "r")]) == 0, "the next run is not taken for stopped"


def test_parts_csv_says_why_each_part_not_inspected_was_not(tmp_path: Path) -> None:
    """As the photos' parts.csv does: a line whose parts go uninspected for one cause (off centre, never whole) is a framing
    or light problem the engineer can name from the report."""
    unable = replace(_verdict(2, 10, "reject", 300.0, Reason.UNABLE), cause=Cause.NEVER_WHOLE)
    parts = [Matched(0, 1, 0, 4, _verdict(1, 2, "reject", 460.0)), Matched(1, 0, 6, 12, unable)]
    _write_parts(tmp_path / "parts.csv", parts, [])
    with (tmp_path / "parts.csv").open(newline="") as f:
        rows = {r["part"]: r for r in csv.DictReader(f)}
    assert rows["2"]["reason"] == "unable_to_inspect" and rows["2"]["cause"] == "never_whole" and rows["2"]["mistake"] == "false_reject"
    assert rows["1"]["cause"] == "" and rows["1"]["mistake"] == ""
