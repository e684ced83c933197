"""RISE: Randomized Input Sampling for Explanation.

Petsiuk, Das, Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC 2018, arXiv:1806.07421. The saliency of pixel ``u`` is the expected score
of the masked image given that ``u`` is kept, estimated by Monte Carlo over ``N_m`` masks
``M_m`` with keep probability ``p`` (their eq. 6):

    S(u) = 1 / (N_m * p) * sum_m f(I . M_m) * M_m(u).

Masks (their Sec. 3.2): a ``grid_size x grid_size`` grid whose cells are 1 with
probability ``p``, upsampled bilinearly to ``(grid_size + 1) * C`` pixels per side with
``C = ceil(H / grid_size)``, then cropped to ``H x W`` at a random shift in ``[0, C)``.
``f`` is the softmax probability of the target class. ``I . M`` keeps the image where the
mask is 1 and shows ``baseline`` (black by default) where it is 0; the authors' code
multiplies the *normalised* image, which amounts to ``baseline`` = the dataset mean colour.

Explained in ``book/`` (RISE chapter).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..baselines import make_baseline
from ..batching import chunks
from ..checks import check_positive_int
from ..layers import preserved
from ..scores import select_score
from .common import prepare


def _grids(n_masks: int, grid_size: int, p_keep: float, seed: int):
    """The random part of every mask, drawn at once on the CPU so it never depends on ``batch_size``.

    Returns ``(grids [n_masks, cell, cell] in {0, 1}, shifts [n_masks, 2] in [0, 1))``.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    grids = (torch.rand(n_masks, grid_size, grid_size, generator=gen) < p_keep).float()
    shifts = torch.rand(n_masks, 2, generator=gen)
    return grids, shifts


def _masks(grids: torch.Tensor, shifts: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample grids ``[n, s, s]`` bilinearly and crop at the shifts -> masks ``[n, H, W]`` in [0, 1]."""
    n, s = grids.shape[0], grids.shape[-1]
    h, w = size
    ch, cw = math.ceil(h / s), math.ceil(w / s)
    up = F.interpolate(grids[:, None], size=((s + 1) * ch, (s + 1) * cw), mode="bilinear",
                       align_corners=False)[:, 0]
    dy = (shifts[:, 0] * ch).long().clamp_max(ch - 1)
    dx = (shifts[:, 1] * cw).long().clamp_max(cw - 1)
    rows = dy[:, None] + torch.arange(h, device=grids.device)          # [n, H]
    cols = dx[:, None] + torch.arange(w, device=grids.device)          # [n, W]
    masks = up[torch.arange(n, device=grids.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return masks.clamp_(0, 1)  # bilinear weights may sum to 1 + 1 ulp


def rise(model: nn.Module, images: torch.Tensor, target=None, *, n_masks: int = 4000, p_keep: float = 0.5,
         grid_size: int = 7, baseline="black", score: str = "prob", batch_size: int | None = 256,
         seed: int = 0) -> torch.Tensor:
    """RISE saliency: the probability-weighted average of random masks.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        n_masks: number of random masks (the paper uses 4000 for ResNet50 and 8000 for VGG16).
        p_keep: probability that a grid cell is kept, in (0, 1].
        grid_size: cells per side of the random grid (the paper's ``s = 7``).
        baseline: what masked pixels show: ``"black"`` (the paper's ``I . M``), ``"grey"``,
            ``"blur"``, a float or a tensor.
        score: ``"prob"`` (the paper's softmax probability), ``"logit"`` or ``"log_prob"``.
        batch_size: masked images per forward pass (``None``: all ``N * n_masks`` at once).
        seed: seed of the local generator drawing the masks; the same masks serve every image.

    Returns:
        ``[N, H, W]`` float32 on the input grid.

    Reference:
        Petsiuk, Das, Saenko, BMVC 2018, https://arxiv.org/abs/1806.07421.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.rise(model, torch.rand(2, 3, 32, 32), n_masks=100).shape
        torch.Size([2, 32, 32])
    """
    images, target = prepare(model, images, target, score)
    check_positive_int(n_masks, "n_masks")
    check_positive_int(grid_size, "grid_size")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    if not 0 < p_keep <= 1:
        raise ValueError(f"p_keep must lie in (0, 1], got {p_keep!r}")
    n, size = images.shape[0], images.shape[-2:]
    base = make_baseline(baseline, images, seed=seed)
    grids, shifts = _grids(n_masks, grid_size, p_keep, seed)
    grids, shifts = grids.to(images.device, images.dtype), shifts.to(images.device)
    saliency = images.new_zeros((n, *size))
    with preserved(model), torch.no_grad():
        for sl in chunks(n * n_masks, batch_size):
            rows = torch.arange(sl.start, sl.stop, device=images.device)
            i, m = rows // n_masks, rows % n_masks
            masks = _masks(grids[m], shifts[m], size)[:, None]            # [B, 1, H, W]
            masked = masks * images[i] + (1 - masks) * base[i]            # I . M_m
            s = select_score(model(masked), target[i], score)             # f(I . M_m)
            saliency.index_add_(0, i, s.view(-1, 1, 1) * masks[:, 0])     # sum_m f(I . M_m) M_m
    return (saliency / (n_masks * p_keep)).float()                       # eq. 6
