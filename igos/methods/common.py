"""Shared machinery of the gradient methods: validated inputs, chunked input and layer gradients."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..batching import chunks
from ..checks import check_images
from ..layers import Capture, record
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


@contextlib.contextmanager
def layer_leaf(model: nn.Module, layer) -> Iterator[Capture]:
    """Like :func:`igos.layers.capture`, but the layer's output becomes the start of the graph.

    The recorded activation is a fresh leaf that requires grad, and the network goes on
    with a clone of it (so in-place ops after the layer cannot overwrite it). Nothing
    below the layer is recorded for the backward pass, which saves time and memory when
    only ``d score / d activation`` is wanted. The hook is removed on exit, also on error.
    """
    with record(model, layer, leaf=True) as store:
        yield store


def layer_gradients(model: nn.Module, images: torch.Tensor, target: torch.Tensor, layer, *, score: str = "logit",
                    batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Activations of ``layer`` and d score / d activations, in chunks of ``batch_size``.

    Must run inside :func:`igos.layers.preserved`. Returns ``(activations [N, K, h, w],
    grads [N, K, h, w], scores [N])``, detached. Rows of the score are independent, so
    summing them before the backward pass gives every image its own gradient. The graph
    starts at the layer (:func:`layer_leaf`), so the part of the network below it runs
    without recording anything for the backward pass.
    """
    acts, grads, scores = [], [], []
    for sl in chunks(images.shape[0], batch_size):
        with layer_leaf(model, layer) as store:
            s = select_score(model(images[sl]), target[sl], score)
        a = store.activation
        (g,) = torch.autograd.grad(s.sum(), a)
        acts.append(a.detach())
        grads.append(g)
        scores.append(s.detach())
    return torch.cat(acts), torch.cat(grads), torch.cat(scores)
