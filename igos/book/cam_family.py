"""Tools for the CAM-family theory chapters: layer gradients, map comparisons, and
Riemann-Stieltjes sums at several layers and step counts from one path.

* :func:`activations_and_gradients` - ``A`` and ``ds/dA`` at any layer (the inputs of every
  CAM method), in the images' dtype.
* :func:`plus_plus_ratio` - how far the Grad-CAM++ weights (eq. 19 with ``Y = exp(S)``) are
  from ``Z/2`` times the Grad-CAM+ weights, channel by channel, with the bound's ``epsilon``.
* :func:`map_correlation`, :func:`max_difference` - Pearson correlation of two maps and
  their largest difference after min-max normalisation, per image.
* :func:`rs_integrals` - walks the straight path from the baseline to the images once, on
  the grid ``a_m = m / M`` with ``M = max(n_steps)``, and returns for every requested layer
  and every ``n_steps`` dividing ``M`` the unit-level trapezoid Riemann-Stieltjes sums that
  :func:`igos.rsi_grad_cam` computes (same nodes, same formula), so a step-count study
  costs one path instead of one per step count. The layer ``"input"`` is the image itself,
  where the sums are Integrated Gradients with the trapezoid rule.

Explained in ``book/20_grad_cam_plus_plus.ipynb`` and ``book/21_rsi_grad_cam.ipynb``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from ..baselines import make_baseline
from ..batching import chunks
from ..checks import check_positive_int
from ..layers import capture, get_layer, preserved
from ..methods.cam import weighted_map
from ..methods.common import layer_gradients, prepare
from ..methods.grad_cam_plus_plus import alpha_coefficients
from ..plotting import normalize
from ..scores import select_score

__all__ = ["activations_and_gradients", "cam_maps", "plus_plus_ratio", "map_correlation", "max_difference",
           "RSRecord", "rs_integrals"]


def activations_and_gradients(model: nn.Module, images: torch.Tensor, target=None, *, layer=None,
                              score: str = "logit", batch_size: int | None = None):
    """``(A, ds/dA)`` at ``layer`` for each image, detached, model left as found."""
    images, target = prepare(model, images, target, score)
    get_layer(model, layer)
    with preserved(model):
        acts, grads, _ = layer_gradients(model, images, target, layer, score=score, batch_size=batch_size)
    return acts, grads


def cam_maps(acts: torch.Tensor, grads: torch.Tensor) -> dict:
    """Grad-CAM, Grad-CAM+ and both Grad-CAM++ variants from one ``(A, ds/dA)`` pair, ``name -> [N, h, w]``.

    The same formulas as :func:`igos.grad_cam`, :func:`igos.grad_cam_plus` and
    :func:`igos.grad_cam_plus_plus` (which each run the model again); for comparing them at many layers.
    """
    alphas = alpha_coefficients(acts, grads)
    total = alphas.sum(dim=(2, 3), keepdim=True)
    official = torch.where(total != 0, alphas / torch.where(total != 0, total, torch.ones_like(total)),
                           torch.zeros_like(alphas))
    pos = grads.clamp_min(0)
    weights = {"Grad-CAM": grads.mean(dim=(2, 3)), "Grad-CAM+": pos.mean(dim=(2, 3)),
               "Grad-CAM++ paper": (alphas * pos).sum(dim=(2, 3)), "Grad-CAM++ official": (official * pos).sum(dim=(2, 3))}
    return {name: weighted_map(w, acts) for name, w in weights.items()}


def plus_plus_ratio(acts: torch.Tensor, grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel ``w++ / (Z/2 w+)`` and ``eps = max |g * sum_ij A|`` over positive-gradient cells.

    ``w++_k = sum_ij ReLU(g) / (2 + g sum A^k)`` (eq. 19 with ``Y = exp(S)``, the factor
    ``exp(S)`` dropped) and ``w+_k = mean_ij ReLU(g)``. Channels without a positive gradient
    get ratio NaN and eps 0. Shapes ``[N, K]``.
    """
    total = acts.sum(dim=(2, 3), keepdim=True)
    pos = grads > 0
    gs = torch.where(pos, grads * total, torch.zeros_like(grads))
    w_pp = torch.where(pos, grads / (2 + gs), torch.zeros_like(grads)).sum(dim=(2, 3))
    w_p = grads.clamp_min(0).mean(dim=(2, 3))
    z = grads.shape[2] * grads.shape[3]
    ratio = torch.where(w_p > 0, w_pp / (0.5 * z * w_p).clamp_min(torch.finfo(w_p.dtype).tiny),
                        torch.full_like(w_p, float("nan")))
    return ratio, gs.abs().amax(dim=(2, 3))


def map_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of maps ``a`` and ``b`` ``[N, ...]`` per image -> ``[N]`` (0 where one is constant)."""
    a = a.detach().flatten(1).double()
    b = b.detach().flatten(1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    den = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-300), torch.zeros_like(den))


def max_difference(a: torch.Tensor, b: torch.Tensor, norm: str = "minmax") -> torch.Tensor:
    """``max |normalize(a) - normalize(b)|`` per image ``[N]`` (``norm`` as in :func:`igos.plotting.normalize`)."""
    return (normalize(a, norm) - normalize(b, norm)).flatten(1).abs().amax(1)


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
        return torch.einsum("nk,nkhw->nhw", self.weights(layer, n_steps), self.acts[layer]).clamp_min(0).float()


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
    base = make_baseline(baseline, images, seed=seed)
    n, p = images.shape[0], top + 1
    alphas = torch.arange(p, device=images.device, dtype=images.dtype) / top
    delta = images - base
    rec = RSRecord(steps, {name: {} for name in names})
    rec.scores = torch.zeros(n, p, device=images.device, dtype=images.dtype)
    carry = {}
    with preserved(model):
        for sl in chunks(n * p, batch_size):
            rows = torch.arange(sl.start, sl.stop, device=images.device)
            i, m = rows // p, rows % p
            x = (base[i] + alphas[m].view(-1, 1, 1, 1) * delta[i]).requires_grad_(True)
            with contextlib.ExitStack() as stack:
                stores = [None if (isinstance(l, str) and l == "input") else stack.enter_context(capture(model, l))
                          for l in unique]
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
