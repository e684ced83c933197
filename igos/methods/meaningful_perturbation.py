"""Mask (meaningful perturbation) as the I-GOS paper ran it: Adam on a low-resolution deletion mask.

Fong & Vedaldi, "Interpretable Explanations of Black Boxes by Meaningful Perturbation",
ICCV 2017, arXiv:1704.03296: find the smallest, smoothest region whose deletion
(replacement by a blurred copy) drops the target's probability. The I-GOS paper (Qi et al.,
AAAI 2020) uses it as its main baseline with the settings of the public PyTorch
re-implementation its own code descends from (jacobgil/pytorch-explain-black-box, latest
version): the same objective as I-GOS,

    F(M) = p_c(x * up(M) + x_blur * (1 - up(M)) + n) + lambda1 mean|1 - M| + lambda2 mean|dM|^3,

with ``M`` at 28 x 28 initialised to ones, ``lambda1 = 0.01``, ``lambda2 = 0.2`` (``preset="paper"``;
the default preset's lambdas were calibrated like I-GOS's, see :data:`MASK_LAMBDAS`), TV exponent 3,
Gaussian noise ``n`` (sigma 0.2 in the normalised input space, a fresh draw per iteration),
Adam with learning rate 0.1 for up to 500 iterations, and ``M`` clipped to [0, 1] after each
step. We use the I-GOS baseline (Gaussian blur, kernel 51, sigma 50) as the I-GOS paper did
for all methods ("the same pre-/post-processing"), not the reference code's 11-pixel blur.

Adam acts element by element, so the ``N`` masks of a batch are optimised exactly as if
each image ran alone; the noise of iteration ``k`` depends only on ``seed`` and ``k``.

Compared with I-GOS in ``book/44_table_5_objective.ipynb``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..batching import auto_batch_size, chunks
from ..layers import preserved
from ..masking import MaskProblem, check_mask_options, nearest_setting, noise_source, warn_low_prob
from ..perturbation import target_prob
from .common import prepare

__all__ = ["MASK_LAMBDAS", "mask", "meaningful_perturbation"]


#: (lambda1, lambda2) per mask resolution of the two presets of :func:`meaningful_perturbation`. ``"paper"``: the
#: I-GOS paper's (0.01, 0.2) at every resolution. ``"default"``: chosen by the calibration run
#: with the same budget as I-GOS (``benchmarks/igos_calibration.py``, four settings at 28 x 28 on
#: the embedded photos): (0.01, 0.05) at 28, lambda2 scaled by r / 28 elsewhere (the TV mean of a
#: hole of a given area scales like 1 / r), as for I-GOS. Other resolutions: the nearest entry.
MASK_LAMBDAS: dict[str, dict[int, tuple[float, float]]] = {
    "paper": {28: (0.01, 0.2)},
    "default": {7: (0.01, 0.0125), 14: (0.01, 0.025), 28: (0.01, 0.05), 112: (0.01, 0.2), 224: (0.01, 0.4)},
}


def meaningful_perturbation(model: nn.Module, images: torch.Tensor, target=None, *, resolution: int = 28,
                            preset: str = "default", lambda1: float | None = None, lambda2: float | None = None,
                            tv_beta: float = 3, n_iter: int = 500, lr: float = 0.1, noise: float = 0.2,
                            baseline=None, batch_size: int | None = None, seed: int = 0, precision: str = "fp32",
                            callback: Callable | None = None, return_history: bool = False):
    """Mask saliency ``1 - M`` at ``resolution x resolution`` (Fong & Vedaldi 2017, as used by I-GOS).

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        resolution: side ``r`` of the mask, ``1 <= r <= min(H, W)`` (default 28).
        preset: ``"default"`` (lambdas calibrated on the embedded photos, see
            :data:`MASK_LAMBDAS`) or ``"paper"`` (the I-GOS paper's (0.01, 0.2) everywhere).
        lambda1, lambda2: weights of ``mean|1 - M|`` and the TV term; ``None`` takes the
            preset's value at ``resolution``.
        tv_beta: TV exponent (3).
        n_iter: Adam iterations (500, the I-GOS paper's "up to 500").
        lr: Adam learning rate (0.1).
        noise: standard deviation of the Gaussian noise added to the perturbed image at
            every iteration, in the model's normalised input space (0.2; ``0`` for none).
        baseline: ``None`` for the I-GOS blur, or anything :func:`igos.make_baseline` accepts.
        batch_size: images per forward/backward pass (``None``:
            :func:`igos.batching.auto_batch_size`, memory-safe on the device).
        seed: seed of the local generator of the noise.
        precision: ``"fp32"`` or ``"bf16"`` (autocast for the model's forward passes).
        callback: called after every Adam step as ``callback(iteration, loss, mask)`` with the
            iteration index, the (noisy) objective ``[N]`` at the mask the step started from,
            and the updated mask ``[N, r, r]`` (do not modify it).
        return_history: also return ``{"loss": [n_iter, N], "objective": [2, N], "prob": [2, N],
            "iterations": [N]}``: the training losses, the noiseless objective ``F`` and the
            target's probability at ``M_0 = 1`` and at the final mask, and the Adam steps taken.

    Returns:
        ``saliency`` ``[N, r, r]`` float32 in [0, 1], or ``(saliency, history)``.

    Reference:
        Fong, Vedaldi, ICCV 2017, https://arxiv.org/abs/1704.03296

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.meaningful_perturbation(model, torch.rand(2, 3, 32, 32), resolution=8, n_iter=5).shape
        torch.Size([2, 8, 8])
    """
    images, target = prepare(model, images, target)
    if preset not in MASK_LAMBDAS:
        raise ValueError(f"preset must be one of {sorted(MASK_LAMBDAS)}, got {preset!r}")
    d1, d2 = nearest_setting(MASK_LAMBDAS[preset], resolution) if isinstance(resolution, int) and resolution > 0 else (0.0, 0.0)
    lambda1 = d1 if lambda1 is None else lambda1
    lambda2 = d2 if lambda2 is None else lambda2
    check_mask_options(images, resolution=resolution, lambda1=lambda1, lambda2=lambda2, n_iter=n_iter, noise=noise,
                       precision=precision)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be > 0, got {lr!r}")
    n, dev = images.shape[0], images.device
    rows = torch.arange(n, device=dev)
    if batch_size is None:
        batch_size = auto_batch_size(images)
    with preserved(model):
        problem = MaskProblem(model, images, target, baseline=baseline, lambda1=float(lambda1), lambda2=float(lambda2),
                              tv_beta=tv_beta, batch_size=batch_size, precision=precision)
        m = torch.ones(n, resolution, resolution, device=dev, dtype=images.dtype, requires_grad=True)
        start = problem.endpoint(m.detach(), rows)
        warn_low_prob(start, target, "mask")
        optimizer = torch.optim.Adam([m], lr=lr)
        draw_noise = noise_source(model, images, noise, 1, seed)
        losses = []
        for k in range(n_iter):
            noise_k = draw_noise()
            optimizer.zero_grad(set_to_none=False)
            loss = torch.empty(n, device=dev, dtype=problem.dtype)
            for sl in chunks(n, batch_size):   # images are independent: gradients accumulate per row of m
                x = problem.composite(problem.up(m[sl]), sl)
                if noise_k is not None:
                    x = x + noise_k
                value = target_prob(model, x, target[sl], precision) + problem.reg(m[sl]).to(problem.dtype)
                value.sum().backward()
                loss[sl] = value.detach()
            optimizer.step()
            with torch.no_grad():
                m.clamp_(0, 1)
            losses.append(loss)
            if callback is not None:
                callback(k, loss, m.detach())
        final = m.detach().clone()
        history = None
        if return_history:
            end = problem.endpoint(final, rows)
            objective = torch.stack([start, end])
            history = {"loss": torch.stack(losses) if losses else torch.empty(0, n, device=dev),
                       "objective": objective,
                       "prob": objective - torch.stack([problem.reg(m0, rows) for m0 in (torch.ones_like(final), final)]),
                       "iterations": torch.full((n,), n_iter, dtype=torch.long, device=dev)}
    saliency = (1 - final).float()
    return (saliency, history) if return_history else saliency


#: The I-GOS paper's name for the method (its tables' "Mask"); the registry knows it as an alias.
mask = meaningful_perturbation
