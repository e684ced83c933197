"""Small analytic models shared by the metric and figure tests."""
from __future__ import annotations

import torch


class MeanModel(torch.nn.Module):
    """Two classes; softmax gives exactly ``p = mean(x)`` for class 0 (logits ``log p, log(1 - p)``)."""

    def forward(self, x):
        p = x.mean(dim=(1, 2, 3)).clamp(1e-30, 1 - 1e-12)
        return torch.stack([p.log(), torch.log1p(-p)], dim=1)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)
