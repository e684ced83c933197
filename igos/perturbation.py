"""Mask perturbation shared by I-GOS, Mask (meaningful perturbation) and the deletion/insertion metrics.

A mask ``M`` of shape ``[N, r, r]`` with values in [0, 1] (1 keeps a pixel, 0 replaces it by
the baseline) acts on the images through

* :func:`up` - bilinear upsampling of ``M`` to the image size, ``[N, 1, H, W]``;
* :func:`perturb` - ``Phi(x, x_blur, up(M)) = x * up(M) + x_blur * (1 - up(M))``
  (I-GOS paper, perturbation of objective (2) and its low-resolution form (9));
* :func:`l1` and :func:`tv` - the two regularisers of (2), computed on the *low-resolution*
  mask as **means** (``mean |1 - M|`` and ``mean |dM|^beta`` over each direction), as in both
  of the I-GOS authors' code bases and in the Mask reference code. Means rather than sums
  make the lambdas comparable across resolutions; they are the lambdas the papers quote
  (I-GOS: ``lambda1 = 1, lambda2 = 20`` at 28 x 28; Mask: ``0.01, 0.2``);
* :func:`objective` - ``F(M) = p_c(Phi(x, x_blur, up(M))) + lambda1 * l1(M) + lambda2 * tv(M)``,
  the softmax probability of the target on the perturbed image plus the regularisers, one
  value per image.

Upsampling convention: ``align_corners=True``. The authors used
``torch.nn.UpsamplingBilinear2d`` (I-GOS, IGOS++ and the Mask code it came from), which is
bilinear interpolation with aligned corners: the four corner cells of the mask land exactly
on the four corner pixels of the image and a constant mask stays constant. We keep it so that
masks, their deletion/insertion scores and the lambdas mean the same as in the papers. With
``r == H`` it is the identity either way.

Explained in ``book/30_quadratic_scaling.ipynb`` and ``book/31_revised_armijo.ipynb``.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .baselines import make_baseline
from .checks import check_images
from .scores import select_score
from .targets import as_target

__all__ = ["up", "perturb", "l1", "tv", "regularizer", "objective", "target_prob", "pixel_noise_scale"]


def up(mask: torch.Tensor, size) -> torch.Tensor:
    """Bilinearly upsample masks ``[N, r, r]`` (or ``[N, 1, r, r]``) to ``[N, 1, H, W]``.

    ``size`` is ``(H, W)`` or an int; ``align_corners=True`` as ``UpsamplingBilinear2d`` in the
    authors' code (see the module docstring). Differentiable.
    """
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape [N, r, r] or [N, 1, r, r], got {tuple(mask.shape)}")
    if tuple(mask.shape[-2:]) == size:
        return mask
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=True)


def perturb(images: torch.Tensor, baseline: torch.Tensor, mask_up: torch.Tensor) -> torch.Tensor:
    """``images * mask_up + baseline * (1 - mask_up)``; ``mask_up`` is ``[N, 1, H, W]`` (see :func:`up`)."""
    return baseline + mask_up * (images - baseline)


def l1(mask: torch.Tensor) -> torch.Tensor:
    """``mean |1 - M|`` per mask, ``[N]`` (the code's L1 term; its gradient at ``M = 1`` is 0)."""
    return (1 - mask).abs().flatten(1).mean(1)


def tv(mask: torch.Tensor, beta: float = 2) -> torch.Tensor:
    """Total variation ``mean |M[i+1, j] - M[i, j]|^beta + mean |M[i, j+1] - M[i, j]|^beta``, ``[N]``.

    Means over the ``(r-1) x r`` differences of each direction, as in the authors' ``tv_norm``;
    ``beta = 2`` for I-GOS, ``3`` for Mask. A ``1 x 1`` mask has no differences: 0.
    """
    if mask.dim() == 4:
        mask = mask[:, 0]
    n = mask.shape[0]
    out = mask.new_zeros(n)
    if mask.shape[-2] > 1:
        out = out + (mask[:, 1:, :] - mask[:, :-1, :]).abs().pow(beta).reshape(n, -1).mean(1)
    if mask.shape[-1] > 1:
        out = out + (mask[:, :, 1:] - mask[:, :, :-1]).abs().pow(beta).reshape(n, -1).mean(1)
    return out


def regularizer(mask: torch.Tensor, lambda1, lambda2, tv_beta: float = 2) -> torch.Tensor:
    """``lambda1 * l1(M) + lambda2 * tv(M, tv_beta)``, ``[N]``.

    A lambda is a float (a zero one skips its term) or a tensor ``[N]`` (one per mask).
    """
    out = mask.new_zeros(mask.shape[0])
    if isinstance(lambda1, torch.Tensor) or lambda1:
        out = out + lambda1 * l1(mask)
    if isinstance(lambda2, torch.Tensor) or lambda2:
        out = out + lambda2 * tv(mask, tv_beta)
    return out


def target_prob(model: nn.Module, images: torch.Tensor, target: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """Softmax probability of ``target[i]`` for image ``i``, ``[N]`` (differentiable).

    Computed in float32 at least, and in the images' dtype when that is wider (float64 stays
    float64; bf16 logits are upcast). ``precision="bf16"`` runs the model under bfloat16 autocast.
    """
    with _autocast(images.device, precision):
        logits = model(images)
    dtype = torch.promote_types(torch.promote_types(logits.dtype, images.dtype), torch.float32)
    return select_score(logits.to(dtype), target, "prob")


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def pixel_noise_scale(model: nn.Module, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """Per-channel standard deviation in pixel space of noise that is ``sigma`` in the model's input space.

    The authors add ``N(0, 0.2^2)`` noise to the *normalised* image. Our models take pixels
    in [0, 1] and compute ``(x - mean) / std`` inside, so noise ``n`` in normalised space is
    ``n * std`` in pixel space: the result is ``sigma * model.std`` (``[1, 3, 1, 1]``). A model
    without a ``std`` buffer (a plain ``nn.Module`` on pixels) is taken to have no
    normalisation: the noise is ``sigma`` in pixel units.
    """
    std = getattr(model, "std", None)
    if isinstance(std, torch.Tensor):
        return sigma * std.detach().to(like.device, like.dtype).reshape(1, -1, 1, 1)
    return torch.full((1, 1, 1, 1), float(sigma), device=like.device, dtype=like.dtype)


def objective(model: nn.Module, images: torch.Tensor, mask: torch.Tensor, target=None, *, lambda1: float,
              lambda2: float, baseline=None, tv_beta: float = 2) -> torch.Tensor:
    """The I-GOS / Mask objective ``F(M)`` per image, ``[N]`` (differentiable in ``mask``).

    ``F(M) = p_c(x * up(M) + x_blur * (1 - up(M))) + lambda1 * mean|1 - M| + lambda2 * TV_beta(M)``
    (I-GOS paper, (2) and (9), without noise).

    Args:
        model: classifier on images in [0, 1].
        images: ``[N, 3, H, W]`` in [0, 1].
        mask: ``[N, r, r]`` with values in [0, 1] (1 keeps the pixel).
        target: ``None`` (top-1), an int, or ``N`` ints.
        lambda1, lambda2: weights of the L1 and TV terms.
        baseline: ``None`` for the I-GOS blur (kernel 51, sigma 50), else anything
            :func:`igos.make_baseline` accepts.
        tv_beta: TV exponent (2 for I-GOS, 3 for Mask).

    Returns:
        ``[N]`` float32.
    """
    check_images(images)
    target = as_target(target, images, model)
    if mask.dim() == 4:
        mask = mask[:, 0]
    if mask.dim() != 3 or mask.shape[0] != images.shape[0]:
        raise ValueError(f"mask must have shape [N, r, r] with N = {images.shape[0]}, got {tuple(mask.shape)}")
    base = make_baseline("blur" if baseline is None else baseline, images)
    x = perturb(images, base, up(mask.to(images.dtype), images.shape[-2:]))
    prob = target_prob(model, x, target)
    return prob + regularizer(mask.to(prob.dtype), lambda1, lambda2, tv_beta)
