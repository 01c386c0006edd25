"""tools/toolkit.py: the helpers the benchmark, training and split tools share, and what a training run records of its machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from station.preprocess import PreprocessSpec
from tools import toolkit

from .conftest import SAMPLE

SPEC = PreprocessSpec(size=64)


def _photos(tmp_path: Path) -> list[Path]:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    return [*sorted((SAMPLE / "ok_front").glob("*.jp*g"))[:2], bad]


def test_photo_crops_skips_an_unreadable_photo_when_asked(tmp_path: Path) -> None:
    crops = toolkit.photo_crops(_photos(tmp_path), SPEC, "skip")
    assert crops.shape == (2, 64, 64)


def test_photo_crops_names_an_unreadable_photo_when_every_photo_must_count(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"broken\.jpg: not a decodable image"):
        toolkit.photo_crops(_photos(tmp_path), SPEC, "raise")


def test_photo_crops_refuses_to_return_nothing(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no part found in any of the 1 photos"):
        toolkit.photo_crops(_photos(tmp_path)[-1:], SPEC, "skip")


def test_cpu_reads_a_name_and_flags_and_tolerates_a_missing_cpuinfo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f\n")
    monkeypatch.setattr(toolkit, "CPUINFO", cpuinfo)
    assert toolkit.cpu() == ("Test CPU 9000", ["fpu", "avx2", "avx512f"])
    monkeypatch.setattr(toolkit, "CPUINFO", tmp_path / "missing")
    name, flags = toolkit.cpu()
    assert name and flags == []


def test_in_batches_scores_every_crop_once_in_order() -> None:
    crops = [np.full((4, 4), float(i), dtype=np.float32) for i in range(7)]
    sizes: list[int] = []

    def score(batch: np.ndarray) -> np.ndarray:
        sizes.append(len(batch))
        return batch[:, 0, 0].astype(np.float32)

    assert toolkit.in_batches(score, crops, batch=3).tolist() == list(range(7))
    assert sizes == [3, 3, 1]


def test_environment_names_each_library_and_the_cpus_instruction_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the train extra (PyTorch) is not installed")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Test CPU 9000\nflags\t\t: fpu avx2\n")
    monkeypatch.setattr(toolkit, "CPUINFO", cpuinfo)
    env = toolkit.environment()
    assert set(env) == {"python", "torch", "numpy", "opencv", "onnxruntime", "cpu"}
    assert env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    assert env["cpu"] == f"Test CPU 9000 (avx2, {torch.get_num_threads()} threads)"
