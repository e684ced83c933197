"""Pre- vs post-softmax scores: Grad-CAM weights, per-class weights, a stable probability gradient.

Lerma & Lucas, "Pre or Post-Softmax Scores in Gradient-based Attribution Methods, What is
Best?", arXiv:2306.13197. With logits ``z`` and probabilities ``y = softmax(z)``:

    grad y_c = y_c (grad z_c - sum_j y_j grad z_j) = y_c sum_{j != c} y_j grad (z_c - z_j)

so post-softmax Grad-CAM weights are ``y_c (alpha^c - sum_j y_j alpha^j)`` in terms of the
pre-softmax weights ``alpha^j`` of every class (:func:`class_cam_weights`). In float32 the
usual softmax backward computes the ``grad z_c`` coefficient as ``y_c (1 - y_c)``, which is
exactly 0 once ``y_c`` rounds to 1.0; :func:`stable_prob` is a score with the value ``y_c``
whose gradient uses the pairwise form, where ``1 - y_c`` appears as ``sum_{j != c} y_j``.

A *score* here is ``"logit"``, ``"prob"``, ``"log_prob"`` (see :func:`igos.scores.select_score`)
or a callable ``score(logits [N, C], target [N]) -> [N]`` such as :func:`contrast_score` or
:func:`stable_prob`.

Explained in ``book/11_pre_post_softmax.ipynb``.
"""
from __future__ import annotations

from typing import Callable, Union

import torch
from torch import nn

from ..layers import capture, get_layer, preserved
from ..methods.common import prepare
from ..scores import select_score

Score = Union[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def _select(logits: torch.Tensor, target: torch.Tensor, score: Score) -> torch.Tensor:
    return score(logits, target) if callable(score) else select_score(logits, target, score)


def contrast_score(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum_{j != c} y_j (z_c - z_j)`` with the probabilities ``y`` held fixed -> ``[N]``.

    Its gradient is ``sum_{j != c} y_j grad(z_c - z_j) = grad y_c / y_c``: the
    probability-weighted contrast of the target logit against the others.
    """
    y = logits.detach().softmax(dim=1)
    others = y.scatter(1, target.view(-1, 1), 0.0)           # y_j for j != c, 0 at c
    zc = logits.gather(1, target.view(-1, 1))
    return (others * (zc - logits)).sum(dim=1)


def stable_prob(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``y_c`` as a value, with the gradient ``y_c sum_{j != c} y_j grad(z_c - z_j)`` -> ``[N]``.

    Same value and (in exact arithmetic) same gradient as ``"prob"``; in floating point
    the coefficient of ``grad z_c`` is the sum of the small ``y_j`` instead of the
    difference ``1 - y_c``, so it stays accurate when ``y_c`` rounds to 1.
    """
    yc = logits.detach().softmax(dim=1).gather(1, target.view(-1, 1)).squeeze(1)
    s = contrast_score(logits, target)
    return yc + yc * (s - s.detach())


def logit_gradient(logits: torch.Tensor, target, score: Score = "prob") -> torch.Tensor:
    """``d score / d logits`` ``[N, C]`` for logits ``[N, C]``, in their dtype (the softmax part alone)."""
    z = logits.detach().requires_grad_(True)
    target = torch.as_tensor(target, device=z.device).long().view(-1).expand(z.shape[0])
    (g,) = torch.autograd.grad(_select(z, target, score).sum(), z)
    return g


def input_gradient(model: nn.Module, images: torch.Tensor, target=None, *, score: Score = "logit") -> torch.Tensor:
    """``d score / d images`` ``[N, 3, H, W]`` in the images' dtype (one pass, model left as found)."""
    images, target = prepare(model, images, target)
    with preserved(model):
        x = images.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(_select(model(x), target, score).sum(), x)
    return g


def cam_weights(model: nn.Module, images: torch.Tensor, target=None, *, layer=None,
                score: Score = "logit", return_activations: bool = False):
    """Grad-CAM channel weights ``alpha_k = mean_ij d score / d A^k_ij`` -> ``[N, K]``.

    For a string ``score`` these are the weights inside :func:`igos.grad_cam`
    (``ReLU(sum_k alpha_k A^k)`` is its map). With ``return_activations`` also the
    layer's activations ``A`` ``[N, K, h, w]``: ``(weights, A)``, detached.
    """
    images, target = prepare(model, images, target)
    get_layer(model, layer)
    with preserved(model):
        with capture(model, layer) as store:
            s = _select(model(images.detach().requires_grad_(True)), target, score)
        (g,) = torch.autograd.grad(s.sum(), store.activation)
    weights = g.mean(dim=(2, 3))
    return (weights, store.activation.detach()) if return_activations else weights


def class_cam_weights(model: nn.Module, images: torch.Tensor, classes=None, *, layer=None,
                      chunk: int = 250) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-softmax Grad-CAM weights of many classes from one forward pass.

    Args:
        classes: class indices ``[C]`` (``None``: every class).
        chunk: classes per batched backward pass (memory ``chunk * N * K * h * w``).

    Returns:
        ``(weights [N, C, K], logits [N, num_classes])``, detached, in the images' dtype.
    """
    images, _ = prepare(model, images, 0)
    with preserved(model):
        with capture(model, layer) as store:
            logits = model(images.detach().requires_grad_(True))
        classes = torch.arange(logits.shape[1]) if classes is None else torch.as_tensor(classes).view(-1)
        out = []
        for part in classes.split(chunk):
            seeds = torch.zeros(part.numel(), *logits.shape, dtype=logits.dtype, device=logits.device)
            seeds[torch.arange(part.numel()), :, part.to(logits.device)] = 1.0   # one-hot d/dz_j per row
            (g,) = torch.autograd.grad(logits, store.activation, grad_outputs=seeds,
                                       is_grads_batched=True, retain_graph=True)
            out.append(g.mean(dim=(-2, -1)))                                    # [c, N, K]
    return torch.cat(out).transpose(0, 1).contiguous(), logits.detach()


def post_from_pre(pre: torch.Tensor, logits: torch.Tensor, target, classes=None) -> torch.Tensor:
    """Post-softmax Grad-CAM weights ``y_c (alpha^c - sum_j y_j alpha^j)`` from pre-softmax ones -> ``[N, K]``.

    Args:
        pre: pre-softmax weights ``[N, C, K]`` of the classes ``classes`` (``None``: all),
            as returned by :func:`class_cam_weights`; ``target`` must be among them.
        logits: ``[N, num_classes]``; the sum over ``j`` runs over ``classes`` only, so it
            misses the probability mass ``1 - sum_{j in classes} y_j``.
    """
    y = logits.softmax(dim=1)
    classes = torch.arange(y.shape[1]) if classes is None else torch.as_tensor(classes).view(-1)
    target = torch.as_tensor(target).long().view(-1).expand(y.shape[0]).reshape(-1, 1).to(classes.device)
    where = (classes[None] == target).float().argmax(dim=1).to(pre.device)          # position of c in classes
    yc = y.gather(1, target.to(y.device))
    pre_c = pre[torch.arange(pre.shape[0]), where]
    return yc * (pre_c - (y[:, classes.to(y.device), None] * pre).sum(dim=1))


__all__ = ["cam_weights", "class_cam_weights", "contrast_score", "input_gradient", "logit_gradient", "post_from_pre", "stable_prob"]
