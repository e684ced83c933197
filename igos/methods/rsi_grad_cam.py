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

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from ..baselines import make_baseline
from ..batching import straight_path_batches
from ..checks import check_positive_int
from ..layers import get_layer, preserved, record
from ..scores import select_score
from .cam import weighted_map
from .common import prepare


@dataclass
class RSRecord:
    """What :func:`rs_integrals` recorded along one path.

    ``rsi[layer][M]``: unit-level trapezoid Riemann-Stieltjes sums with ``M`` sub-intervals,
    shaped like the layer output; ``acts[layer]`` / ``grads[layer]``: ``A(x)`` and ``ds/dA``
    at the input (``a = 1``); ``scores``: ``s`` at the nodes ``m / max(n_steps)``, ``[N, P]``.
    """

    n_steps: tuple[int, ...]
    rsi: dict = field(default_factory=dict)
    acts: dict = field(default_factory=dict)
    grads: dict = field(default_factory=dict)
    scores: torch.Tensor | None = None

    def gap(self, layer: str, n_steps: int) -> torch.Tensor:
        """Layer completeness gap ``sum RSI - (s(x) - s(x'))`` per image ``[N]``."""
        return self.rsi[layer][n_steps].flatten(1).sum(1) - (self.scores[:, -1] - self.scores[:, 0])

    def weights(self, layer: str, n_steps: int) -> torch.Tensor:
        """RSI-Grad-CAM channel weights: spatial means of the sums, ``[N, K]``."""
        return self.rsi[layer][n_steps].mean(dim=(2, 3))

    def map(self, layer: str, n_steps: int) -> torch.Tensor:
        """RSI-Grad-CAM map ``ReLU(sum_k w_k A^k(x))``, float32 ``[N, h, w]`` (as :func:`igos.rsi_grad_cam`)."""
        return weighted_map(self.weights(layer, n_steps), self.acts[layer])


def rs_integrals(model: nn.Module, images: torch.Tensor, target=None, *, layers, n_steps=(50,),
                 baseline="black", score: str = "prob", batch_size: int | None = None, seed: int = 0) -> RSRecord:
    """Trapezoid Riemann-Stieltjes sums at several layers and step counts from one path.

    Args:
        model, images, target, baseline, score, batch_size, seed: as in :func:`igos.rsi_grad_cam`.
        layers: layer names (or modules); ``"input"`` is the image in pixel space. A pair
            ``(g_layer, a_layer)`` of names with outputs of one shape integrates the gradient at
            ``g_layer`` against the activations of ``a_layer`` (for example a residual block's
            output against its input: the skip connection's share); it is recorded under the key
            ``"g_layer | a_layer"``.
        n_steps: step counts ``M``; each must divide the largest, which sets the grid.

    Returns:
        An :class:`RSRecord`. ``record.rsi[layer][M]`` equals the sums behind
        ``igos.rsi_grad_cam(..., layer=layer, n_steps=M)`` (same nodes ``m / M``).
    """
    images, target = prepare(model, images, target, score)
    steps = tuple(sorted({check_positive_int(m, "n_steps") for m in n_steps}))
    top = steps[-1]
    if any(top % m for m in steps):
        raise ValueError(f"every n_steps must divide the largest ({top}), got {steps}")
    pairs = [tuple(layer) if isinstance(layer, (tuple, list)) else (layer, layer) for layer in layers]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("a pair in layers must be (gradient layer, activation layer)")
    names = [layer if isinstance(layer, str) else " | ".join(layer) if isinstance(layer, (tuple, list)) else str(i)
             for i, layer in enumerate(layers)]
    key = lambda layer: layer if isinstance(layer, str) else id(layer)  # noqa: E731  (modules by identity)
    slot = {}                                           # each hooked layer once, in order of appearance
    for layer in (layer for pair in pairs for layer in pair):
        slot.setdefault(key(layer), (len(slot), layer))
    unique = [layer for _, layer in slot.values()]
    for layer in unique:
        if not (isinstance(layer, str) and layer == "input"):
            get_layer(model, layer)
    where = lambda layer: slot[key(layer)][0]  # noqa: E731
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    base = make_baseline(baseline, images, seed=seed)
    if not torch.isfinite(base).all():
        raise ValueError("baseline contains NaN or infinite values")
    n, p = images.shape[0], top + 1
    alphas = torch.arange(p, device=images.device, dtype=images.dtype) / top      # a_m = m / M
    # one layer that is not the input: the graph starts at the layer (nothing below it is recorded)
    leaf = len(unique) == 1 and not (isinstance(unique[0], str) and unique[0] == "input")
    rec = RSRecord(steps, {name: {} for name in names})
    rec.scores = torch.zeros(n, p, device=images.device, dtype=images.dtype)
    carry = {}
    with preserved(model):
        for _, i, m, x in straight_path_batches(images, base, alphas, batch_size):
            if not leaf:
                x = x.requires_grad_(True)
            with contextlib.ExitStack() as stack:
                stores = [None if (isinstance(l, str) and l == "input")
                          else stack.enter_context(record(model, l, leaf=leaf)) for l in unique]
                s = select_score(model(x), target[i], score)
            tensors = [x if st is None else st.activation for st in stores]
            grads = torch.autograd.grad(s.sum(), tensors)
            rec.scores[i, m] = s.detach()
            for name, (g_layer, a_layer) in zip(names, pairs):
                act, grad = tensors[where(a_layer)], grads[where(g_layer)]
                if act.shape != grad.shape:
                    raise ValueError(f"{name}: the gradient layer's output {tuple(grad.shape[1:])} and the "
                                     f"activation layer's {tuple(act.shape[1:])} differ in shape")
                _accumulate(rec, carry, name, act.detach(), grad.detach(), i, m, top)
    return rec


