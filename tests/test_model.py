from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from station import model as meta
from station import onnxgraph
from station.errors import ModelError
from station.model import Model, Threads
from station.unwrap import PolarUnwrap, UnwrapSpec

from .conftest import MODEL
from .variants import tiny_model

onnx = pytest.importorskip("onnx")
helper = onnx.helper


_UNWRAP: dict[str, Any] = {"rings": 32, "angles": 96, "reach": 0.9, "overlap": 0.0625}


def test_metadata_drives_the_model(tmp_path: Path) -> None:
    m = Model(tiny_model(tmp_path / "t.onnx"))
    assert m.info.spec.size == 32 and m.info.threshold == 0.5 and m.info.band == (0.4, 0.6)
    assert m.info.class_names == ("ok", "defect") and m.info.model_id.startswith("t-0.0.1-")
    s = m.score(np.zeros((2, 32, 32), np.float32))
    assert s.shape == (2,) and np.allclose(s, 0.5)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({meta.META_THRESHOLD: None}, "lacks station.threshold"),
        ({meta.META_INPUT: "{not json"}, "malformed"),
        ({meta.META_INPUT: json.dumps({"size": 32, "colour": True})}, "unknown fields"),
        ({meta.META_BAND: "[0.6, 0.7]"}, "inconsistent"),
        ({meta.META_CLASSES: '["defect", "ok"]'}, r'class names \["defect", "ok"\] are not \["ok", "defect"\]'),
        ({meta.META_CLASSES: '["ok", "defect", "scrap"]'}, "class names"),
        ({meta.META_CLASSES: '"ok"'}, "class names"),
        ({meta.META_CLASSES: "[" * 100_000 + "]" * 100_000}, "model metadata is malformed"),  # a RecursionError: a traceback
        ({meta.META_UNWRAP: json.dumps({**_UNWRAP, "reach": 3.0})}, "station.unwrap is malformed: reach 3.0"),
        ({meta.META_UNWRAP: json.dumps({**_UNWRAP, "spiral": True})}, "station.unwrap has unknown fields"),
        ({meta.META_UNWRAP: "[32, 96]"}, "station.unwrap is not a JSON object"),
        (
            {meta.META_UNWRAP: json.dumps({**_UNWRAP, "rings": 10**6, "angles": 10**6})},  # its table: 3.6 TiB, a traceback
            r"station.unwrap is malformed: rings 1000000 x angles 1000000 is more than the 1048576 samples",
        ),
        ({meta.META_BAND: '["0.1", "0.9"]'}, "uncertain band .* is not two finite numbers"),
        ({meta.META_BAND: "[[0.1], [0.9]]"}, "uncertain band .* is not two finite numbers"),
        ({meta.META_BAND: '{"a": 0.1, "b": 0.9}'}, "uncertain band .* is not two finite numbers"),
        ({meta.META_BAND: "[NaN, 0.9]"}, "uncertain band .* is not two finite numbers"),
        ({meta.META_INPUT: json.dumps({"size": "32"})}, 'station.input: size must be a whole number, not "32"'),
        ({meta.META_INPUT: json.dumps({"size": 32.0})}, "station.input: size must be a whole number, not 32.0"),
        ({meta.META_INPUT: '{"size": 32, "margin": NaN}'}, "station.input: margin must be a finite number, not NaN"),
        ({meta.META_INPUT: json.dumps({"size": 32, "rectify": "yes"})}, "station.input: rectify must be true or false"),
        ({meta.META_INPUT: json.dumps({"size": True})}, "station.input: size must be a whole number, not true"),
        ({meta.META_INPUT: '{"size": 32, "margin": 1' + "0" * 400 + "}"}, "station.input: margin must be a finite number"),
        ({meta.META_BAND: "[1" + "0" * 400 + ", 1]"}, "uncertain band .* is not two finite numbers"),
        ({meta.META_INPUT: json.dumps({"size": 32, "margin": 3.0})}, "station.input is malformed: margin 3.0: outside what a crop can be"),
        ({meta.META_INPUT: json.dumps({"size": 32, "clip": 1e300})}, "clip 1e\\+300: outside what a crop can be"),  # overflowed float32
        ({meta.META_TAUGHT: "{not json"}, "station.teach is not a JSON object whose parts are a list of digests"),
        ({meta.META_TAUGHT: '{"parts": [1, 2]}'}, "station.teach is not a JSON object whose parts are a list of digests"),
        ({meta.META_VERSION: "1" * 70_000}, r"model version '1{40}'\.\.\. is not 1 to 64 of"),  # every verdict would be 70 kB
        ({meta.META_VERSION: ""}, "model version '' is not 1 to 64"),
        ({meta.META_VERSION: "1.0\n"}, r"model version '1\.0\\n' is not"),
    ],
)
def test_bad_metadata_is_refused(tmp_path: Path, props: dict[str, str], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        Model(tiny_model(tmp_path / "t.onnx", props=props))


def test_wrong_shape_corrupt_and_missing_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="input shape"):
        Model(tiny_model(tmp_path / "s.onnx", shape=["n", 3, 32, 32]))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Model(bad)
    with pytest.raises(ModelError, match="cannot read"):
        Model(tmp_path / "missing.onnx")
    os.mkfifo(tmp_path / "pipe.onnx")  # reading it would block for ever
    for odd in (tmp_path / "pipe.onnx", Path("/dev/zero")):  # /dev/zero would never end
        with pytest.raises(ModelError, match="not a regular file"):
            Model(odd)


