"""station.teach.samples: a video and its ground truth as a source, read through the line trigger as replay reads it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.config import load_config
from station.errors import InputError
from station.footage import Envelope, compose, labelled_photos, read_truth
from station.messages import Part
from station.preprocess import PreprocessSpec
from station.teach.parts import Collection, Sample
from station.teach.samples import collect

from .conftest import SAMPLE, damaged_video, ended_in_a_window, every_window_cut, one_part_a_frame

SPEC = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)


def test_a_video_is_read_through_the_line_trigger_and_matched_to_its_ground_truth(tmp_path: Path) -> None:
    env = Envelope(width=960, height=540, fps=25, speed=14.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[::3], tmp_path / "line.mp4", env, seed=4)
    truth = read_truth(video)
    col = collect([video], SPEC, load_config(None, []))
    assert not col.refused and not col.notes
    assert [s.label for s in col.samples] == [int(t["label"] == "def") for t in truth]
    assert all("#part" in s.origin for s in col.samples)
    assert [s.part for s in col.samples] == [t["source"] for t in truth], "each part named by its row's source"
    assert len({s.view for s in col.samples} - {""}) == len(col.samples), "each known again by its frame and blob (eval)"
    _crops_are_the_frames(video, col.samples)
    shutil.copy(video, tmp_path / "again.mp4")
    shutil.copy(video.with_suffix(".csv"), tmp_path / "again.csv")
    twice = collect([video, video, tmp_path / "again.mp4"], SPEC, load_config(None, []))
    assert len(twice.samples) == len(col.samples) and twice.fingerprint() == col.fingerprint()  # each part once
    assert twice.notes == [
        f"{video}: the same video as {video}, used once",
        f"{tmp_path / 'again.mp4'}: the same video as {video}, used once",
    ]
    rows = video.with_suffix(".csv").read_text().splitlines()
    first = rows[1].split(",")
    first[1] = "ok" if first[1] == "def" else "def"  # one part labelled otherwise
    (tmp_path / "again.csv").write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n")
    with pytest.raises(InputError, match=r"again\.mp4: the same video as .*line\.mp4, but its ground truth again\.csv differs"):
        collect([video, tmp_path / "again.mp4"], SPEC, load_config(None, []))


def test_footage_parts_the_trigger_refuses_are_reported_by_its_cause_with_its_whole_reason(tmp_path: Path) -> None:
    env = Envelope(width=960, height=540, fps=25, speed=14.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[::6], tmp_path / "line.mp4", env, seed=4)
    col = collect([video], SPEC, load_config(None, ["trigger.max_diameter_px=200"]))
    assert col.samples == [] and len(col.refused) == len(read_truth(video))
    assert {r.kind for r in col.refused} == {"too_large"}
    assert all("larger than trigger.max_diameter_px (200)" in r.why for r in col.refused)


def test_a_hardware_triggered_recording_is_taught_one_part_a_frame_with_the_frame_trigger(tmp_path: Path) -> None:
    photos = [(p.path, p.label) for p in labelled_photos(SAMPLE)[::4]]
    one_part_a_frame(photos, tmp_path / "triggered.avi")
    col = collect([tmp_path / "triggered.avi"], SPEC, load_config(None, ["trigger.mode=frame"]))
    assert not col.refused and not col.notes
    assert [(s.part, s.label) for s in col.samples] == [(p.name, int(label == "def")) for p, label in photos]


def test_a_belts_footage_is_refused_with_the_frame_trigger_which_makes_every_frame_a_part(tmp_path: Path) -> None:
    """Each frame's part would take the label of whichever row's window the frame falls in, another part's as often as not."""
    env = Envelope(width=960, height=540, fps=25, speed=14.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[:4], tmp_path / "line.mp4", env, seed=4)
    with pytest.raises(InputError, match=r"line\.csv: line 2: frames \d+-\d+, but trigger\.mode frame makes every frame a part"):
        collect([video], SPEC, load_config(None, ["trigger.mode=frame"]))


