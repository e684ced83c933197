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


def spot_images(n=3):
    """``[n, 3, 32, 32]`` seeded images: a dim background with one bright 8 x 8 spot at rows/cols 8-16."""
    gen = torch.Generator().manual_seed(1)
    x = 0.3 * torch.rand(n, 3, 32, 32, generator=gen)
    for i in range(n):
        x[i, :, 8:16, 8:16] = 0.6 + 0.08 * i + 0.08 * torch.rand(3, 8, 8, generator=gen)
    return x
