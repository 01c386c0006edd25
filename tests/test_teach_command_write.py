"""station/teach/command.py: writing the model file, its self-test, and what is left when the gate refuses it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from station.config import SHIPPED_MODEL, load_config
from station.errors import ModelError
from station.teach.finetune import plain

from .conftest import SAMPLE

pytest.importorskip("torch", reason="station teach needs PyTorch (pip install -e '.[train]')")
SHIPPED_DIGEST = hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest()


def _sample_line_written_as_the_base(limit: float) -> tuple[Any, Any, Any, dict[str, Any], Any]:
    """The bundled sample as a base candidate with pass limit ``limit``: (base, pick, collection, figures, labels) for _write."""
    from station.model import Model
    from station.teach.candidates import Candidate
    from station.teach.samples import collect
    from station.teach.threshold import Outcome, banded

    base = Model(SHIPPED_MODEL)
    col = collect([SAMPLE], base.info.spec, load_config(None, []))
    labels = np.array([s.label for s in col.samples], np.int64)
    crops = plain(col.samples, base.info.spec)
    pick = Candidate("base-line-threshold", base.info.spec, crops, base.score(crops).astype(np.float64),
                     Outcome(len(labels), int(labels.sum()), 0, 0), *banded(limit))  # fmt: skip
    figures = {"line": "", "counts": col.counts(), "held_out": pick.judged.as_dict(), "margin": 1.0,
               "gate": {"max_escape_rate": 0.0, "max_false_reject_rate": 0.03}}  # fmt: skip
    return base, pick, col, figures, labels


def test_a_model_the_gate_refuses_leaves_the_old_model_at_out_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from station.teach import command

    base, pick, col, figures, labels = _sample_line_written_as_the_base(0.5)
    out = tmp_path / "line.onnx"
    out.write_bytes(b"the model this line runs now")

    def refuse(path: Path) -> Any:
        raise ModelError(f"{path}: refused by the self-test: inverted")

    monkeypatch.setattr(command, "admit", refuse)
    why = command._write(out, None, base, pick, figures, col, labels, seed=1)
    assert why == f"{out}: the taught model failed the station's own gate (nothing written): refused by the self-test: inverted"
    assert out.read_bytes() == b"the model this line runs now" and list(tmp_path.iterdir()) == [out]


def test_a_model_whose_file_cannot_be_put_in_place_is_not_named_written_in_the_report(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from station.teach import command

    base, pick, col, figures, labels = _sample_line_written_as_the_base(0.5)
    out = tmp_path / "line.onnx"

    def full(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", full)
    why = command._write(out, None, base, pick, figures, col, labels, seed=1)
    assert why == f"{out}: cannot write the taught model: No space left on device"
    assert "written" not in figures and not out.exists()


def test_a_model_that_rejects_too_few_defects_clear_of_its_limit_for_a_self_test_is_not_written_and_says_why(tmp_path: Path) -> None:
    """Its self-test may carry only defects it rejects by a margin, scored as stored: at a limit of 0.999999 the sample's defects
    are too few for the gate, and teach says so, before the gate (which would call the self-test malformed)."""
    from station.teach import command

    base, pick, col, figures, labels = _sample_line_written_as_the_base(0.999999)
    out = tmp_path / "line.onnx"
    why = command._write(out, None, base, pick, figures, col, labels, seed=1)
    assert why is not None and why.startswith(f"{out}: it rejects only ") and why.endswith(" (nothing written)")
    assert "clear of its pass limit, and the model gate checks a taught model on 8 at least" in why
    assert list(tmp_path.iterdir()) == []


def test_a_candidate_that_could_carry_no_self_test_is_known_before_the_choice_so_the_next_is_tried() -> None:
    """The last check (which choose() moves on from) says so, where before only the write did, and teaching ended there."""
    from station.teach import command

    base, pick, _col, _figures, labels = _sample_line_written_as_the_base(0.999999)
    with command.as_file(None, base, pick) as run:
        assert command._no_self_test(run, pick, labels).startswith("it rejects only ")
    base, pick, _col, _figures, labels = _sample_line_written_as_the_base(0.5)
    with command.as_file(None, base, pick) as run:
        assert command._no_self_test(run, pick, labels) == ""


def test_a_written_self_test_carries_only_defects_the_file_rejects_as_the_gate_reads_them(tmp_path: Path) -> None:
    from station.gate import _taught
    from station.model import Model
    from station.teach import command

    base, pick, col, figures, labels = _sample_line_written_as_the_base(0.5)
    assert command._write(tmp_path / "line.onnx", None, base, pick, figures, col, labels, seed=1) is None
    model = Model(tmp_path / "line.onnx")
    carried = _taught(model)
    assert not isinstance(carried, str) and carried[2]  # marked: the gate asks every defective crop rejected
    crops, kinds, _ = carried
    assert all(float(model.score(c[None])[0]) > 0.5 for c, kind in zip(crops, kinds, strict=True) if kind == 1)
    import json

    import onnx

    props = {m.key: m.value for m in onnx.load(str(tmp_path / "line.onnx")).metadata_props}
    assert json.loads(props["station.teach"])["threshold_rule"].endswith("then the limit that rejects so many; never above 0.99")
