"""tools/teach_sweep.py: the mirrored scoring it compares recipes with (needs the train extra)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="the train extra (PyTorch) is not installed")

from station.teach.net import DefectNet
from tools.teach_sweep import mirror_score


def test_a_part_scored_with_its_mirror_scores_the_same_as_its_mirror_image() -> None:
    import torch

    torch.manual_seed(3)
    net = DefectNet(width=4, size=96).eval()
    crops = np.random.default_rng(3).normal(0, 1, (3, 96, 96)).astype(np.float32)
    mirrored = np.ascontiguousarray(crops[:, :, ::-1])
    plain_a, plain_b = (net(torch.from_numpy(c)[:, None]).detach().numpy().ravel() for c in (crops, mirrored))
    assert not np.allclose(plain_a, plain_b)  # the network alone tells a crop from its mirror image
    np.testing.assert_allclose(mirror_score(net, crops), mirror_score(net, mirrored), rtol=1e-6)