def test_a_video_whose_parts_move_against_trigger_direction_is_refused_naming_the_key(tmp_path: Path) -> None:
    env = Envelope(width=960, height=540, fps=25, speed=14.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[:6], tmp_path / "line.mp4", env, seed=4)
    with pytest.raises(InputError, match=r"line\.mp4: the parts moved left_to_right \(\d+ of the \d+ blobs the trigger followed across "
                       r"the view\): trigger\.direction is right_to_left.*set trigger\.direction: left_to_right"):  # fmt: skip
        collect([video], SPEC, load_config(None, ["trigger.direction=right_to_left"]))


def test_a_video_that_loses_frames_is_refused_not_matched_to_its_ground_truth_by_shifted_frame_numbers(tmp_path: Path) -> None:
    """A zeroed stretch mid-file: FFmpeg skips its frames without a failed read, every later frame comes numbered too
    early, and parts were matched to the rows of the parts before them (20 of 48 on one 60-part video)."""
    video, damaged = damaged_video(tmp_path)
    assert collect([video], SPEC, load_config(None, [])).samples  # the intact video teaches
    with pytest.raises(InputError, match=r"damaged/line\.avi: \d+ of the \d+ frames it declares could not be read"):
        collect([damaged], SPEC, load_config(None, []))


def test_a_ground_truth_row_after_the_videos_end_is_named_not_counted_as_missed_by_the_trigger(tmp_path: Path) -> None:
    env = Envelope(width=960, height=540, fps=25, speed=14.0, diameter=240.0)
    video = compose(labelled_photos(SAMPLE)[::6], tmp_path / "line.mp4", env, seed=4)
    rows = video.with_suffix(".csv").read_text().splitlines()
    end = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT)) - 1
    video.with_suffix(".csv").write_text("\n".join([*rows, f"99,def,{end + 500},{end + 520},x.jpeg"]) + "\n")
    col = collect([video], SPEC, load_config(None, []))
    assert not col.refused and len(col.samples) == len(rows) - 1
    assert col.notes == [f"{video}#row{len(rows)}: frames {end + 500}-{end + 520}, after the video's last frame ({end}), not used"]


@pytest.mark.parametrize("share", [0.3, 0.7])
def test_a_part_in_view_as_the_video_ended_is_taught_with_its_rows_label(tmp_path: Path, share: float) -> None:
    """Its window ends where the video does; placed at the speed of that cut window, it was left unused as a fragment."""
    video, rows = ended_in_a_window(tmp_path, share)
    col = collect([video], SPEC, load_config(None, []))
    assert not col.refused and not col.notes
    assert [s.label for s in col.samples] == [0, 1, 0, 1, 0, 1][:rows]


def test_each_part_of_a_clip_whose_every_window_is_cut_is_taught_with_its_rows_label(tmp_path: Path) -> None:
    """No window of the clip says how fast its parts move: placed by their cut windows, parts were refused as missed by
    the trigger and their verdicts taken for fragments."""
    video, rows = every_window_cut(tmp_path)
    truth = read_truth(video)
    col = collect([video], SPEC, load_config(None, []))
    assert not col.refused and not col.notes
    assert [s.label for s in col.samples] == [int(t["label"] == "def") for t in truth] and len(truth) == rows


