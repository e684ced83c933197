"""Slow, obviously correct references that the tests and benchmarks compare the batched code with.

Nothing here is fast: each function does one image and one step at a time, as the text of a
paper describes it, so that a reader can check it line by line.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .baselines import make_baseline

__all__ = ["reference_curve"]


def reference_curve(model, images: torch.Tensor, saliency: torch.Tensor, target, *, insertion: bool,
                    baseline="blur", n_steps: int = 100, seed: int | None = 0) -> torch.Tensor:
    """Deletion (or insertion) curve of :func:`igos.deletion_curve`, one image, one step and one
    forward pass at a time -> ``[N, S + 1]`` probabilities of ``target`` (``S = min(n_steps, h w)``).

    Cells are ranked by saliency ``[N, h, w]``, ties in the order of ``seed`` (a permutation of the
    cells, then a stable sort; ``None``: row-major order); after step ``j`` the first
    ``floor(j h w / S)`` cells are deleted (replaced by the baseline) or, for insertion, revealed
    on the baseline. The binary cell mask is upsampled bilinearly with ``align_corners=True``.
    """
    n, (h, w) = images.shape[0], saliency.shape[-2:]
    s = min(n_steps, h * w)
    base = make_baseline(baseline, images)
    out = torch.zeros(n, s + 1)
    for i in range(n):
        perm = (torch.randperm(h * w, generator=torch.Generator().manual_seed(seed)).numpy() if seed is not None
                else np.arange(h * w))
        order = perm[np.argsort(-saliency[i].flatten().cpu().numpy()[perm], kind="stable")]
        for j in range(s + 1):
            chosen = np.zeros(h * w, dtype=bool)
            chosen[order[: j * h * w // s]] = True
            keep = torch.tensor(chosen if insertion else ~chosen, dtype=images.dtype, device=images.device)
            keep = F.interpolate(keep.view(1, 1, h, w), size=images.shape[-2:], mode="bilinear", align_corners=True)
            x = images[i:i + 1] * keep + base[i:i + 1] * (1 - keep)
            with torch.no_grad():
                out[i, j] = model(x).softmax(1)[0, int(target[i])]
    return out
