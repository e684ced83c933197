"""Grad-CAM+ (Grad-CAM with positive gradients).

Lerma & Lucas, "Grad-CAM++ is Equivalent to Grad-CAM With Positive Gradients",
arXiv:2205.10838 (2022). Grad-CAM with the gradients replaced by their positive parts
(cited as their eq. 14):

    w_k = (1/Z) sum_ij ReLU(ds/dA^k_ij),     L = ReLU(sum_k w_k A^k).

Where every gradient is non-negative this is Grad-CAM; where the head is piecewise linear
and ``g * sum_ij A^k_ij`` is small it matches Grad-CAM++ up to a constant factor (their
argument; see ``grad_cam_plus_plus``).

Explained in ``book/`` (Grad-CAM++ vs Grad-CAM+ chapter).
"""
from __future__ import annotations

import torch
from torch import nn

from .cam import cam_inputs, weighted_map


def grad_cam_plus(model: nn.Module, images: torch.Tensor, target=None, *, layer=None, score: str = "logit",
                  batch_size: int | None = None) -> torch.Tensor:
    """Grad-CAM+ map at ``layer``: ``ReLU(sum_k mean_ij(ReLU(ds/dA^k_ij)) A^k)``.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        layer: a module or dotted name with output ``[N, K, h, w]``; ``None`` is the
            model's ``default_layer``.
        score: ``"logit"``, ``"prob"`` or ``"log_prob"``.
        batch_size: images per forward/backward pass (``None``: all at once).

    Returns:
        ``[N, h, w]`` float32, non-negative, on the layer's grid.

    Reference:
        Lerma & Lucas 2022, https://arxiv.org/abs/2205.10838.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.grad_cam_plus(model, torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 16, 16])
    """
    acts, grads = cam_inputs(model, images, target, layer, score, batch_size)
    return weighted_map(grad_cam_plus_weights(acts, grads), acts)


def grad_cam_plus_weights(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM+'s channel weights ``[N, K]``: eq. 14, the spatial mean of the positive gradients."""
    return grads.clamp_min(0).mean(dim=(2, 3))
