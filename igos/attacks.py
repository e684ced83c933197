"""Adversarial examples for the I-GOS paper's Figures 8-9: MI-FGSM.

Dong, Liao, Pang, Su, Zhu, Hu, Li, "Boosting Adversarial Attacks with Momentum",
CVPR 2018, arXiv:1710.06081, Algorithm 1. With ``g_0 = 0``, step ``a = eps / T``:

    g_{t+1} = mu * g_t + grad J(x*_t) / ||grad J(x*_t)||_1          (eq. 6)
    x*_{t+1} = clip_{x, eps}(x*_t + a * sign(g_{t+1}))               (eq. 7)

Untargeted: ``J`` is the cross-entropy of the true class (increase it). Targeted:
decrease the cross-entropy of the target class. All images are attacked together.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .batching import chunks
from .checks import check_images, check_positive_int
from .layers import preserved
from .targets import as_target, num_classes_of


def mi_fgsm(model: nn.Module, images: torch.Tensor, target=None, *, eps: float = 16 / 255, n_iter: int = 10,
            mu: float = 1.0, targeted: bool = False, batch_size: int | None = None) -> torch.Tensor:
    """Momentum iterative FGSM in pixel space, L-infinity ball of radius ``eps``.

    Args:
        model: classifier on images in [0, 1].
        images: ``[N, 3, H, W]`` in [0, 1].
        target: untargeted: the true classes to move away from (``None``: the
            model's prediction); targeted: the classes to reach.
        eps: L-infinity budget in [0, 1] pixel units (16/255 by default).
        n_iter: iterations ``T``; the step is ``eps / T``.
        mu: momentum decay.
        targeted: attack towards ``target`` instead of away from it.
        batch_size: images per forward pass.

    Returns:
        Adversarial images ``[N, 3, H, W]`` in [0, 1], with ``|adv - images| <= eps``.
    """
    check_images(images)
    check_positive_int(n_iter, "n_iter")
    if not 0 < eps <= 1:
        raise ValueError(f"eps must lie in (0, 1] (pixel units), got {eps}")
    target = as_target(target, images, model, num_classes_of(model, images))
    step = eps / n_iter
    adv = images.detach().clone()
    momentum = torch.zeros_like(images)
    sign = -1.0 if targeted else 1.0
    with preserved(model):
        for _ in range(n_iter):
            grads = []
            for sl in chunks(images.shape[0], batch_size):
                x = adv[sl].requires_grad_(True)
                loss = F.cross_entropy(model(x), target[sl], reduction="sum")
                grads.append(torch.autograd.grad(loss, x)[0])
            grad = torch.cat(grads)
            grad = grad / grad.abs().flatten(1).sum(1).clamp_min(1e-12).view(-1, 1, 1, 1)
            momentum = mu * momentum + grad
            adv = adv + sign * step * momentum.sign()
            adv = torch.min(torch.max(adv, images - eps), images + eps).clamp(0, 1).detach()
    return adv
