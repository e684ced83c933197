"""Input validation: a clear error naming the culprit, never a silent wrong answer."""
from __future__ import annotations

import torch


def check_images(images: torch.Tensor, name: str = "images", *, atol: float = 1e-4) -> torch.Tensor:
    """Validate a batch of images ``[N, 3, H, W]`` in [0, 1] and return it.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: wrong rank or channel count, NaN/inf values, or values outside
            [0, 1] (the models of :func:`igos.load_model` normalise internally, so
            pass raw pixels, not ImageNet-normalised tensors).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N, 3, H, W], got {type(images).__name__}")
    if not images.dtype.is_floating_point:
        raise TypeError(f"{name} must be a float tensor with values in [0, 1], got dtype {images.dtype}")
    if images.dim() == 3:
        raise ValueError(f"{name} has shape {tuple(images.shape)}: add the batch dimension, "
                         f"e.g. {name}[None] -> [1, {', '.join(map(str, images.shape))}]")
    if images.dim() != 4:
        raise ValueError(f"{name} must have shape [N, 3, H, W], got {tuple(images.shape)}")
    if images.shape[1] != 3:
        raise ValueError(f"{name} must have 3 (RGB) channels in dim 1, got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = images.min().item(), images.max().item()
    if lo < -atol or hi > 1 + atol:
        raise ValueError(f"{name} must lie in [0, 1] (pixel space; the model normalises internally), "
                         f"got values in [{lo:.3g}, {hi:.3g}]. Did you pass ImageNet-normalised tensors?")
    return images


def check_saliency(saliency: torch.Tensor, images: torch.Tensor, name: str = "saliency") -> torch.Tensor:
    """Validate ``saliency`` ``[N, h, w]`` (or ``[N, 1, h, w]``) against ``images`` and return ``[N, h, w]``."""
    if not isinstance(saliency, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N, h, w], got {type(saliency).__name__}")
    if saliency.dim() == 4 and saliency.shape[1] == 1:
        saliency = saliency[:, 0]
    if saliency.dim() != 3:
        raise ValueError(f"{name} must have shape [N, h, w], got {tuple(saliency.shape)}")
    if saliency.shape[0] != images.shape[0]:
        raise ValueError(f"{name} has {saliency.shape[0]} maps but there are {images.shape[0]} images")
    h, w = saliency.shape[-2:]
    if h > images.shape[-2] or w > images.shape[-1]:
        raise ValueError(f"{name} is {h}x{w}, larger than the images ({images.shape[-2]}x{images.shape[-1]})")
    if not torch.isfinite(saliency).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return saliency


def check_positive_int(value, name: str) -> int:
    """An int >= 1 (``n_steps``, ``batch_size``...)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
