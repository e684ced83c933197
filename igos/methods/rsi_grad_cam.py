"""RSI-Grad-CAM: Riemann-Stieltjes integrated gradients at a layer.

Lucas, Lerma, Furst, Raicu, "RSI-Grad-CAM: Visual Explanations from Deep Networks via
Riemann-Stieltjes Integrated Gradient-based Localization", ISVC 2022, arXiv:2205.10900.
Along the input path ``gamma(a) = x' + a (x - x')`` the layer follows ``A(a) = A(gamma(a))``
and has gradient ``G(a) = ds/dA`` there. Each unit ``(k, i, j)`` gets the Riemann-Stieltjes
integral of ``G`` against ``A``, approximated by the trapezoid sum over ``M = n_steps``
sub-intervals with ``a_m = m / M`` (the authors' ``stieltjes_integral_approximation``):

    RSI^k_ij = sum_{m=1}^{M} (G^k_ij(a_{m-1}) + G^k_ij(a_m)) / 2 * (A^k_ij(a_m) - A^k_ij(a_{m-1}))

Channel weights are spatial means and the map uses the final activations ``A(1) = A(x)``:

    w_k = (1/Z) sum_ij RSI^k_ij,        L = ReLU(sum_k w_k A^k(x)).

The score is post-softmax (``score="prob"``), as in the authors' code, and the baseline
black (in pixel space, before the model's normalisation). This is the plain definition:
the authors' Keras notebook additionally keeps only units with positive ``A(x)``, RSI and
increment, and their PyTorch notebooks apply ReLU to ``G`` before integrating and average
channels instead of summing; neither selection is applied here.

Layer completeness: if the score depends on the input only through the layer (the layer
is a *cut* of the graph), the chain rule gives ``sum_kij RSI^k_ij = s(x) - s(x')`` up to the
trapezoid error; :func:`layer_completeness_gap` measures the difference. Inside a residual
block whose skip connection bypasses the layer (e.g. ResNet's ``layer4[-1].conv3``) the
layer is not a cut and the gap does not close; the output of a whole block or stage is.

Explained in ``book/`` (RSI-Grad-CAM chapter).
"""
from __future__ import annotations

import torch
from torch import nn

from ..baselines import make_baseline
from ..batching import chunks
from ..checks import check_positive_int
from ..layers import get_layer, preserved
from ..scores import select_score
from .common import layer_leaf, prepare


def _rs_integrals(model: nn.Module, images: torch.Tensor, target: torch.Tensor, layer, baseline: torch.Tensor,
                  n_steps: int, score: str, batch_size: int | None):
    """Unit-level RS integrals at ``layer`` and what the map and the gap need.

    All ``N * (n_steps + 1)`` (image, step) pairs are one flat index cut into passes of
    at most ``batch_size`` images; the trapezoid terms pair each row with the row before
    it, carried across pass boundaries, so nothing depends on ``batch_size``.

    Returns:
        ``(rsi, acts_x, score_x, score_baseline)``: ``rsi`` and ``acts_x`` shaped like the
        layer output, the scores ``[N]``; all detached, in the images' dtype.
    """
    n, p = images.shape[0], n_steps + 1
    alphas = torch.arange(p, device=images.device, dtype=images.dtype) / n_steps   # a_m = m / M
    delta = images - baseline
    rsi = acts_x = None
    scores = torch.zeros(n, p, device=images.device, dtype=images.dtype)
    prev = None
    for sl in chunks(n * p, batch_size):
        rows = torch.arange(sl.start, sl.stop, device=images.device)
        i, m = rows // p, rows % p
        x = baseline[i] + alphas[m].view(-1, 1, 1, 1) * delta[i]
        with layer_leaf(model, layer) as store:   # the graph starts at the layer
            s = select_score(model(x), target[i], score)
        act = store.activation
        (grad,) = torch.autograd.grad(s.sum(), act)
        act = act.detach()
        if rsi is None:
            rsi = act.new_zeros((n, *act.shape[1:]))
            acts_x = act.new_zeros((n, *act.shape[1:]))
        # pair row r with row r - 1 (the last row of the previous pass at a boundary)
        act_prev = torch.cat([prev[0] if prev is not None else act[:1], act[:-1]])
        grad_prev = torch.cat([prev[1] if prev is not None else grad[:1], grad[:-1]])
        term = 0.5 * (grad_prev + grad) * (act - act_prev)     # trapezoid RS term
        keep = (m > 0).to(term.dtype).view(-1, *[1] * (term.dim() - 1))
        rsi.index_add_(0, i, term * keep)
        last = m == n_steps
        acts_x[i[last]] = act[last]
        scores[i, m] = s.detach()
        prev = (act[-1:], grad[-1:])
    return rsi, acts_x, scores[:, -1], scores[:, 0]


