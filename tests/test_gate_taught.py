"""A taught model through the station's own model gate and hot reload: it goes live like the shipped one, and a taught file
that is edited, broken or inverted is still refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from station.config import SHIPPED_MODEL
from station.gate import admit
from station.metrics import Metrics
from station.reload import ModelSlot, Reloader

pytest.importorskip("torch", reason="station teach needs PyTorch (pip install -e '.[train]')")


@pytest.mark.parametrize(("field", "value"), [("margin", 0.3), ("clip", 1.5), ("clip", 8.0), ("mask_radius", 1.0)])
def test_a_taught_model_whose_crop_settings_were_changed_is_refused(taught: tuple[Path, Path], tmp_path: Path, field: str,
                                                                     value: object) -> None:  # fmt: skip
    """Its self-test keeps the pixels two of its crops were cut from: remade with other settings, they differ."""
    import onnx

    from station.errors import ModelError
    from station.model import META_INPUT, META_SELF_TEST

    m = onnx.load(str(taught[0]))
    props = {p.key: p for p in m.metadata_props}
    assert len(json.loads(props[META_SELF_TEST].value)["parts"]) == 2  # one of each class
    spec = json.loads(props[META_INPUT].value)
    assert spec[field] != value
    props[META_INPUT].value = json.dumps({**spec, field: value})
    onnx.save(m, str(tmp_path / "edited.onnx"))
    with pytest.raises(ModelError, match=r"does not remake the crops it was taught on|were stored with clip"):
        admit(tmp_path / "edited.onnx")


def test_a_taught_model_whose_clip_was_changed_with_its_remade_parts_removed_is_still_refused(taught: tuple[Path, Path],
                                                                                                tmp_path: Path) -> None:  # fmt: skip
    """The clip was compared only where the self-test kept parts to remake: emptying them let any clip through."""
    import onnx

    from station.errors import ModelError
    from station.model import META_INPUT, META_SELF_TEST

    m = onnx.load(str(taught[0]))
    props = {p.key: p for p in m.metadata_props}
    raw = json.loads(props[META_SELF_TEST].value)
    props[META_SELF_TEST].value = json.dumps({**raw, "parts": []})
    spec = json.loads(props[META_INPUT].value)
    props[META_INPUT].value = json.dumps({**spec, "clip": spec["clip"] / 2})
    onnx.save(m, str(tmp_path / "edited.onnx"))
    with pytest.raises(ModelError, match=r"its self-test crops were stored with clip .*its metadata was changed"):
        admit(tmp_path / "edited.onnx")


@pytest.mark.parametrize(
    "part",
    [{"image": ""}, {"square": ""}, {"circle": [10.0, 10.0, 0.0, 1.0, 0.0]}, {"circle": [10.0, 10.0, 9.0, 0.0, 0.0]}, {"crop": 1e300}],
    ids=["empty-image", "empty-square", "radius-0", "squash-0", "huge-index"],
)
def test_a_taught_model_with_a_broken_self_test_part_is_refused_never_a_traceback(taught: tuple[Path, Path], tmp_path: Path,
                                                                                     part: dict[str, object]) -> None:  # fmt: skip
    import onnx

    from station.errors import ModelError
    from station.model import META_SELF_TEST

    m = onnx.load(str(taught[0]))
    prop = next(p for p in m.metadata_props if p.key == META_SELF_TEST)
    raw = json.loads(prop.value)
    raw["parts"][0].update(part)
    prop.value = json.dumps(raw)
    onnx.save(m, str(tmp_path / "broken.onnx"))
    with pytest.raises(ModelError, match="metadata is malformed"):
        admit(tmp_path / "broken.onnx")


def test_a_taught_model_goes_live_through_hot_reload(tmp_path: Path, taught: tuple[Path, Path]) -> None:
    out = taught[0]
    live = tmp_path / "live.onnx"
    shutil.copy(SHIPPED_MODEL, live)
    slot = ModelSlot(admit(live))
    reloader = Reloader(live, slot, Metrics())
    shutil.copy(out, live)
    assert reloader.reload()
    assert slot.current.info.model_id != admit(SHIPPED_MODEL).info.model_id
    assert slot.current.info.self_test


def test_an_inverted_taught_model_is_still_refused(tmp_path: Path, taught: tuple[Path, Path]) -> None:
    import onnx

    from station.errors import ModelError

    m = onnx.load(str(taught[0]))
    out = tmp_path / "inverted.onnx"
    out_name = m.graph.output[0].name
    inner = m.graph.node[-1]
    inner.output[0] = "before_inversion"
    one = onnx.helper.make_tensor("one", onnx.TensorProto.FLOAT, [], [1.0])
    m.graph.initializer.append(one)
    m.graph.node.append(onnx.helper.make_node("Sub", ["one", "before_inversion"], [out_name]))
    onnx.save(m, str(out))
    with pytest.raises(ModelError, match="self-test"):
        admit(out)


@pytest.mark.parametrize("limit", [0.9999, "just past its nearest defect"])
def test_a_taught_model_whose_pass_limit_was_raised_past_a_defect_it_carries_is_refused(taught: tuple[Path, Path], tmp_path: Path,
                                                                                        limit: float | str) -> None:  # fmt: skip
    """A raised limit passed some of the defective crops it carries; the gate asked only 80 % of them judged right."""
    import onnx

    from station.errors import ModelError
    from station.gate import _taught
    from station.model import META_BAND, META_THRESHOLD, Model

    model = Model(taught[0])
    stored = _taught(model)
    assert not isinstance(stored, str), stored
    crops, labels = stored
    defective = [c for c, label in zip(crops, labels, strict=True) if label == 1]
    nearest = min(float(model.score(c[None])[0]) for c in defective)
    assert nearest > model.info.band[0]  # the file as written rejects every defective crop it carries
    raised = limit if isinstance(limit, float) else nearest + 1e-3
    m = onnx.load(str(taught[0]))
    for p in m.metadata_props:
        if p.key in (META_THRESHOLD, META_BAND):
            p.value = f"{raised:.6f}" if p.key == META_THRESHOLD else json.dumps([round(raised, 6), round(max(raised, 0.99995), 6)])
    onnx.save(m, str(tmp_path / "raised.onnx"))
    with pytest.raises(ModelError, match=r"it passes \d+ of the 16 defective self-test photos .*each must be rejected"):
        admit(tmp_path / "raised.onnx")
