"""Path methods beyond the straight line, and path profiles of a model (for the theory chapters).

Integrated Gradients (:func:`igos.integrated_gradients`) integrates the gradient along the
straight path from a baseline to the input. A *path method* (Sundararajan et al. 2017, sec. 4)
integrates along any path ``gamma: [0, 1] -> R^n`` from ``x'`` to ``x``:

    PathIG_i = integral_0^1 dF/dx_i(gamma(a)) * gamma_i'(a) da.

This module has the pieces the Integrated Gradients chapter needs to study such methods on
small float64 functions and on a real model:

* :func:`straight_path` and :func:`power_path` (a non-straight path that still preserves
  symmetry), each a callable ``alphas -> (points, velocities)``;
* :func:`path_attributions` - the Riemann sum of a path method for a function on vectors;
* :func:`cantor` - the Cantor staircase, continuous and differentiable almost everywhere
  with derivative 0, yet rising from 0 to 1 (the counterexample to completeness under
  "differentiable almost everywhere");
* :func:`path_profile` and :func:`grid_rule` - the score ``phi(a) = F(gamma(a))`` and its
  derivative ``phi'(a) = grad F(gamma(a)) . (x - x')`` of a model along the straight path at
  the nodes ``k / (2K)``, from which every Riemann rule with ``n | K`` sub-intervals follows
  without new gradient evaluations.

Explained in ``book/10_integrated_gradients.ipynb``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..baselines import make_baseline
from ..batching import straight_path_batches
from ..layers import preserved
from ..methods.common import prepare
from ..methods.integrated_gradients import RULES, riemann
from ..scores import select_score

__all__ = ["straight_path", "power_path", "path_attributions", "cantor", "path_profile", "grid_rule"]

Path = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def straight_path(x: torch.Tensor, baseline: torch.Tensor) -> Path:
    """``gamma(a) = x' + a (x - x')`` for vectors ``x``, ``x'`` ``[n]``: ``alphas [P] -> (points, velocities) [P, n]``."""
    d = x - baseline

    def path(alphas: torch.Tensor):
        a = alphas.to(x.dtype).view(-1, 1)
        return baseline + a * d, d.expand(a.shape[0], -1)

    return path


def power_path(x: torch.Tensor, baseline: torch.Tensor) -> Path:
    """``gamma_i(a) = x'_i + (x_i - x'_i) a^(1 + |x_i - x'_i|)``: each coordinate by the same rule of its own gap.

    Curved as soon as two nonzero gaps differ in absolute value (a zero gap does not move,
    and ``d`` and ``-d`` share a schedule), yet symmetry-preserving: two coordinates with
    equal input values and equal baseline values follow identical trajectories. Monotone in
    every coordinate; smooth on ``(0, 1]``, at 0 only ``C^k`` with ``k = floor(1 + |d_i|)``
    unless ``|d_i|`` is an integer.
    """
    d = x - baseline
    p = 1 + d.abs()

    def path(alphas: torch.Tensor):
        a = alphas.to(x.dtype).view(-1, 1)
        return baseline + d * a.pow(p), d * p * a.pow(p - 1)

    return path


def path_attributions(f: Callable[[torch.Tensor], torch.Tensor], path: Path, n_steps: int = 64,
                      rule: str = "midpoint") -> torch.Tensor:
    """Riemann sum of the path method of ``f`` along ``path``: ``sum_m w_m grad f(gamma(a_m)) * gamma'(a_m)`` ``[n]``.

    ``f`` maps points ``[P, n]`` to scores ``[P]`` (rows independent); ``path`` is one of
    :func:`straight_path`, :func:`power_path` or any callable ``alphas [P] -> (points,
    velocities) [P, n]``. Nodes and weights are those of :func:`igos.methods.integrated_gradients.riemann`.
    With :func:`straight_path` this is Integrated Gradients.
    """
    probe, _ = path(torch.zeros(1, dtype=torch.float64))
    alphas, weights = riemann(n_steps, rule, dtype=probe.dtype)
    points, velocity = path(alphas)
    points = points.detach().requires_grad_(True)
    with torch.enable_grad():
        total = f(points).sum()
        # a function that autograd sees as constant (e.g. built from floor) has gradient 0
        g = torch.autograd.grad(total, points)[0] if total.requires_grad else torch.zeros_like(points)
    return (weights.view(-1, 1) * g * velocity).sum(0)