def _accumulate(rec: RSRecord, carry: dict, name: str, act, grad, i, m, top: int) -> None:
    """Add this pass's trapezoid terms for every step count; pair each node with the previous one on its grid."""
    last = m == top
    for steps in rec.n_steps:
        stride = top // steps
        on = (m % stride == 0).nonzero().squeeze(1)
        if on.numel() == 0:
            continue
        a, g, ii, mm = act[on], grad[on], i[on], m[on]
        if (name, steps) in carry:
            pa, pg = carry[name, steps]
            a_prev, g_prev = torch.cat([pa, a[:-1]]), torch.cat([pg, g[:-1]])
        else:
            a_prev, g_prev = torch.cat([a[:1], a[:-1]]), torch.cat([g[:1], g[:-1]])
        term = 0.5 * (g_prev + g) * (a - a_prev) * (mm > 0).to(a.dtype).view(-1, *[1] * (a.dim() - 1))
        total = rec.rsi[name].get(steps)
        if total is None:
            total = rec.rsi[name][steps] = a.new_zeros((rec.scores.shape[0], *a.shape[1:]))
        total.index_add_(0, ii, term)
        carry[name, steps] = (a[-1:], g[-1:])
    if last.any():
        for store, value in ((rec.acts, act), (rec.grads, grad)):
            if name not in store:
                store[name] = value.new_zeros((rec.scores.shape[0], *value.shape[1:]))
            store[name][i[last]] = value[last]


def _record(model, images, target, layer, baseline, n_steps, score, batch_size, seed) -> tuple[RSRecord, str]:
    """:func:`rs_integrals` at one layer and one step count, and the record's key of that layer."""
    rec = rs_integrals(model, images, target, layers=[layer], n_steps=(n_steps,), baseline=baseline, score=score,
                       batch_size=batch_size, seed=seed)
    return rec, next(iter(rec.rsi))


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
    rec, key = _record(model, images, target, layer, baseline, n_steps, score, batch_size, seed)
    if rec.acts[key].dim() != 4:
        raise ValueError(f"rsi_grad_cam needs a convolutional layer with output [N, K, h, w]; "
                         f"layer {layer!r} gives {tuple(rec.acts[key].shape)}")
    return rec.map(key, n_steps)                  # ReLU(sum_k w_k A^k(x)), w_k the spatial mean of RSI


def layer_completeness_gap(model: nn.Module, images: torch.Tensor, target=None, *, layer=None,
                           baseline="black", n_steps: int = 50, score: str = "prob",
                           batch_size: int | None = None, seed: int = 0) -> torch.Tensor:
    """``sum_kij RSI^k_ij - (s(x) - s(x'))`` per image, ``[N]``, in the images' dtype.

    Same arguments as :func:`rsi_grad_cam`; any layer with a tensor output works. The
    gap tends to 0 as ``n_steps`` grows only where ``layer`` is a cut of the graph (every
    path from the input to the score passes through it); inside a residual block the
    skip connection carries part of the change past the layer and the gap stays open.
    """
    rec, key = _record(model, images, target, layer, baseline, n_steps, score, batch_size, seed)
    return rec.gap(key, n_steps)
