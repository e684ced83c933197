"""Glossary and shape conventions shared by every module of :mod:`igos`.

One word per concept, everywhere in the package and the book:

==============  ==================================================================
``images``      float tensor ``[N, 3, H, W]`` with values in [0, 1] (pixel space).
                Models returned by :func:`igos.load_model` normalise internally.
``target``      the class explained: ``None`` (the model's top-1 prediction), an
                ``int`` (the same class for every image) or ``N`` ints.
``saliency``    float32 tensor ``[N, h, w]`` at the method's native resolution;
                larger means more important; never normalised by the methods.
``baseline``    the reference input of interpolation and perturbation methods:
                ``"black"``, ``"blur"``, ``"noise"``, ``"uniform"`` or a tensor
                broadcastable to ``images``.
``layer``       a module of the model, or its dotted name (``"features.29"``).
``score``       which output is differentiated: ``"logit"`` (pre-softmax),
                ``"prob"`` (post-softmax) or ``"log_prob"`` (log-softmax).
``n_steps``     number of interpolation / Riemann steps.
``batch_size``  maximum number of images per internal forward pass; results
                never depend on it. ``None`` means one pass.
``seed``        seed of a local :class:`torch.Generator`; global RNG state is
                never touched.
==============  ==================================================================
"""
from __future__ import annotations

from typing import Sequence, Union

import torch

Target = Union[None, int, Sequence[int], torch.Tensor]
Layer = Union[str, torch.nn.Module, None]
SCORES = ("logit", "prob", "log_prob")

__all__ = ["Target", "Layer", "SCORES"]
