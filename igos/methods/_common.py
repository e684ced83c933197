"""Shared machinery of the gradient methods: validated inputs, chunked input and layer gradients."""
from __future__ import annotations

import torch
from torch import nn

from ..batching import chunks
from ..checks import check_images
from ..layers import capture
from ..scores import check_score, select_score
from ..targets import as_target, num_classes_of


def prepare(model: nn.Module, images: torch.Tensor, target, score: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``images`` and ``score``; return ``(images, target LongTensor[N])``."""
    check_images(images)
    if score is not None:
        check_score(score)
    target = as_target(target, images, model, num_classes_of(model, images))
    return images, target


def input_gradients(model: nn.Module, images: torch.Tensor, target: torch.Tensor, *, score: str = "logit",
                    batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """d score / d images for each image, in chunks of ``batch_size``.

    Must run inside :func:`igos.layers.preserved`. Returns ``(grads [N, 3, H, W],
    scores [N])``, detached.
    """
    grads, scores = [], []
    for sl in chunks(images.shape[0], batch_size):
        x = images[sl].detach().requires_grad_(True)
        s = select_score(model(x), target[sl], score)
        (g,) = torch.autograd.grad(s.sum(), x)
        grads.append(g)
        scores.append(s.detach())
    return torch.cat(grads), torch.cat(scores)


def layer_gradients(model: nn.Module, images: torch.Tensor, target: torch.Tensor, layer, *, score: str = "logit",
                    batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Activations of ``layer`` and d score / d activations, in chunks of ``batch_size``.

    Must run inside :func:`igos.layers.preserved`. Returns ``(activations [N, K, h, w],
    grads [N, K, h, w], scores [N])``, detached. Rows of the score are independent, so
    summing them before the backward pass gives every image its own gradient.
    """
    acts, grads, scores = [], [], []
    for sl in chunks(images.shape[0], batch_size):
        # the input requires grad so that the activations do, even with frozen parameters
        with capture(model, layer) as store:
            s = select_score(model(images[sl].detach().requires_grad_(True)), target[sl], score)
        a = store.activation
        (g,) = torch.autograd.grad(s.sum(), a)
        acts.append(a.detach())
        grads.append(g)
        scores.append(s.detach())
    return torch.cat(acts), torch.cat(grads), torch.cat(scores)
