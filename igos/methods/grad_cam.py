"""Grad-CAM.

Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra, "Grad-CAM: Visual Explanations from
Deep Networks via Gradient-based Localization", ICCV 2017, arXiv:1610.02391. With ``A``
the activations of a convolutional layer (``K`` channels, ``Z = h * w`` positions) and
``s`` the class score:

    alpha_k = (1/Z) sum_ij ds/dA^k_ij                       (their eq. 1)
    L       = ReLU(sum_k alpha_k A^k)                        (their eq. 2)

The map stays on the layer's grid; ``igos.upsample`` resizes it for display. On a
network that ends in global average pooling and a linear layer, taken at the pooled
layer with ``score="logit"``, ``alpha_k = w_ck / Z`` and Grad-CAM is CAM (Zhou et al.
2016) divided by ``Z`` (the paper's Sec. 3.1 generalisation argument).

Explained in ``book/`` (Grad-CAM chapter).
"""
from __future__ import annotations

import torch
from torch import nn

from .cam import cam_inputs, weighted_map


def grad_cam(model: nn.Module, images: torch.Tensor, target=None, *, layer=None, score: str = "logit",
             batch_size: int | None = None) -> torch.Tensor:
    """Grad-CAM map at ``layer``: ``ReLU(sum_k mean_ij(ds/dA^k_ij) A^k)``.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        layer: a module or dotted name with output ``[N, K, h, w]``; ``None`` is the
            model's ``default_layer``.
        score: ``"logit"`` (the paper's pre-softmax score), ``"prob"`` or ``"log_prob"``.
        batch_size: images per forward/backward pass (``None``: all at once).

    Returns:
        ``[N, h, w]`` float32, non-negative, on the layer's grid.

    Reference:
        Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.grad_cam(model, torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 16, 16])
    """
    acts, grads = cam_inputs(model, images, target, layer, score, batch_size)
    return weighted_map(grad_cam_weights(acts, grads), acts)        # eq. 2: ReLU of the weighted channel sum


def grad_cam_weights(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's channel weights ``[N, K]`` from ``A`` and ``ds/dA`` ``[N, K, h, w]``: eq. 1, the spatial mean of the gradients."""
    return grads.mean(dim=(2, 3))
