"""The mask optimisation problem that I-GOS and Mask share.

Both methods look for a low-resolution deletion mask ``M`` (``[N, r, r]``, 1 = keep the pixel,
0 = replace it by the baseline) that minimises the objective (2) of the I-GOS paper (Qi, Khorram,
Li, AAAI 2020), which is Mask's objective (Fong & Vedaldi, ICCV 2017)::

    F(M) = p_c(x_base + up(M) (x - x_base)) + lambda1 mean|1 - M| + lambda2 TV(M)

They differ in how they move ``M``: Mask by Adam on the gradient of ``F`` (``igos.methods.meaningful_perturbation``),
I-GOS along the integrated gradient with a line search (``igos.methods.i_gos``, whose
:class:`~igos.methods.i_gos.IGOSProblem` extends :class:`MaskProblem`). What they share lives
here: the fixed data of a run and its objective (:class:`MaskProblem`, scored by
:func:`igos.perturbation.target_prob`), the checks of their common options
(:func:`check_mask_options`), the seeded pixel noise (:func:`noise_source`), the per-resolution
settings lookup (:func:`nearest_setting`) and the warning for an unpredicted class
(:func:`warn_low_prob`).
"""
from __future__ import annotations

import math
import warnings

import torch

from .baselines import make_baseline
from .batching import chunks
from .perturbation import pixel_noise_scale, regularizer, target_prob, up

#: Below this probability of the target on the unmasked image, I-GOS and Mask warn (the paper's failure case).
LOW_PROB = 1e-3

__all__ = ["LOW_PROB", "MaskProblem", "check_mask_options", "nearest_setting", "noise_source", "warn_low_prob"]


def nearest_setting(table: dict, resolution: int):
    """``table[resolution]``, else the entry of the nearest listed resolution (in log scale)."""
    if resolution in table:
        return table[resolution]
    return table[min(table, key=lambda r: abs(math.log(r) - math.log(resolution)))]


class MaskProblem:
    """The fixed data of one mask optimisation: images ``[N, 3, H, W]``, their baseline, the targets
    ``[N]``, the regularisers' weights and the chunking of model calls.

    ``endpoint(masks, idx)`` is the objective ``F`` of (2) for ``masks[b]`` ``[B, r, r]`` applied
    to image ``idx[b]``; ``reg`` its regularisers; ``up`` the bilinear upsampling to the image size.
    """

    def __init__(self, model, images, target, *, baseline, lambda1, lambda2, tv_beta, batch_size, precision):
        self.model, self.images, self.target = model, images, target
        self.base = make_baseline("blur" if baseline is None else baseline, images)
        self.diff = images - self.base
        self.size = tuple(images.shape[-2:])
        self.lambda1, self.lambda2, self.tv_beta = lambda1, lambda2, tv_beta
        self.batch_size, self.precision = batch_size, precision
        self.dtype = torch.promote_types(images.dtype, torch.float32)   # of scores and losses

    def up(self, masks: torch.Tensor) -> torch.Tensor:
        return up(masks, self.size)

    def composite(self, mask_up: torch.Tensor, idx) -> torch.Tensor:
        """``base + mask_up * (x - base)`` for images ``idx`` (indices or a slice): :func:`igos.perturbation.perturb`
        with the difference computed once. ``mask_up`` ``[B, 1, H, W]``."""
        return self.base[idx] + mask_up * self.diff[idx]

    def reg(self, masks: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Regularisers of ``masks[b]``, which belongs to image ``idx[b]`` (``None``: to image ``b``)."""
        lambda1 = self.lambda1
        if isinstance(lambda1, torch.Tensor) and idx is not None:    # per-image lambda1 (adapt_lambda1)
            lambda1 = lambda1[idx]
        return regularizer(masks, lambda1, self.lambda2, self.tv_beta)

    @torch.no_grad()
    def endpoint(self, masks: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Noiseless objective ``F`` of ``masks[b]`` applied to image ``idx[b]`` -> ``[B]``."""
        out = torch.empty(masks.shape[0], device=masks.device, dtype=self.dtype)
        for sl in chunks(masks.shape[0], self.batch_size):
            i = idx[sl]
            x = self.composite(up(masks[sl], self.size), i)
            out[sl] = target_prob(self.model, x, self.target[i], self.precision)
        return out + self.reg(masks, idx).to(self.dtype)


def check_mask_options(images: torch.Tensor, *, resolution, lambda1, lambda2, n_iter, noise, precision) -> None:
    """Raise a clear error on a bad option that I-GOS and Mask share."""
    h, w = images.shape[-2:]
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise TypeError(f"resolution must be an int, got {resolution!r}")
    if resolution <= 0 or resolution > min(h, w):
        raise ValueError(f"resolution must be between 1 and the image size {min(h, w)}, got {resolution}")
    for name, value in (("lambda1", lambda1), ("lambda2", lambda2)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative int, got {n_iter!r}")
    if not noise >= 0:
        raise ValueError(f"noise (a standard deviation) must be >= 0, got {noise!r}")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")


def warn_low_prob(prob: torch.Tensor, target: torch.Tensor, method: str) -> None:
    """Warn when the target's probability ``prob`` ``[N]`` on the unmasked image is below :data:`LOW_PROB`."""
    low = (prob < LOW_PROB).nonzero().flatten().tolist()
    if low:
        detail = ", ".join(f"image {i}: class {int(target[i])} p={float(prob[i]):.2g}" for i in low[:5])
        warnings.warn(f"{method}: the target class has probability < {LOW_PROB:g} on the unmasked image ({detail}"
                      f"{', ...' if len(low) > 5 else ''}). Mask optimisation cannot lower a score that is "
                      f"already ~0 and tends to return adversarial or empty masks (the I-GOS paper's failure "
                      f"case); explain a class the model actually predicts.", RuntimeWarning, stacklevel=3)


def noise_source(model, images: torch.Tensor, noise: float, n_points: int, seed: int):
    """``draw()`` -> ``[n_points, 3, H, W]`` pixel-space noise (or ``None`` when ``noise`` is 0),
    from a generator seeded with ``seed``; ``noise`` is a standard deviation in the model's input space."""
    if noise == 0:
        return lambda: None
    gen = torch.Generator(device=images.device).manual_seed(seed)
    scale = pixel_noise_scale(model, noise, images)
    shape = (n_points, *images.shape[1:])
    return lambda: torch.randn(shape, generator=gen, device=images.device, dtype=images.dtype) * scale
