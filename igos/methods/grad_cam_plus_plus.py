"""Grad-CAM++, in the two variants that exist.

Chattopadhyay, Sarkar, Howlader, Balasubramanian, "Grad-CAM++: Improved Visual
Explanations for Deep Convolutional Networks", WACV 2018, arXiv:1710.11063. Channel
weights are a weighted sum of the positive gradients (their eq. 7),

    w_k = sum_ij alpha^k_ij ReLU(dY/dA^k_ij),           L = ReLU(sum_k w_k A^k),

and with ``Y = exp(S)`` for the score ``S`` and a piecewise-linear head the higher
derivatives are powers of ``g = dS/dA``, so their eq. 19 becomes

    alpha^k_ij = g^2 / (2 g^2 + (sum_ab A^k_ab) g^3)    (0 where the denominator is 0).

Two implementations disagree on what follows:

* ``variant="paper"`` (default): eq. 19 as printed, then eq. 7. This is also what
  pytorch-grad-cam's ``GradCAMPlusPlus`` computes (it adds 1e-6 to the denominator);
  being the published formula and the widely used one, it is the default.
* ``variant="official"``: the authors' TensorFlow code (adityac94/Grad_CAM_plus_plus,
  ``misc/utils.py``, ``grad_CAM_plus``) divides each channel's alphas by their sum over
  all positions, ``alpha / sum_ij alpha``, before eq. 7, so each channel's weight is an
  alpha-weighted *average* of its positive gradients rather than a sum. Where
  ``g * sum(A)`` is near ``-2`` some alphas blow up and dominate that sum; we keep the
  code's behaviour except that a channel whose alphas sum to 0 gets weight 0 (the code
  would divide by zero).

Both drop the factor ``exp(S)`` of ``dY/dA = exp(S) g``: it is one positive number per
image, so it changes no ranking or normalised map, and it overflows float32 for logits
above about 88. The score ``S`` is the logit in the paper; other ``score`` choices plug
their gradient into the same formula.

Explained in ``book/`` (Grad-CAM++ vs Grad-CAM+ chapter).
"""
from __future__ import annotations

import torch
from torch import nn

from .cam import cam_inputs, weighted_map

VARIANTS = ("paper", "official")


def alpha_coefficients(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Eq. 19 with ``Y = exp(S)``: ``g^2 / (2 g^2 + sum_ab A_ab g^3)``, 0 where that denominator is 0."""
    g2 = grads * grads
    denom = 2 * g2 + acts.sum(dim=(2, 3), keepdim=True) * g2 * grads
    return torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                       torch.zeros_like(denom))


def grad_cam_plus_plus(model: nn.Module, images: torch.Tensor, target=None, *, layer=None,
                       score: str = "logit", variant: str = "paper",
                       batch_size: int | None = None) -> torch.Tensor:
    """Grad-CAM++ map at ``layer``.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        layer: a module or dotted name with output ``[N, K, h, w]``; ``None`` is the
            model's ``default_layer``.
        score: ``"logit"`` (the paper's ``S``), ``"prob"`` or ``"log_prob"``.
        variant: ``"paper"`` (eq. 19 then eq. 7) or ``"official"`` (alphas renormalised
            per channel as in the authors' code); see the module docstring.
        batch_size: images per forward/backward pass (``None``: all at once).

    Returns:
        ``[N, h, w]`` float32, non-negative, on the layer's grid.

    Reference:
        Chattopadhyay et al., WACV 2018, https://arxiv.org/abs/1710.11063.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.grad_cam_plus_plus(model, torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 16, 16])
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    acts, grads = cam_inputs(model, images, target, layer, score, batch_size)
    return weighted_map(grad_cam_plus_plus_weights(acts, grads, variant), acts)


def grad_cam_plus_plus_weights(acts: torch.Tensor, grads: torch.Tensor, variant: str = "paper") -> torch.Tensor:
    """Grad-CAM++'s channel weights ``[N, K]``: eq. 7 with the alphas of eq. 19 (``"official"``: the alphas
    renormalised per channel, as in the authors' code)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    alphas = alpha_coefficients(acts, grads)                                  # eq. 19
    if variant == "official":  # the authors' code: alphas / sum_ij alphas, per channel
        total = alphas.sum(dim=(2, 3), keepdim=True)
        alphas = torch.where(total != 0, alphas / torch.where(total != 0, total, torch.ones_like(total)),
                             torch.zeros_like(alphas))
    return (alphas * grads.clamp_min(0)).sum(dim=(2, 3))        # eq. 7