def cantor(t: torch.Tensor, depth: int = 40) -> torch.Tensor:
    """The Cantor staircase on ``[0, 1]`` (clamped outside), elementwise.

    Reads the ternary digits of ``t``: each digit 2 adds ``2^-k``, the first digit 1 adds
    ``2^-k`` and stops. In float64 the digits beyond about the 33rd are rounding noise, so
    the values are accurate to about ``1e-10``. Built from ``floor`` and comparisons, so
    autograd sees a constant: derivative 0 everywhere, which is the true derivative at
    almost every point.
    """
    t = t.clamp(0, 1)
    out = torch.zeros_like(t)
    done = t >= 1                                   # C(1) = 1
    out = torch.where(done, torch.ones_like(t), out)
    r = t
    for k in range(1, depth + 1):
        digit = torch.floor(3 * r).clamp(max=2)
        r = 3 * r - digit
        add = (digit >= 1) & ~done
        out = out + add.to(t.dtype) * 2.0 ** -k
        done = done | (digit == 1)
    return out


def path_profile(model: nn.Module, images: torch.Tensor, alphas: torch.Tensor, target=None, *, baseline="black",
                 score: str = "logit", batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Score and its derivative along the straight path, ``phi(a)`` and ``phi'(a)``, each ``[N, P]``.

    ``phi(a) = F(x' + a (x - x'))`` with ``F`` the ``score`` of class ``target``, and
    ``phi'(a) = grad F(x' + a (x - x')) . (x - x')`` (autograd's gradient), at every node
    of ``alphas`` ``[P]``. Integrated Gradients with any Riemann rule sums to
    ``sum_m w_m phi'(a_m)``; its completeness gap is that minus ``phi(1) - phi(0)``.
    Computed in the images' dtype, ``batch_size`` path points per pass (``None``: all).
    """
    images, target = prepare(model, images, target, score)
    base = make_baseline(baseline, images)
    n, p = images.shape[0], alphas.numel()
    delta = images - base
    phi = torch.empty(n * p, device=images.device, dtype=images.dtype)
    dphi = torch.empty_like(phi)
    with preserved(model):
        for sl, i, m, x in straight_path_batches(images, base, alphas, batch_size):
            x = x.requires_grad_(True)
            s = select_score(model(x), target[i], score)
            (g,) = torch.autograd.grad(s.sum(), x)
            phi[sl] = s.detach()
            dphi[sl] = (g * delta[i]).flatten(1).sum(1)
    return phi.view(n, p), dphi.view(n, p)


def grid_rule(dphi: torch.Tensor, n_steps: int, rule: str = "midpoint") -> torch.Tensor:
    """The Riemann sum ``sum_m w_m phi'(a_m)`` of ``rule`` with ``n_steps`` sub-intervals, from values on a grid.

    ``dphi`` ``[..., 2K + 1]`` holds ``phi'`` at the nodes ``k / (2K)``, ``k = 0..2K``; every node of
    every rule with ``n_steps`` dividing ``K`` lies on this grid (midpoints included).
    Returns ``[...]``.
    """
    two_k = dphi.shape[-1] - 1
    if two_k % 2 or (two_k // 2) % n_steps:
        raise ValueError(f"need a grid of 2K + 1 nodes with n_steps | K; got {dphi.shape[-1]} nodes, n_steps={n_steps}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    alphas, weights = riemann(n_steps, rule, dtype=torch.float64)
    idx = torch.round(alphas * two_k).long().to(dphi.device)
    return (dphi[..., idx] * weights.to(dphi.device, dphi.dtype)).sum(-1)
