"""The defect classifier's network (training-only: PyTorch is an optional dependency)."""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, stride: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DefectNet(nn.Module):
    """Plain CNN, narrow where the image is large and wide where it is small (cheap on a CPU).

    192 px in (or 288, with a stride-3 first layer); then stride-2 stages to 6 x 6. The head pools
    both the mean and the max of the last features, so one small defect anywhere on the face (a pin
    hole) can drive the score.
    """

    def __init__(self, width: int = 16, pit_head: bool = False, size: int = 192) -> None:
        super().__init__()
        w = width
        if size % 96:
            raise ValueError(f"input size {size} is not a multiple of 96")
        stride = size // 96  # 192: a 3 x 3 stride-2 first layer; 288: 5 x 5 stride 3 (each pixel seen, pits kept sharp)
        self.features = nn.Sequential(
            _conv(1, w, stride, 2 * stride - 1),  # 96
            _conv(w, w * 3 // 2, 2),  # 48
            _conv(w * 3 // 2, 2 * w, 1),
            _conv(2 * w, 4 * w, 2),  # 24
            _conv(4 * w, 4 * w, 1),
            _conv(4 * w, 8 * w, 2),  # 12
            _conv(8 * w, 8 * w, 1),
            _conv(8 * w, 12 * w, 2),  # 6
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(24 * w, 1))
        # training only: where painted pits are, per cell of the 24 x 24 stage (not in the export)
        self.pits = nn.Conv2d(4 * w, 1, 1) if pit_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_pits(x)[0]

    def forward_with_pits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The defect probability, and the pit logits per 8 x 8 px cell when the pit head is on."""
        f = self.features[:5](x)
        pit_logits = self.pits(f) if self.pits is not None else None
        f = self.features[5:](f)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return torch.sigmoid(self.head(pooled)), pit_logits
