"""Helpers of the tools: the machine's CPU and libraries, photos through the station's own crop, scoring in batches."""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

CPUINFO = Path("/proc/cpuinfo")


def cpu() -> tuple[str, list[str]]:
    """The CPU's model name and instruction-set flags (the machine's architecture and no flags where /proc/cpuinfo is missing)."""
    lines = CPUINFO.read_text().splitlines() if CPUINFO.is_file() else []
    name = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), platform.machine())
    flags = next((x.split(":", 1)[1].split() for x in lines if x.startswith("flags")), [])
    return name, flags


def photo_crops(paths: list[Path], spec: Any, unreadable: Literal["skip", "raise"]) -> np.ndarray[Any, Any]:
    """The station's crop of each photo (N x S x S), leaving out photos where no part is found.

    An unreadable photo is left out too (``"skip"``: a benchmark on whatever photos there are) or
    stops the tool with its path named (``"raise"``: a comparison that must use every photo given)."""
    from station.preprocess import preprocess
    from station.stills import read_image

    out = []
    for p in paths:
        grab = read_image(p)
        if grab.image is None:
            if unreadable == "raise":
                raise SystemExit(grab.error or f"{p}: not a readable image")  # the station's own reason, naming the file
            continue
        pre = preprocess(grab.image, spec)
        if pre.crop is not None:
            out.append(pre.crop)
    if not out:
        raise SystemExit(f"no part found in any of the {len(paths)} photos")
    return np.stack(out)


def in_batches(
    score_batch: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]], crops: Sequence[npt.NDArray[np.float32]], batch: int = 128
) -> npt.NDArray[np.float32]:
    """Scores of crops (each S x S), ``batch`` at a time, by a function of an N x S x S batch."""
    return np.concatenate([score_batch(np.stack(crops[k : k + batch])) for k in range(0, len(crops), batch)])


def environment() -> dict[str, str]:
    """What a bit-for-bit rerun needs to match: float kernels and image resampling differ between
    library versions and CPU instruction sets, so the same seed can train a slightly different net."""
    import cv2
    import onnxruntime
    import torch

    name, flags = cpu()
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return {
        "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
        "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__, "cpu": f"{name} ({isa}, {torch.get_num_threads()} threads)",
    }  # fmt: skip
