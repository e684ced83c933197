"""Integrated Gradients.

Sundararajan, Taly, Yan, "Axiomatic Attribution for Deep Networks", ICML 2017,
arXiv:1703.01365. For an input ``x``, a baseline ``x'`` and the straight path
``gamma(a) = x' + a (x - x')`` the attribution of input coordinate ``i`` is (their eq. 1)

    IG_i(x) = (x_i - x'_i) * integral_0^1 dF/dx_i(gamma(a)) da,

approximated by a Riemann sum over ``n_steps`` sub-intervals of [0, 1] (their eq. 3 is
the right-hand rule). Completeness (their Proposition 1): ``sum_i IG_i = F(x) - F(x')``,
up to the quadrature error of the sum; :func:`completeness_gap` measures what is left.

Explained in ``book/`` (Integrated Gradients chapter).
"""
from __future__ import annotations

import torch
from torch import nn

from ..baselines import make_baseline
from ..batching import chunks, straight_path_batches
from ..checks import check_positive_int
from ..layers import preserved
from ..scores import select_score
from .common import prepare

RULES = ("left", "right", "midpoint", "trapezoid")


def riemann(n_steps: int, rule: str = "midpoint", dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``a_m`` and weights ``w_m`` of a Riemann rule on [0, 1] with ``n_steps`` sub-intervals.

    ``integral_0^1 f(a) da ~= sum_m w_m f(a_m)``. ``"left"``, ``"right"`` and ``"midpoint"``
    evaluate ``f`` at ``n_steps`` points with weights ``1 / n_steps``; ``"trapezoid"`` at the
    ``n_steps + 1`` points ``m / n_steps`` with the end weights halved. All weights sum to 1.

    Returns:
        ``(alphas [P], weights [P])`` with ``P = n_steps`` (``n_steps + 1`` for the trapezoid).
    """
    check_positive_int(n_steps, "n_steps")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    k = torch.arange(n_steps + (rule == "trapezoid"), dtype=dtype, device=device)
    offset = {"left": 0.0, "right": 1.0, "midpoint": 0.5, "trapezoid": 0.0}[rule]
    alphas = (k + offset) / n_steps
    weights = torch.full_like(alphas, 1.0 / n_steps)
    if rule == "trapezoid":
        weights[0] = weights[-1] = 0.5 / n_steps
    return alphas, weights


def _path_integral(model: nn.Module, images: torch.Tensor, baseline: torch.Tensor, target: torch.Tensor,
                   alphas: torch.Tensor, weights: torch.Tensor, score: str,
                   batch_size: int | None) -> torch.Tensor:
    """``sum_m w_m * grad s(x' + a_m (x - x'))`` per image, ``[N, 3, H, W]``.

    Every (image, step) pair is one row of a flat index, cut into passes of at most
    ``batch_size`` rows, so all interpolation points of all images are batched. On the
    CPU the points are laid out channels-last (NHWC), which oneDNN's convolutions run
    faster; a model that cannot take that layout (e.g. a ``.view`` of a 4-D activation)
    gets the usual one after its first failure.
    """
    weights = weights.to(images.device, images.dtype)
    total = torch.zeros_like(images)
    layout = torch.channels_last if images.device.type == "cpu" else torch.contiguous_format

    def grad_at(x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=layout).requires_grad_(True)
        s = select_score(model(x), target[i], score)
        return torch.autograd.grad(s.sum(), x)[0]

    # points on the straight path gamma(a_m) = x' + a_m (x - x')   (eq. 1)
    for _, i, m, x in straight_path_batches(images, baseline, alphas, batch_size):
        try:
            g = grad_at(x, i)
        except RuntimeError:
            if layout == torch.contiguous_format:
                raise
            layout = torch.contiguous_format
            g = grad_at(x, i)
        total.index_add_(0, i, g * weights[m].view(-1, 1, 1, 1))
    return total


def _scores(model: nn.Module, images: torch.Tensor, target: torch.Tensor, score: str,
            batch_size: int | None) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([select_score(model(images[sl]), target[sl], score)
                          for sl in chunks(images.shape[0], batch_size)])


def integrated_gradients(model: nn.Module, images: torch.Tensor, target=None, *, baseline="black",
                         n_steps: int = 50, rule: str = "midpoint", score: str = "logit",
                         batch_size: int | None = None, per_channel: bool = False, seed: int = 0,
                         return_gap: bool = False):
    """Integrated Gradients along the straight path from ``baseline`` to ``images``.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        baseline: ``"black"``, ``"blur"`` (the I-GOS blur), ``"noise"``/``"uniform"``
            (seeded by ``seed``), ``"grey"``, a float, or a tensor broadcastable to ``images``.
        n_steps: number of sub-intervals of [0, 1] in the Riemann sum (eq. 3).
        rule: ``"midpoint"`` (default), ``"left"``, ``"right"`` (the paper's eq. 3) or
            ``"trapezoid"``. Midpoint and trapezoid are second-order accurate; midpoint
            needs ``n_steps`` gradients, the trapezoid ``n_steps + 1``, so midpoint is the
            default. (captum's ``"riemann_trapezoid"`` with ``n`` points uses weights
            ``1/n`` that sum to ``1 - 1/n``; ours sum to 1.)
        score: ``"logit"``, ``"prob"`` or ``"log_prob"``: the ``F`` being integrated.
        batch_size: interpolated images per forward/backward pass (``None``: all
            ``N * n_steps`` at once, which needs memory for that many activations).
        per_channel: return the attributions ``[N, 3, H, W]`` instead of their channel sum.
        seed: seed of the noise baseline.
        return_gap: also return the completeness gap ``sum(attr) - (F(x) - F(x'))``
            ``[N]``, computed in the images' dtype before the cast to float32.

    Returns:
        ``[N, H, W]`` float32 (``[N, 3, H, W]`` with ``per_channel``), signed; with
        ``return_gap`` a pair ``(saliency, gap)``.

    Reference:
        Sundararajan, Taly, Yan, ICML 2017, https://arxiv.org/abs/1703.01365.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.integrated_gradients(model, torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 32, 32])
    """
    images, target = prepare(model, images, target, score)
    alphas, weights = riemann(n_steps, rule)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    base = make_baseline(baseline, images, seed=seed)
    if not torch.isfinite(base).all():
        raise ValueError("baseline contains NaN or infinite values")
    with preserved(model):
        total = _path_integral(model, images, base, target, alphas, weights, score, batch_size)
        attributions = (images - base) * total  # (x_i - x'_i) * integral   (eq. 1)
        if return_gap:
            change = _scores(model, images, target, score, batch_size) - _scores(model, base, target, score, batch_size)
            gap = attributions.flatten(1).sum(1) - change
    saliency = attributions if per_channel else attributions.sum(dim=1)
    saliency = saliency.detach().float()
    return (saliency, gap.detach()) if return_gap else saliency


def completeness_gap(model: nn.Module, images: torch.Tensor, attributions: torch.Tensor, target=None, *,
                     baseline="black", score: str = "logit", seed: int = 0,
                     batch_size: int | None = None) -> torch.Tensor:
    """Completeness gap ``sum(attributions) - (F(x) - F(x'))`` per image, ``[N]``.

    ``attributions`` is anything with ``N`` rows that sums to the total attribution
    (the ``[N, H, W]`` map or the ``[N, 3, H, W]`` per-channel attributions). ``baseline``,
    ``score`` and ``seed`` must be those used to compute them. The sum is taken in
    float64 when the attributions are float32 (their own rounding is then the floor).
    """
    images, target = prepare(model, images, target, score)
    if attributions.shape[0] != images.shape[0]:
        raise ValueError(f"attributions have {attributions.shape[0]} rows but there are {images.shape[0]} images")
    base = make_baseline(baseline, images, seed=seed)
    with preserved(model):
        change = _scores(model, images, target, score, batch_size) - _scores(model, base, target, score, batch_size)
    total = attributions.detach().to(images.device).flatten(1).double().sum(1)
    return total - change.double()
