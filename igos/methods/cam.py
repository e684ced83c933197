"""Shared step of the CAM methods: a layer's activations and gradients, then ReLU(sum_k w_k A^k)."""
from __future__ import annotations

import torch
from torch import nn

from ..checks import check_positive_int
from ..layers import get_layer, preserved
from .common import layer_gradients, prepare


def cam_inputs(model: nn.Module, images: torch.Tensor, target, layer, score: str,
               batch_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(A [N, K, h, w], dscore/dA [N, K, h, w])`` at ``layer``, model left as found."""
    images, target = prepare(model, images, target, score)
    get_layer(model, layer)  # unknown names fail here, listing close matches
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    with preserved(model):
        acts, grads, _ = layer_gradients(model, images, target, layer, score=score, batch_size=batch_size)
    if acts.dim() != 4:
        raise ValueError(f"CAM methods need a convolutional layer with output [N, K, h, w]; "
                         f"layer {layer!r} gives {tuple(acts.shape)}")
    return acts, grads


def weighted_map(weights: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
    """``ReLU(sum_k w_k A^k)`` for weights ``[N, K]`` and activations ``[N, K, h, w]`` -> float32 ``[N, h, w]``."""
    return torch.einsum("nk,nkhw->nhw", weights, acts).clamp_min(0).float()
