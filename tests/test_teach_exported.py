"""station/teach/exported.py: crops that ``station archive export`` wrote, used only where they hold their part, and such a
folder read as a teaching source (``station.teach.samples.collect``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from station.archive import CROP_MARGIN
from station.config import load_config
from station.errors import InputError
from station.footage import Envelope, compose, labelled_photos
from station.locate import Circle, GrayImage, u8
from station.preprocess import PreprocessSpec, preprocess
from station.stills import read_image
from station.teach.exported import inspect, read_labels
from station.teach.samples import collect

from .conftest import MODEL, SAMPLE, sample_line

SPEC = PreprocessSpec(size=192, margin=0.16, mask_radius=1.12)


def _photos() -> list[Path]:
    return [*sorted((SAMPLE / "ok_front").iterdir()), *sorted((SAMPLE / "def_front").iterdir())]


def _photo(path: Path) -> GrayImage:
    image = read_image(path).image
    assert image is not None
    return u8(image)


def _vignetted(side: int, rng: np.random.Generator) -> GrayImage:
    """A belt, brighter in the middle than in the corners by 50 grey levels (a lens's vignetting, a lamp's spot)."""
    yy, xx = np.mgrid[:side, :side].astype(np.float32) - side / 2
    fall = np.sqrt(xx * xx + yy * yy) / (side / 2 * np.sqrt(2))
    return u8(np.clip(90 - 50 * fall + rng.normal(0, 3, (side, side)), 0, 255))


def _crop_of(photo: GrayImage, scale: float = 1.0, dx: float = 0.0) -> GrayImage:
    """The square crop the archive keeps of ``photo``'s part, for a circle ``scale`` times the part's, ``dx`` radii off."""
    c = preprocess(photo, SPEC).circle
    assert c is not None
    r = round(c.r * scale * (1 + CROP_MARGIN))
    canvas = cv2.copyMakeBorder(photo, r, r, r, r, cv2.BORDER_REPLICATE)
    x, y = round(c.cx + dx * c.r), round(c.cy)
    return u8(canvas[y : y + 2 * r, x : x + 2 * r])


def test_a_crop_of_its_part_is_taught_with_the_circle_it_is_centred_on() -> None:
    crop = _crop_of(_photo(_photos()[-1]))
    pre, why = inspect(crop, SPEC, "defect")
    h, w = crop.shape
    assert why == "" and pre is not None and pre.circle == Circle(w / 2, h / 2, min(w, h) / 2 / (1 + CROP_MARGIN))


def test_every_crop_of_the_samples_parts_but_one_is_taught() -> None:
    """The bundled sample's parts, cropped as the archive crops them (one, whose rim is mostly lost in its light, is not)."""
    refused = [p.name for p in _photos() if inspect(_crop_of(_photo(p)), SPEC, "ok")[0] is None]
    assert len(refused) <= 1, refused


def test_a_square_image_with_no_part_or_a_part_elsewhere_or_of_another_size_is_never_taught() -> None:
    assert inspect(_vignetted(300, np.random.default_rng(5)), SPEC, "ok") == (None, "rim_unseen")  # a belt, brighter in the middle
    board = (np.kron(np.indices((38, 38)).sum(axis=0) % 2, np.ones((8, 8))) * 110 + 60).astype(np.uint8)[:300, :300]
    assert inspect(board, SPEC, "ok") == (None, "rim_unseen")  # strong edges everywhere, on no one ellipse
    for path in [*_photos()[:6], *_photos()[-6:]]:
        photo = _photo(path)
        for scale in (0.8, 1.2):  # centred, but the crop was made for a circle of another size
            assert inspect(_crop_of(photo, scale), SPEC, "ok")[0] is None, (path.name, scale)
        assert inspect(_crop_of(photo, 1.0, dx=0.5), SPEC, "ok") == (None, "rim_unseen"), path.name  # half a radius off


def test_a_crop_of_a_part_the_station_could_not_inspect_is_not_taught() -> None:
    assert inspect(_crop_of(_photo(_photos()[0])), SPEC, "unable_to_inspect") == (None, "not inspectable on the line")