def test_a_polar_model_is_fed_the_crop_unwrapped_by_its_own_metadata(tmp_path: Path) -> None:
    polar = {meta.META_UNWRAP: json.dumps(_UNWRAP)}
    m = Model(tiny_model(tmp_path / "p.onnx", size=64, props=polar, shape=["n", 1, 32, 96]))
    assert m.info.unwrap == UnwrapSpec(**_UNWRAP) and m.info.spec.size == 64
    crops = np.random.default_rng(5).normal(size=(2, 64, 64)).astype(np.float32)
    means = PolarUnwrap(UnwrapSpec(**_UNWRAP), 64)(crops).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(m.score(crops), 1 / (1 + np.exp(-means)), atol=1e-6)  # the tiny graph: sigmoid of the mean
    with pytest.raises(ModelError, match=r"input shape \['n', 1, 64, 64\] does not match the metadata's \['n', 1, 32, 96\]"):
        Model(tiny_model(tmp_path / "q.onnx", size=64, props=polar))  # unwrap promised, square crop taken


def test_shipped_model_describes_itself_and_is_small() -> None:
    m = Model(MODEL)
    assert MODEL.stat().st_size <= 10_000_000
    assert m.info.spec.size >= 128 and 0 < m.info.threshold < 1
    assert m.info.band[0] <= m.info.threshold <= m.info.band[1]
    assert m.info.fingerprint and "validation" in m.info.metrics


@pytest.mark.parametrize("spin", [False, True])
def test_thread_settings_reach_the_session_and_change_no_score(spin: bool) -> None:
    one = Model(MODEL)
    crops = np.random.default_rng(0).normal(size=(3, one.info.spec.size, one.info.spec.size)).astype(np.float32)
    two = Model(MODEL, Threads(intra=2, spin_wait=spin))
    opts = two._session.get_session_options()  # ONNX Runtime reads its options back; nothing else shows them
    assert opts.intra_op_num_threads == 2
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == ("1" if spin else "0")
    np.testing.assert_allclose(two.score(crops), one.score(crops), atol=1e-5)


