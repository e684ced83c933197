"""Baselines (reference images) in pixel space: black, blur (the I-GOS blur), noise, uniform, tensors."""
from __future__ import annotations

import torch
import torch.nn.functional as F

BASELINES = ("black", "blur", "noise", "uniform", "grey")


def gaussian_kernel1d(size: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd length ``size``."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd int, got {size}")
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur(images: torch.Tensor, kernel_size: int = 51, sigma: float = 50.0) -> torch.Tensor:
    """Gaussian blur of ``images`` ``[N, C, H, W]`` in pixel space, the I-GOS baseline.

    Kernel 51 x 51 with sigma 50 as in the I-GOS code (OpenCV ``GaussianBlur`` on the
    224 x 224 image in [0, 1]); borders are reflected like OpenCV's default
    (``BORDER_REFLECT_101`` = torch ``"reflect"``). Separable, batched.
    Returns a tensor of the same shape.
    """
    k = gaussian_kernel1d(kernel_size, sigma, images.device, images.dtype)
    c = images.shape[1]
    pad = kernel_size // 2
    h, w = images.shape[-2:]
    if pad >= h or pad >= w:  # reflect padding needs pad < size: fall back to replicate for tiny images
        x = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    else:
        x = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x


def make_baseline(baseline, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Resolve ``baseline`` to a tensor shaped like ``images``.

    Args:
        baseline: ``"black"`` (zeros), ``"grey"`` (0.5), ``"blur"`` (:func:`blur`),
            ``"noise"`` / ``"uniform"`` (uniform noise in [0, 1] from a local generator
            seeded with ``seed``), a float, or a tensor broadcastable to ``images``.
        images: ``[N, 3, H, W]``.
    """
    if isinstance(baseline, torch.Tensor):
        try:
            return baseline.to(images.device, images.dtype).expand_as(images)
        except RuntimeError as err:
            raise ValueError(f"baseline of shape {tuple(baseline.shape)} does not broadcast to images "
                             f"{tuple(images.shape)}") from err
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(images, float(baseline))
    if baseline == "black":
        return torch.zeros_like(images)
    if baseline == "grey":
        return torch.full_like(images, 0.5)
    if baseline == "blur":
        return blur(images)
    if baseline in ("noise", "uniform"):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        return torch.rand(images.shape, generator=gen, dtype=images.dtype).to(images.device)
    raise ValueError(f"unknown baseline {baseline!r}; use one of {BASELINES}, a float or a tensor")
