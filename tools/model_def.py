"""The defect classifier's network (training-only: PyTorch is an optional dependency)."""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _sep(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DefectNet(nn.Module):
    """Small CNN: full-resolution stem for pin holes, separable body, avg+max pooled head.

    Max pooling lets one small defect anywhere on the face drive the score.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv(1, w // 2, 2),  # 96
            _conv(w // 2, w, 1),
            _sep(w, w, 2),  # 48
            _sep(w, 2 * w, 1),
            _sep(2 * w, 2 * w, 2),  # 24
            _sep(2 * w, 3 * w, 1),
            _sep(3 * w, 4 * w, 2),  # 12
            _sep(4 * w, 4 * w, 1),
            _sep(4 * w, 6 * w, 2),  # 6
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(12 * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return torch.sigmoid(self.head(pooled))