def test_a_footage_part_is_taught_as_the_station_scores_it_on_a_shaded_belt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train/serve parity for footage: a part is taught from the crop the station's preprocess stage scores on the line. It
    crops from the trigger's cut-out of the frame, painted belt grey outside the blob (stages/preprocess._isolate); where
    shading or a shadow makes the blob smaller and off the part's centre, the paint can reach the rim's edge, and a part
    taught from its whole frame scored up to 0.33 log-odds apart (before 2026-12-07)."""
    from station.config import SHIPPED_MODEL
    from station.metrics import Metrics
    from station.model import Model
    from station.preprocess import normalise_crop
    from station.stages.preprocess import PreprocessStage
    from station.teach import samples

    model, pairs = Model(SHIPPED_MODEL), []
    seen, stage = samples._seen, PreprocessStage(model.info.spec, Metrics())

    def both(video: Path, part: Part, spec: PreprocessSpec) -> object:
        out = seen(video, part, spec)
        served = stage(part)[0].pre  # the crop the line scores
        if out.kept is not None and served is not None and served.crop is not None:
            pairs.append((normalise_crop(out.kept[0], out.kept[1], model.info.spec)[0], served.crop))
        return out

    monkeypatch.setattr(samples, "_seen", both)
    env = Envelope(width=1280, height=720, fps=50, speed=20.0, diameter=260.0, shade=0.6, shadow=60.0)
    video = compose(labelled_photos(SAMPLE)[:12], tmp_path / "shaded.mp4", env, seed=2)
    collect([video], model.info.spec, load_config(None, []))
    assert len(pairs) >= 10
    taught, served = (np.clip(model.score(np.stack(c)), 1e-6, 1 - 1e-6) for c in zip(*pairs, strict=True))
    assert np.abs(np.log(taught / (1 - taught)) - np.log(served / (1 - served))).max() < 0.1


def _crops_are_the_frames(video: Path, samples: list[Sample]) -> None:
    """Each footage part keeps only the pixels round it, cut from its frame as the station cuts it (painted belt grey
    outside the trigger's blob: the crop is the station's, test_a_footage_part_is_taught_as_the_station_scores_it...), and
    its frame's own pixels elsewhere."""
    from station.preprocess import to_gray
    from station.sources import VideoFileSource

    source, frames = VideoFileSource(video), []
    source.open()
    while (grab := source.read()) is not None:
        frames.append(to_gray(grab.image) if grab.image is not None else None)
    source.close()
    for s in samples:
        frame = frames[int(s.origin.rsplit("@frame", 1)[1])]
        assert frame is not None and s.image.size < frame.size / 2  # not the frame: a square round the part
        x0, y0 = cv2.minMaxLoc(cv2.matchTemplate(frame, s.image, cv2.TM_SQDIFF))[2]
        h, w = s.image.shape
        painted = frame[y0 : y0 + h, x0 : x0 + w] != s.image
        assert painted.mean() < 0.5 and len(np.unique(s.image[painted])) <= 1  # the frame's pixels, or the belt's one grey
        yy, xx = np.nonzero(painted)
        assert not len(yy) or np.hypot(xx - s.circle.cx, yy - s.circle.cy).min() > 0.9 * s.circle.r  # never over the part


@pytest.mark.parametrize(
    ("truth", "error"),
    [
        ("part,label\n", r"clip\.csv: line 1: expected the header part,label,first_frame,last_frame,source"),
        ("part,label,first_frame,last_frame,source\n", r"clip\.csv: no parts in the ground truth"),
        ("part,label,first_frame,last_frame,source\n1,maybe,0,5,x\n", r"clip\.csv: line 2: expected part,label\(ok\|def\)"),
        ("part,label,first_frame,last_frame,source\n1,ok,9\n", r"clip\.csv: line 2: expected part,label\(ok\|def\)"),
        ("part,label,first_frame,last_frame,source\n1,ok\n", r"clip\.csv: line 2: expected part,label\(ok\|def\)"),
        ("part,label,first_frame,last_frame,source\n1,ok,3,9,x,12\n", r"clip\.csv: line 2: expected part,label\(ok\|def\)"),
        ("part,label,first_frame,last_frame,source\n1,ok,34,21,x\n", r"clip\.csv: line 2: first_frame 34 and last_frame 21"),
        ("part,label,first_frame,last_frame,source\n1,ok,-34,-21,x\n", r"clip\.csv: line 2: first_frame -34"),
        ("part,label,first_frame,last_frame,source\n1,def,3,9,x\n2,ok,3,9,x\n", r"clip\.csv: line 3: frames 3-9 do not follow"),
        ("part,label,first_frame,last_frame,source\n1,def,5,9,x\n2,ok,4,12,x\n", r"clip\.csv: line 3: frames 4-12 do not follow"),
        ('part,label,first_frame,last_frame,source\n1,ok,1,5,"' + "x" * 200_000 + '"\n', r"clip\.csv: not a ground truth CSV"),
    ],
)
def test_ground_truth_that_names_no_part_or_an_impossible_one_is_one_clear_error(tmp_path: Path, truth: str, error: str) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / "clip.csv").write_text(truth)
    with pytest.raises(InputError, match=error):
        collect([tmp_path / "clip.mp4"], SPEC, load_config(None, []))


