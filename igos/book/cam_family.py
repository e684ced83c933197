"""Tools for the CAM-family theory chapters: layer gradients, CAM maps and map comparisons.

* :func:`activations_and_gradients` - ``A`` and ``ds/dA`` at any layer (the inputs of every
  CAM method), in the images' dtype.
* :func:`plus_plus_ratio` - how far the Grad-CAM++ weights (eq. 19 with ``Y = exp(S)``) are
  from ``Z/2`` times the Grad-CAM+ weights, channel by channel, with the bound's ``epsilon``.
* :func:`map_correlation`, :func:`max_difference` - Pearson correlation of two maps and
  their largest difference after min-max normalisation, per image.

The Riemann-Stieltjes sums at several layers and step counts from one path that these chapters
read are the library's (:func:`igos.methods.rsi_grad_cam.rs_integrals`, behind :func:`igos.rsi_grad_cam`).

Explained in ``book/20_grad_cam_plus_plus.ipynb`` and ``book/21_rsi_grad_cam.ipynb``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..methods.cam import cam_inputs, weighted_map
from ..methods.grad_cam import grad_cam_weights
from ..methods.grad_cam_plus import grad_cam_plus_weights
from ..methods.grad_cam_plus_plus import grad_cam_plus_plus_weights
from ..plotting import normalize

__all__ = ["activations_and_gradients", "cam_maps", "plus_plus_ratio", "map_correlation", "max_difference"]


def activations_and_gradients(model: nn.Module, images: torch.Tensor, target=None, *, layer=None,
                              score: str = "logit", batch_size: int | None = None):
    """``(A, ds/dA)`` at ``layer`` for each image, detached, model left as found (what every CAM method reads)."""
    return cam_inputs(model, images, target, layer, score, batch_size)


def cam_maps(acts: torch.Tensor, grads: torch.Tensor) -> dict:
    """Grad-CAM, Grad-CAM+ and both Grad-CAM++ variants from one ``(A, ds/dA)`` pair, ``name -> [N, h, w]``.

    The weights of :func:`igos.grad_cam`, :func:`igos.grad_cam_plus` and :func:`igos.grad_cam_plus_plus`
    (their own weight functions; the methods each run the model again), for comparing them at many layers.
    """
    weights = {"Grad-CAM": grad_cam_weights(acts, grads), "Grad-CAM+": grad_cam_plus_weights(acts, grads),
               "Grad-CAM++ paper": grad_cam_plus_plus_weights(acts, grads, "paper"),
               "Grad-CAM++ official": grad_cam_plus_plus_weights(acts, grads, "official")}
    return {name: weighted_map(w, acts) for name, w in weights.items()}


def plus_plus_ratio(acts: torch.Tensor, grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel ``w++ / (Z/2 w+)`` and ``eps = max |g * sum_ij A|`` over positive-gradient cells.

    ``w++_k = sum_ij ReLU(g) / (2 + g sum A^k)`` (eq. 19 with ``Y = exp(S)``, the factor
    ``exp(S)`` dropped) and ``w+_k = mean_ij ReLU(g)``. Channels without a positive gradient
    get ratio NaN and eps 0. Shapes ``[N, K]``.
    """
    total = acts.sum(dim=(2, 3), keepdim=True)
    pos = grads > 0
    gs = torch.where(pos, grads * total, torch.zeros_like(grads))
    w_pp = torch.where(pos, grads / (2 + gs), torch.zeros_like(grads)).sum(dim=(2, 3))
    w_p = grads.clamp_min(0).mean(dim=(2, 3))
    z = grads.shape[2] * grads.shape[3]
    ratio = torch.where(w_p > 0, w_pp / (0.5 * z * w_p).clamp_min(torch.finfo(w_p.dtype).tiny),
                        torch.full_like(w_p, float("nan")))
    return ratio, gs.abs().amax(dim=(2, 3))


def map_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of maps ``a`` and ``b`` ``[N, ...]`` per image -> ``[N]`` (0 where one is constant)."""
    a = a.detach().flatten(1).double()
    b = b.detach().flatten(1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    den = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-300), torch.zeros_like(den))


def max_difference(a: torch.Tensor, b: torch.Tensor, norm: str = "minmax") -> torch.Tensor:
    """``max |normalize(a) - normalize(b)|`` per image ``[N]`` (``norm`` as in :func:`igos.plotting.normalize`)."""
    return (normalize(a, norm) - normalize(b, norm)).flatten(1).abs().amax(1)


