"""Plain gradient (saliency map) and gradient x input.

* Simonyan, Vedaldi, Zisserman, "Deep Inside Convolutional Networks: Visualising Image
  Classification Models and Saliency Maps", ICLR workshop 2014, arXiv:1312.6034. The map
  is the maximum over colour channels of |d score / d x| (their Sec. 3.1).
* Gradient x input: Shrikumar et al., "Not Just a Black Box", arXiv:1605.01713; the
  channel sum of x * d score / d x, signed (first-order Taylor term of the score).

Explained in ``book/01_models_and_images.ipynb``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers import preserved
from .common import input_gradients, prepare


def gradient(model: nn.Module, images: torch.Tensor, target=None, *, score: str = "logit",
             batch_size: int | None = None) -> torch.Tensor:
    """Saliency map: ``max_c |d score_c / d x|`` per pixel.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        score: ``"logit"``, ``"prob"`` or ``"log_prob"``.
        batch_size: images per forward/backward pass (``None``: all at once).

    Returns:
        ``[N, H, W]`` float32, non-negative.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.gradient(model, torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 32, 32])
    """
    images, target = prepare(model, images, target, score)
    with preserved(model):
        grads, _ = input_gradients(model, images, target, score=score, batch_size=batch_size)
    return grads.abs().amax(dim=1).float()


def gradient_x_input(model: nn.Module, images: torch.Tensor, target=None, *, score: str = "logit",
                     batch_size: int | None = None) -> torch.Tensor:
    """Gradient x input: ``sum_c x_c * d score / d x_c`` per pixel (signed).

    Same arguments as :func:`gradient`. Returns ``[N, H, W]`` float32.
    """
    images, target = prepare(model, images, target, score)
    with preserved(model):
        grads, _ = input_gradients(model, images, target, score=score, batch_size=batch_size)
    return (grads * images).sum(dim=1).float()