def test_the_station_reasons_are_read_by_file_name_and_labels_that_are_not_an_exports_are_refused(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text('file,reason,score\ndef_front/a.png,defect,0.9\n"ok_front/b,1.png",unable_to_inspect,\n')
    assert read_labels(tmp_path).reasons == {"a.png": "defect", "b,1.png": "unable_to_inspect"}
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbffile,reason\ndef_front/a.png,defect\n")  # a spreadsheet's BOM
    assert read_labels(tmp_path).reasons == {"a.png": "defect"}
    (tmp_path / "labels.csv").write_text("name,label\na.png,ok\n")
    with pytest.raises(InputError, match=r"labels\.csv: not an export's labels"):
        read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("")
    with pytest.raises(InputError, match=r"labels\.csv: not an export's labels"):
        read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("file,reason,score\ndef_front/a.png,defect,0.9\n,,\n,,,,\n")  # a spreadsheet's empty rows
    assert read_labels(tmp_path).reasons == {"a.png": "defect"}
    (tmp_path / "labels.csv").unlink()
    for odd in ("folder", "pipe"):  # a pipe would block the read for ever
        (tmp_path / "labels.csv").mkdir() if odd == "folder" else os.mkfifo(tmp_path / "labels.csv")
        with pytest.raises(InputError, match=r"labels\.csv: not a regular file"):
            read_labels(tmp_path)
        os.rmdir(tmp_path / "labels.csv") if odd == "folder" else (tmp_path / "labels.csv").unlink()


@pytest.mark.parametrize(
    ("rows", "named"),
    [("def_front/a.png,UNABLE_TO_INSPECT\n", r"line 2: reason 'UNABLE_TO_INSPECT' is not one of the station's"),
     ("def_front/a.png,defect\nok_front/a.png,unable_to_inspect\n", r"line 3: a\.png is listed again with another reason"),
     ("file,reason,reason\ndef_front/a.png,defect,ok\n", r"line 1: the column 'reason' is named twice"),
     ("def_front/a.png,defect\n\n\nok_front/a.png,ok\n", r"line 5: a\.png is listed again with another reason")],
    ids=["unknown-reason", "one-name-two-reasons", "a-column-twice", "after-blank-lines"],
)  # fmt: skip
def test_export_labels_a_crop_could_be_wrongly_taught_by_are_refused_naming_the_line(tmp_path: Path, rows: str, named: str) -> None:
    (tmp_path / "labels.csv").write_text(rows if rows.startswith("file,") else "file,reason\n" + rows)  # with its header, or this one
    with pytest.raises(InputError, match=named):
        read_labels(tmp_path)


def _exported(tmp_path: Path, n: int) -> Path:
    """A folder as ``station archive export`` writes it: square crops centred on each part's circle grown by CROP_MARGIN."""
    root = sample_line(tmp_path, n)
    for p in root.glob("*/*"):
        img = read_image(p).image
        assert img is not None
        c = preprocess(img, SPEC).circle
        assert c is not None
        r = round(c.r * (1 + CROP_MARGIN))
        canvas = cv2.copyMakeBorder(img, r, r, r, r, cv2.BORDER_REPLICATE)  # a part near the photo's edge stays centred
        x, y = round(c.cx), round(c.cy)
        cv2.imwrite(str(p.with_suffix(".png")), canvas[y : y + 2 * r, x : x + 2 * r])
        p.unlink()
    rows = [f"{p.parent.name}/{p.name},{'defect' if p.parent.name == 'def_front' else 'ok'},0.5,m,0" for p in sorted(root.glob("*/*.png"))]
    (root / "labels.csv").write_text("\n".join(["file,reason,score,model,captured_at", *rows]) + "\n")
    return root


def test_an_archive_export_is_read_centred_and_its_unlabelled_crops_are_named(tmp_path: Path) -> None:
    root = _exported(tmp_path, 2)
    (root / "review").mkdir()
    shutil.copy(sorted((SAMPLE / "ok_front").iterdir())[5], root / "review" / "x.jpeg")
    col = collect([root], SPEC, load_config(None, []))
    assert col.counts()["ok"] == 2 and col.counts()["defective"] == 2
    s = col.samples[0]
    h, w = s.image.shape
    assert (s.circle.cx, s.circle.cy, s.circle.r) == (w / 2, h / 2, min(w, h) / 2 / (1 + CROP_MARGIN))
    assert any("review" in n and "1 crops not used" in n for n in col.notes)


def test_files_an_exports_labels_do_not_list_are_counted_in_a_note(tmp_path: Path) -> None:
    """A labels.csv left with its header alone (or another export's): its crops are read as photos, which the note says."""
    root = _exported(tmp_path, 2)
    assert not any("not in labels.csv" in n for n in collect([root], SPEC, load_config(None, [])).notes)
    header = (root / "labels.csv").read_text().splitlines()[0]
    (root / "labels.csv").write_text(header + "\n")
    note = "4 of the 4 files in the label folders are not in labels.csv: each was read as a photo, its part located afresh"
    assert any(n.startswith(note) for n in collect([root], SPEC, load_config(None, [])).notes)


def test_exported_crops_still_labelled_by_the_station_s_verdict_are_counted_in_a_note(tmp_path: Path) -> None:
    """label_by station: the export sorted the crop by the station's verdict, and no person has moved it since. Taught as
    is, an escape the old model passed would be learnt as good; a person may have looked and agreed, so it is a note."""
    root = _exported(tmp_path, 2)
    rows = (root / "labels.csv").read_text().splitlines()
    by = ["station", "station", "Ana", "Ana"]
    (root / "labels.csv").write_text("\n".join([rows[0] + ",label_by", *(f"{r},{b}" for r, b in zip(rows[1:], by, strict=True))]) + "\n")
    note = "2 crops are still labelled by the station's own verdict (labels.csv label_by station, in the folder the export put them in)"
    assert any(n.startswith(note) for n in collect([root], SPEC, load_config(None, [])).notes)
    moved = root / rows[1].split(",")[0]  # a person looked and moved it: labelled by them now
    other = "ok_front" if moved.parent.name == "def_front" else "def_front"
    moved.rename(root / other / moved.name)
    notes = collect([root], SPEC, load_config(None, [])).notes
    assert any(n.startswith(note.replace("2 crops are", "1 crop is")) for n in notes)


def _with_digests(root: Path) -> None:
    """``root``'s labels.csv as an export since 2026-12-04 writes it: with the SHA-256 of each crop file."""
    rows = (root / "labels.csv").read_text().splitlines()
    digests = [hashlib.sha256((root / r.split(",")[0]).read_bytes()).hexdigest() for r in rows[1:]]
    (root / "labels.csv").write_text("\n".join([rows[0] + ",sha256", *(f"{r},{d}" for r, d in zip(rows[1:], digests, strict=True))]) + "\n")


def test_a_crop_the_export_wrote_is_taught_on_the_stations_circle_though_off_the_rims_centre(tmp_path: Path) -> None:
    """The station's round search puts a tilted part's circle up to 0.15 of its radius off the rim's centre, and a damaged
    rim's by 0.06-0.08; it inspected those parts on that circle, so teaching takes the crops it wrote as they are (a trial
    run's export of a tilted line lost 37 of 80 crops to the rim check). An older export names no digests: checked."""
    root = _exported(tmp_path, 2)
    crop = sorted((root / "ok_front").iterdir())[0]
    cv2.imwrite(str(crop), _crop_of(_photo(sorted((SAMPLE / "ok_front").iterdir())[0]), 1.0, dx=0.12))
    assert inspect(_photo(crop), SPEC, "ok") == (None, "not_centred")
    older = collect([root], SPEC, load_config(None, []))
    assert [Path(r.origin).name for r in older.refused] == [crop.name]
    _with_digests(root)
    col = collect([root], SPEC, load_config(None, []))
    assert col.refused == [] and col.counts() == {"ok": 2, "defective": 2, "not_inspectable": 0, "unreadable": 0}
    (taught,) = [s for s in col.samples if s.origin == str(crop)]
    h, w = taught.image.shape
    assert (taught.circle.cx, taught.circle.cy) == (w / 2, h / 2), "on the circle the station inspected it on"


def test_a_file_changed_since_the_export_wrote_it_is_read_as_a_photo_and_named(tmp_path: Path) -> None:
    """Put under a crop's name (here a whole photo, its part off the image's centre), its bytes differ from the digest:
    its part is located afresh, never taken on the crop's circle, and the note names it."""
    root = _exported(tmp_path, 2)
    _with_digests(root)
    crop = sorted((root / "def_front").iterdir())[0]
    photo = _photo(sorted((SAMPLE / "def_front").iterdir())[3])
    h, w = photo.shape
    canvas = np.full((h * 2, w * 2), int(photo[0, 0]), np.uint8)
    canvas[h // 8 : h // 8 + h, w // 8 : w // 8 + w] = photo  # the whole part, off the image's centre
    cv2.imwrite(str(crop), canvas)
    col = collect([root], SPEC, load_config(None, []))
    (taught,) = [s for s in col.samples if s.origin == str(crop)]
    assert abs(taught.circle.cx - (w // 8 + w / 2)) < 0.1 * w, "located where the part is, not on the crop's circle"
    assert any(n.startswith(f"1 files differ from the crops the export wrote under their names (the first: {crop})") for n in col.notes)


def test_an_exported_crop_is_used_only_where_the_station_finds_its_part_centred(tmp_path: Path) -> None:
    """labels.csv marks a folder as an archive export, whose crops are centred on the part: in an older export (no
    digests), an image with no part in it, or with the part elsewhere, is refused as the station would refuse it, never
    taught as a part."""
    root = _exported(tmp_path, 2)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "ok_front" / "noise.png"), rng.integers(0, 256, (300, 300), dtype=np.uint8))
    grey = np.full((300, 300), 128, np.uint8)
    cv2.putText(grey, "HELLO", (40, 160), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 255, 4)
    cv2.imwrite(str(root / "ok_front" / "hello.png"), grey)
    photo = read_image(sorted((SAMPLE / "ok_front").iterdir())[0]).image
    assert photo is not None
    off_centre = np.full((photo.shape[0] * 2, photo.shape[1] * 2), int(photo[0, 0]), np.uint8)
    off_centre[: photo.shape[0], : photo.shape[1]] = photo  # the whole part, in the top-left quarter of a square image
    cv2.imwrite(str(root / "ok_front" / "corner.png"), off_centre)
    with (root / "labels.csv").open("a") as f:  # as if the export had written them
        f.writelines(f"ok_front/{name},ok,0.1,m,0\n" for name in ("noise.png", "hello.png", "corner.png"))
    col = collect([root], SPEC, load_config(None, []))
    assert {Path(r.origin).name: r.why for r in col.refused} == dict.fromkeys(("noise.png", "hello.png", "corner.png"), "rim_unseen")
    assert col.counts() == {"ok": 2, "defective": 2, "not_inspectable": 3, "unreadable": 0}
    (root / "labels.csv").write_text("file,reason\n")  # not written by the export: each is a photo, located afresh
    again = collect([root], SPEC, load_config(None, []))
    assert "corner.png" not in {Path(r.origin).name for r in again.refused} and again.counts()["ok"] == 3  # its whole part


@pytest.mark.integration
def test_the_parts_a_trial_run_on_footage_archived_are_taught_from_their_exported_crops(tmp_path: Path) -> None:
    """An exported crop leaves little belt round the part (CROP_MARGIN): with a rim sector shaded into the belt, the
    locator found 4 of these cut off; the crop's own rim is checked instead. Two, whose rim has a fixture ring round it
    and a shaded side, show it on too few rays: they are named, not taught (station/teach/exported.py)."""
    from station import supervisor
    from station.export import export
    from station.model import Model
    from station.pipeline import RunOptions
    from station.sources import source_for

    env = Envelope(width=1280, height=720, fps=30, speed=20.0, diameter=300.0, shade=0.6)
    video = compose(labelled_photos(SAMPLE), tmp_path / "line.mp4", env, seed=5)
    run = ["metrics.enabled=false", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]
    cfg = load_config(None, [*run, f"archive.dir={tmp_path / 'archive'}", "archive.pass_sample=1.0"])
    assert supervisor.run_pipeline(cfg, Model(MODEL), source_for(str(video)), RunOptions(out=tmp_path / "v.jsonl")) == 0
    counts = export(tmp_path / "archive", tmp_path / "export").counts  # by the station's verdict: no relabelling needed here
    col = collect([tmp_path / "export"], SPEC, load_config(None, []))
    assert len(col.samples) + len(col.refused) == counts["ok_front"] + counts["def_front"] >= 30
    assert col.refused == [], "the crops the export wrote are taught on the station's own circles"


def test_an_exported_crop_under_both_labels_is_refused_though_one_copy_was_not_inspectable(tmp_path: Path) -> None:
    """In an export each crop's reason comes from labels.csv by name: a copy of a good crop put under def_front/ and
    listed unable_to_inspect was refused, and the good copy was taught as good."""
    root = _exported(tmp_path, 2)
    crop = sorted((root / "ok_front").iterdir())[0]
    shutil.copy(crop, root / "def_front" / "zz.png")
    with (root / "labels.csv").open("a") as f:
        f.write("def_front/zz.png,unable_to_inspect,,m,0\n")
    with pytest.raises(InputError, match=rf"zz\.png: the same photo as .*{crop.name}, which is labelled good, but here defective"):
        collect([root], SPEC, load_config(None, []))


def test_an_exported_crop_is_judged_by_the_taught_models_checks_as_a_photo_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether an exported crop can be inspected is the taught model's to say (its search, which fits an ellipse), as for a
    photo. No real crop is known that the base's checks on its centred circle pass and the taught model's refuse, so the
    taught checks are made to find one blurred: the crop is refused as blurred, and its like under the other label taught."""
    from dataclasses import replace

    from station.preprocess import Quality
    from station.teach import samples as sm

    root = _exported(tmp_path, 1)
    blurred = sorted((root / "def_front").iterdir())[0]
    pixels = _photo(blurred)

    def judged(image: GrayImage, spec: PreprocessSpec, circle: Circle | None = None, found: Circle | None = None) -> Any:
        pre = preprocess(image, spec, circle=circle, found=found)
        taught_blurred = spec.rectify and found is not None and np.array_equal(image, pixels)
        return replace(pre, quality=Quality.BLURRED, crop=None) if taught_blurred else pre

    monkeypatch.setattr(sm, "preprocess", judged)
    col = collect([root], SPEC, load_config(None, []))
    assert [(r.origin, r.why) for r in col.refused] == [(str(blurred), "blurred")]
    assert [s.label for s in col.samples] == [0]


def test_an_exports_labels_that_are_a_link_leading_nowhere_stop_teaching_with_their_name(tmp_path: Path) -> None:
    """Without its labels.csv an export's crops would be taught as photos, without a word: the station's reasons and the
    crops' geometry unread, and the note on crops still labelled by the station's verdict gone."""
    root = _exported(tmp_path, 1)
    (root / "labels.csv").unlink()
    (root / "labels.csv").symlink_to(root / "gone.csv")
    with pytest.raises(InputError, match=r"labels\.csv: cannot read the labels: No such file"):
        collect([root], SPEC, load_config(None, []))


def test_a_crop_of_a_part_located_nowhere_moved_into_a_label_folder_is_not_taught(tmp_path: Path) -> None:
    """A part that was late or failed, never located (its crop the trigger's box): the export puts it in review/, and a
    person may move it; its digest matches, but there is no rim on the circle the crop's size implies (a review's case)."""
    from station.export import export

    day = tmp_path / "a" / "2026-01-01" / "reject"
    day.mkdir(parents=True)
    photo = _photo(sorted((SAMPLE / "def_front").iterdir())[0])
    cv2.imwrite(str(day / "boxed.png"), photo)
    (day / "boxed.json").write_text(json.dumps({"reason": "late", "circle": None}))
    export(tmp_path / "a", tmp_path / "out")
    (tmp_path / "out" / "review" / "boxed.png").rename(tmp_path / "out" / "def_front" / "boxed.png")  # a person sorted it
    col = collect([tmp_path / "out"], SPEC, load_config(None, []))
    assert [(Path(r.origin).name, r.why) for r in col.refused] == [
        ("boxed.png", "located nowhere on the line (its crop is a box round it, not its rim)")
    ]


def test_odd_rows_of_labels_csv_are_read_as_a_person_may_leave_them(tmp_path: Path) -> None:
    """A digest with spaces round it (a spreadsheet) still names its crop; a crop listed twice is refused naming both lines;
    an empty circle cell is an older sidecar (no circle kept), not a part located nowhere (the export writes null)."""
    root = _exported(tmp_path, 2)
    _with_digests(root)
    rows = (root / "labels.csv").read_text().splitlines()
    header, body = rows[0], rows[1:]
    spaced = [",".join([*r.split(",")[:-1], f"  {r.split(',')[-1].upper()} "]) for r in body]
    (root / "labels.csv").write_text("\n".join([header + ",circle", *(f"{r}," for r in spaced)]) + "\n")
    col = collect([root], SPEC, load_config(None, []))
    assert col.refused == [] and len(col.samples) == 4 and not any("differ from the crops" in n for n in col.notes)
    (root / "labels.csv").write_text("\n".join([header, *body, body[0]]) + "\n")
    with pytest.raises(InputError, match=rf"labels\.csv: line {len(body) + 2}: .* is listed again \(line 2\)"):
        collect([root], SPEC, load_config(None, []))
