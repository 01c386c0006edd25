"""station/unwrap.py: the polar unwrap the station applies before a polar network's graph."""

from __future__ import annotations

import numpy as np
import pytest

from station.unwrap import PolarUnwrap, UnwrapSpec, polar_grid


def _unwrap(crop: np.ndarray, rings: int, angles: int, overlap: float, reach: float = 1.0) -> np.ndarray:
    out: np.ndarray = PolarUnwrap(UnwrapSpec(rings, angles, reach, overlap), crop.shape[0])(crop[None].astype(np.float32))[0, 0]
    return out


def test_a_ring_around_the_centre_is_one_row_of_the_polar_image() -> None:
    yy, xx = np.mgrid[0:192, 0:192] - 95.5
    crop = (np.abs(np.hypot(xx, yy) - 48.0) < 1.5).astype(np.float32)  # a thin ring at half the crop's half side
    polar = _unwrap(crop, 96, 416, 1 / 16)
    assert polar.shape == (96, 416)
    row = int(np.argmax(polar.mean(axis=1)))
    assert abs(row - 48) <= 1  # ring k samples radius (k + 0.5) / 96 of the half side
    assert polar[row].min() > 0.5 * polar[row].max()  # all the way round


def test_turning_the_crop_shifts_the_polar_image_along_the_angle() -> None:
    crop = np.random.default_rng(0).normal(size=(192, 192)).astype(np.float32)
    polar = _unwrap(crop, 64, 416, 1 / 12)  # 384 samples a turn (+ 32 of overlap): a quarter turn is 96
    turned = _unwrap(np.rot90(crop), 64, 416, 1 / 12)
    shifted = [np.abs(turned[:, 100:300] - polar[:, 100 + s : 300 + s]).max() for s in (-96, 96)]
    assert min(shifted) < 1e-3  # the same samples, 90 degrees along (float rounding of the angles)
    assert np.abs(turned - polar).max() > 0.5  # and not merely an image that looks the same turned


def test_the_seam_is_overlapped_so_both_ends_show_the_same_angles() -> None:
    crop = np.random.default_rng(1).normal(size=(192, 192)).astype(np.float32)
    polar = _unwrap(crop, 64, 416, 1 / 12)
    assert np.abs(polar[:, :32] - polar[:, 384:]).max() < 1e-3  # the first 32 angles come round again at the end


@pytest.mark.parametrize(("size", "reach"), [(192, 0.9655), (64, 1.0), (33, 0.5)])
def test_the_unwrap_is_onnx_runtimes_grid_sample(size: int, reach: float) -> None:
    """Whole-graph models (and training, through torch) sample with GridSample; the table must agree."""
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort

    spec = UnwrapSpec(32, 96, reach, 1 / 16)
    grid = np.repeat(polar_grid(spec)[None], 2, axis=0)  # GridSample takes one grid per image
    h = onnx.helper
    graph = h.make_graph(
        [h.make_node("GridSample", ["x", "grid"], ["y"], mode="bilinear", padding_mode="zeros", align_corners=0)],
        "unwrap",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 1, size, size])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 1, 32, 96])],
        initializer=[onnx.numpy_helper.from_array(grid, "grid")],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    crops = np.random.default_rng(2).normal(size=(2, size, size)).astype(np.float32)
    expected = sess.run(None, {"x": crops[:, None]})[0]
    got = PolarUnwrap(spec, size)(crops)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-5
    if reach == 1.0:  # the outer ring reaches the crop's edge: beyond it counts as zero, as in GridSample
        assert np.abs(expected[:, :, -1]).max() > 0


def test_a_crop_of_another_size_is_refused() -> None:
    unwrap = PolarUnwrap(UnwrapSpec(32, 64, 0.9, 0.0), 96)
    with pytest.raises(ValueError, match="96 x 96"):
        unwrap(np.zeros((1, 64, 64), np.float32))


@pytest.mark.parametrize(
    ("fields", "message"),
    [((0, 64, 0.9, 0.0), "positive"), ((32, 64, 1.5, 0.0), "reach"), ((32, 64, 0.9, 1.0), "overlap")],
)
def test_impossible_geometry_is_refused(fields: tuple[int, int, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UnwrapSpec(*fields)