def test_parts_in_view_together_at_the_start_may_share_frames() -> None:
    from station.teach.truth import check_row

    rows = [(0, 0, 40), (1, 0, 90), (0, 12, 90)]  # two parts whole in the first frame, two in the last
    for n in range(1, 4):
        check_row(Path("clip.csv"), n + 1, rows[:n])


def test_a_video_with_two_different_ground_truths_beside_it_is_refused(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / "clip.csv").write_text("part,label,first_frame,last_frame,source\n1,ok,3,9,x\n")
    (tmp_path / "clip.mp4.csv").write_text("part,label,first_frame,last_frame,source\n1,def,3,9,x\n")
    with pytest.raises(InputError, match=r"clip\.mp4: two ground truths beside it \(clip\.csv and clip\.mp4\.csv\)"):
        collect([tmp_path / "clip.mp4"], SPEC, load_config(None, []))


@pytest.mark.integration
def test_an_intact_clip_whose_declared_frame_count_is_an_estimate_is_noted_not_refused(tmp_path: Path) -> None:
    """A clip cut from a longer H.264 video without re-encoding declares more frames than it decodes (so does a variable
    frame rate in MKV): it is intact, and refusing it as damaged would send the operator the wrong way."""
    import subprocess

    from station.sources import VideoFileSource
    from station.teach.samples import _lost

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None or "libx264" not in subprocess.run([ffmpeg, "-v", "error", "-encoders"], capture_output=True, text=True,
                                                         timeout=60).stdout:  # fmt: skip
        pytest.skip("no ffmpeg with libx264 here (.ci/run installs it)")
    whole, cut = tmp_path / "long.mp4", tmp_path / "cut.mp4"
    make = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=8", "-c:v", "libx264", "-bf", "3", "-g", "50", str(whole)]
    subprocess.run([ffmpeg, "-v", "error", *make], check=True, timeout=120)
    subprocess.run([ffmpeg, "-v", "error", "-ss", "1.3", "-i", str(whole), "-t", "3", "-c", "copy", str(cut)], check=True, timeout=120)
    src = VideoFileSource(cut)
    src.open()
    while src.read() is not None:
        pass
    src.close()
    assert src.frames_lost() > 0 and not src.count_is_exact
    col = Collection()
    _lost(cut, src, col)
    assert len(col.notes) == 1 and "usual for a clip cut without re-encoding" in col.notes[0]


def test_a_video_none_of_whose_ground_truth_it_holds_is_refused(tmp_path: Path) -> None:
    """A photo named .avi is a video of one frame to OpenCV: every row of its ground truth came after its end, each only
    noted, and the line was taught from the other sources as though it had been given none."""
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[0], tmp_path / "clip.avi")
    (tmp_path / "clip.csv").write_text("part,label,first_frame,last_frame,source\n1,ok,3,9,x\n2,def,12,19,y\n")
    with pytest.raises(InputError, match=r"clip\.avi: every part its ground truth lists comes after its last frame \(0\)"):
        collect([tmp_path / "clip.avi"], SPEC, load_config(None, []))


def test_a_ground_truth_with_a_column_named_twice_is_refused_not_read_by_its_last(tmp_path: Path) -> None:
    from station.teach.truth import read_truth as read_ground_truth

    (tmp_path / "sheet.csv").write_text("part,label,first_frame,last_frame,source,,\n1,ok,3,9,x,,\n")  # a spreadsheet's: fine
    assert read_ground_truth(tmp_path / "sheet.csv")[0] == [(0, 3, 9)]
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / "clip.csv").write_text("part,label,first_frame,last_frame,source,label\n1,ok,3,9,x,def\n")
    with pytest.raises(InputError, match=r"clip\.csv: line 1: the column 'label' is named twice"):
        collect([tmp_path / "clip.mp4"], SPEC, load_config(None, []))


def test_a_ground_truth_that_is_no_regular_file_is_named_not_called_missing(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    os.mkfifo(tmp_path / "clip.csv")
    with pytest.raises(InputError, match=r"clip\.csv: the ground truth of clip\.mp4 is not a regular file"):
        collect([tmp_path / "clip.mp4"], SPEC, load_config(None, []))