def test_an_output_of_another_count_of_numbers_than_crops_is_refused_not_read_as_scores(tmp_path: Path) -> None:
    m = Model(tiny_model(tmp_path / "t.onnx", numbers=2))
    with pytest.raises(ModelError, match="gave 4 numbers for 2 crops, not one score each"):
        m.score(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ModelError, match="gave 2 numbers for 1 crop,"):
        m.score_with_evidence(np.zeros((1, 32, 32), np.float32))


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("0", "0")], ids=["unset", "operator-set"])
def test_onnx_runtime_s_telemetry_is_off_before_it_loads_unless_the_operator_says_otherwise(given: str | None, seen: str) -> None:
    """ONNX Runtime's official wheels send usage telemetry to Microsoft (Linux too, since 1.29) unless ORT_DISABLE_TELEMETRY
    is set before it starts: on a line PC whose resolver never answers, its lookup held each exit 9.7 s more."""
    import subprocess
    import sys

    from .conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | ({"ORT_DISABLE_TELEMETRY": given} if given else {})
    code = "import os, station.model as m; m.Model(m.Path('station/defaults/defect.onnx')); print(os.environ['ORT_DISABLE_TELEMETRY'])"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == seen, p.stderr


def test_a_model_with_no_input_or_output_or_a_name_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    """ONNX Runtime raised IndexError or UnicodeDecodeError as they were read: a traceback at every door, exit 1."""
    tiny = onnx.load(str(tiny_model(tmp_path / "t.onnx")))
    del tiny.graph.output[:]
    onnx.save(tiny, str(tmp_path / "no_output.onnx"))
    with pytest.raises(ModelError, match=r"no_output\.onnx: its graph has no outputs: it cannot score a crop"):
        Model(tmp_path / "no_output.onnx")
    blob = (tmp_path / "t.onnx").read_bytes()
    assert blob.count(b"defect_probability") == 2  # the node's output and the graph's: one name, renamed in both
    (tmp_path / "bad_name.onnx").write_bytes(blob.replace(b"defect_probability", b"\xffefect_probability"))
    with pytest.raises(ModelError, match=r"bad_name\.onnx: its metadata or a name in its graph is not text \(UTF-8\)"):
        Model(tmp_path / "bad_name.onnx")


def test_a_score_out_of_range_in_the_graphs_own_precision_is_no_score(tmp_path: Path) -> None:
    """A double -1e-300 became -0.0 as float32, inside [0, 1]: the gate took the model and good parts passed on it."""
    got = meta.one_each(np.array([[-1e-300], [0.25], [1.0 + 1e-12], [0.0], [1.0]], np.float64), 5)
    assert got.dtype == np.float32 and np.isnan(got[0]) and np.isnan(got[2])
    np.testing.assert_array_equal(got[[1, 3, 4]], [0.25, 0.0, 1.0])
    assert np.isnan(meta.one_each(np.array([-0.001], np.float16), 1)[0])


def test_a_model_whose_weights_are_in_another_file_is_refused_wherever_it_is_loaded_from(tmp_path: Path) -> None:
    """Loaded from its bytes, ONNX Runtime looked for the data file in the working directory: refused from one folder,
    taken from another, and a data file swapped under an unchanged model id."""
    m = onnx.load(str(MODEL))
    onnx.save(m, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.data", size_threshold=0)
    here = Path.cwd()
    try:
        os.chdir(tmp_path)  # where the data file is: ONNX Runtime would find it
        with pytest.raises(ModelError, match=r"ext\.onnx: its weights are in another file \(ONNX external data\)"):
            Model(tmp_path / "ext.onnx")
    finally:
        os.chdir(here)
    assert not onnxgraph.external_data(MODEL.read_bytes())


def test_a_model_nesting_subgraphs_too_deep_to_read_is_refused_in_one_line(tmp_path: Path) -> None:
    """The scan for external data walks subgraphs: 5000 deep, a RecursionError's traceback at every door."""
    graph = b""
    for _ in range(5000):  # GraphProto.node 1 > NodeProto.attribute 5 > AttributeProto.g 6 > GraphProto ...
        graph = onnxgraph._bytes_field(1, onnxgraph._bytes_field(5, onnxgraph._bytes_field(6, graph)))
    (tmp_path / "deep.onnx").write_bytes(onnxgraph._bytes_field(7, graph))
    with pytest.raises(ModelError, match=r"deep\.onnx: its graph nests subgraphs too deep to read"):
        Model(tmp_path / "deep.onnx")