def _run(model, images, target, layer, baseline, n_steps, score, batch_size, seed):
    images, target = prepare(model, images, target, score)
    check_positive_int(n_steps, "n_steps")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    get_layer(model, layer)  # unknown names fail here, listing close matches
    base = make_baseline(baseline, images, seed=seed)
    if not torch.isfinite(base).all():
        raise ValueError("baseline contains NaN or infinite values")
    with preserved(model):
        return _rs_integrals(model, images, target, layer, base, n_steps, score, batch_size)


def rsi_grad_cam(model: nn.Module, images: torch.Tensor, target=None, *, layer=None, baseline="black",
                 n_steps: int = 50, score: str = "prob", batch_size: int | None = None,
                 seed: int = 0) -> torch.Tensor:
    """RSI-Grad-CAM map at ``layer``: ``ReLU(sum_k mean_ij(RSI^k_ij) A^k(x))``.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        layer: a module or dotted name with output ``[N, K, h, w]``; ``None`` is the
            model's ``default_layer``.
        baseline: ``"black"`` (the authors' choice), ``"blur"``, ``"noise"``, a float or a tensor.
        n_steps: number ``M`` of sub-intervals; the model runs on ``M + 1`` points per image.
        score: ``"prob"`` (the authors' post-softmax score), ``"logit"`` or ``"log_prob"``.
        batch_size: interpolated images per forward/backward pass (``None``: all at once).
        seed: seed of the noise baseline.

    Returns:
        ``[N, h, w]`` float32, non-negative, on the layer's grid.

    Reference:
        Lucas, Lerma, Furst, Raicu, ISVC 2022, https://arxiv.org/abs/2205.10900.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.rsi_grad_cam(model, torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 16, 16])
    """
    rsi, acts, _, _ = _run(model, images, target, layer, baseline, n_steps, score, batch_size, seed)
    if acts.dim() != 4:
        raise ValueError(f"rsi_grad_cam needs a convolutional layer with output [N, K, h, w]; "
                         f"layer {layer!r} gives {tuple(acts.shape)}")
    weights = rsi.mean(dim=(2, 3))                                   # w_k: spatial mean of RSI
    return torch.einsum("nk,nkhw->nhw", weights, acts).clamp_min(0).float()


def layer_completeness_gap(model: nn.Module, images: torch.Tensor, target=None, *, layer=None,
                           baseline="black", n_steps: int = 50, score: str = "prob",
                           batch_size: int | None = None, seed: int = 0) -> torch.Tensor:
    """``sum_kij RSI^k_ij - (s(x) - s(x'))`` per image, ``[N]``, in the images' dtype.

    Same arguments as :func:`rsi_grad_cam`; any layer with a tensor output works. The
    gap tends to 0 as ``n_steps`` grows only where ``layer`` is a cut of the graph (every
    path from the input to the score passes through it); inside a residual block the
    skip connection carries part of the change past the layer and the gap stays open.
    """
    rsi, _, score_x, score_base = _run(model, images, target, layer, baseline, n_steps, score, batch_size, seed)
    return rsi.flatten(1).sum(1) - (score_x - score_base)
