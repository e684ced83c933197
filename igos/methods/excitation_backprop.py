"""Excitation Backprop and its contrastive marginal winning probability (c-MWP).

Zhang, Bargal, Lin, Brandt, Shen, Sclaroff, "Top-down Neural Attention by Excitation
Backprop", ECCV 2016 / IJCV 2018, arXiv:1608.00507. A top-down signal starts as a one-hot
vector on the target class and is passed down layer by layer; a unit ``j`` of a layer
``z_j = sum_i w_ij a_i`` hands its share ``P_j`` to its inputs in proportion to their
*excitatory* contributions (their eq. 3-5, the marginal winning probability, MWP):

    P_i = a_i sum_j w_ij^+ P_j / (sum_i' a_i' w_i'j^+),          w^+ = max(w, 0).

The contrastive variant (their Sec. 3.3) also passes the signal of a *dual* unit whose
classifier weights are the negated target weights, and subtracts it: c-MWP = MWP(c) -
MWP(dual). Every rule below the classifier is linear in the signal, so the difference
can be taken at the classifier itself and propagated once. The map is the channel sum
of the (c-)MWP at ``layer``, with the positive part kept for the contrastive variant (as
in TorchRay's ``contrastive_excitation_backprop``).

How each module passes the signal down here (custom backward rules, installed with
forward hooks inside a ``with`` and removed on exit; the model itself is not modified):

* ``Linear`` and every convolution (grouped/depthwise, timm's TF-"same" ``Conv2dSame``):
  the rule above with ``w^+`` and no bias; units whose excitation ``sum_i a_i w_ij^+`` is
  not positive pass nothing.
* Average pools (plain and adaptive): the same rule with their uniform positive weights.
  Max pools keep their gradient, which hands the whole signal to the winner (the rule
  applied to a max gives the same).
* Batch norm (also timm's ``BatchNormAct2d``) and activation functions (ReLU, ReLU6, ...)
  pass the signal through unchanged: a unit includes its activation. For batch norm with
  a positive scale this is exactly the rule with the norm folded into the layer before;
  for ReLU it equals the gradient (units at zero receive nothing anyway).
* Anything else (residual additions, attention, ...) keeps its ordinary gradient.

Approximations, stated plainly: (1) the rule assumes non-negative inputs ``a_i``. Plain
chains like VGG, ``tiny_cnn`` and the head of EfficientNet-Lite0 (``net.bn2`` and above)
satisfy it; inside EfficientNet's inverted-residual blocks the inputs of the expansion
convolutions are linear bottlenecks with negative values, so shares can be negative and
the MWP is no longer a probability. (2) At a residual addition ``y = F(x) + x`` (not a
module, so no rule can be attached) the signal is copied into both branches instead of
split in proportion to ``F(x)`` and ``x``; total mass then grows. (3) Batch norms with a
negative scale are passed through as if it were positive. The map is exact (a
distribution summing to 1 for ``contrastive=False``) on plain ReLU chains.

Explained in ``book/`` (Excitation Backprop chapter).
"""
from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from ..batching import chunks
from ..checks import check_positive_int
from ..layers import get_layer, preserved
from ..scores import select_score
from .common import layer_leaf, prepare

_WEIGHTED = (nn.Linear, nn.modules.conv._ConvNd)
_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_PASS = (nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.Hardtanh, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
         nn.SiLU, nn.Mish, nn.Hardswish, nn.Softplus)


class _Rule(torch.autograd.Function):
    """Identity forward (returns the module's output), custom backward ``grad_x = rule(x, grad_out)``."""

    @staticmethod
    def forward(ctx, x, output, rule):
        ctx.rule = rule
        ctx.save_for_backward(x)
        return output.clone()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.rule(x, grad), None, None


def _excite(positive, x: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """``P_in = x * J^T (P_out / f+(x))`` for a linear map ``f+`` with non-negative weights (eq. 3-5)."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        z = positive(xg)                                          # sum_i a_i w_ij^+
        live = z > 0
        ratio = torch.where(live, signal / torch.where(live, z, torch.ones_like(z)), torch.zeros_like(z))
        (back,) = torch.autograd.grad(z, xg, ratio)               # sum_j w_ij^+ P_j / z_j
    return x * back


def _forward_with(module: nn.Module, weight: torch.Tensor):
    """``module.forward`` with ``weight`` in place of its weight and no bias; the module is not touched."""
    clone = copy.copy(module)  # shallow: shares everything but the parameter dict set below
    params = dict(module._parameters)
    params["weight"] = weight
    if "bias" in params:
        params["bias"] = None
    object.__setattr__(clone, "_parameters", params)
    return clone.forward  # called directly, so no hooks run


class _State:
    def __init__(self, contrastive: bool):
        self.contrastive = contrastive
        self.last = None      # (module, output) of the last weighted module run: the classifier
        self.top = None       # set after the forward pass
        self.stash = {}       # inputs of in-place activations, before they are overwritten


def _rule_for(module: nn.Module, state: _State):
    """The backward rule of ``module``, or ``None`` to keep its ordinary gradient."""
    if isinstance(module, _WEIGHTED):
        w = module.weight.detach()
        pos, neg = _forward_with(module, w.clamp_min(0)), _forward_with(module, (-w).clamp_min(0))

        def weighted(x, signal):
            out = _excite(pos, x, signal)
            if state.contrastive and state.top is module:  # dual unit: negated classifier weights
                out = out - _excite(neg, x, signal)
            return out
        return weighted
    if isinstance(module, _POOLS):
        return lambda x, signal: _excite(module.forward, x, signal)
    if isinstance(module, _PASS):
        return lambda x, signal: signal
    return None


@contextlib.contextmanager
def excitation_rules(model: nn.Module, layer: nn.Module | None = None, *, contrastive: bool = True):
    """Inside the ``with``, gradients through ``model`` follow the Excitation Backprop rules.

    ``layer`` (if given) and its ancestors keep their internal graph so that a gradient
    can be read at the layer's output. Yields the shared state; ``state.top`` must be set
    to the classifier module after the forward pass for the contrastive rule. All hooks
    are removed on exit, also on error.
    """
    state = _State(contrastive)
    ancestors = set()
    if layer is not None:
        for module in model.modules():
            if module is not layer and any(m is layer for m in module.modules()):
                ancestors.add(id(module))
    handles = []

    def install(module: nn.Module, rule) -> None:
        weighted = isinstance(module, _WEIGHTED)
        if isinstance(module, _PASS) and getattr(module, "inplace", False):
            def pre_hook(mod, inputs):   # keep the pre-activation tensor out of the in-place op
                state.stash[id(mod)] = inputs[0]
                return (inputs[0].clone(),)
            handles.append(module.register_forward_pre_hook(pre_hook))

        def hook(mod, inputs, output):
            x = state.stash.pop(id(mod), None)
            x = inputs[0] if x is None else x
            if not (isinstance(x, torch.Tensor) and isinstance(output, torch.Tensor)):
                return None
            if rule is not None and not x.requires_grad:
                return None
            if isinstance(mod, _PASS) and x.shape != output.shape:
                return None
            out = _Rule.apply(x, output.detach(), rule)
            if weighted:
                state.last = (mod, out)
            return out
        handles.append(module.register_forward_hook(hook))

    def visit(module: nn.Module) -> None:
        rule = _rule_for(module, state)
        if rule is not None and id(module) not in ancestors:
            install(module, rule)
            return
        for child in module.children():
            visit(child)

    try:
        visit(model)
        yield state
    finally:
        for handle in handles:
            handle.remove()
        state.stash.clear()


def excitation_backprop(model: nn.Module, images: torch.Tensor, target=None, *, layer=None,
                        contrastive: bool = True, batch_size: int | None = None) -> torch.Tensor:
    """(Contrastive) marginal winning probability at ``layer``, summed over channels.

    Args:
        model: classifier on images in [0, 1] whose logits are the output of its last
            ``Linear`` (or 1x1 convolution), as for every model of :func:`igos.load_model`.
        images: ``[N, 3, H, W]`` in [0, 1].
        target: ``None`` (top-1), an int, or ``N`` ints.
        layer: a module or dotted name with output ``[N, K, h, w]``; ``None`` is the
            model's ``default_layer``.
        contrastive: ``True`` for c-MWP (positive part of MWP(c) - MWP(dual)), ``False``
            for the plain MWP (non-negative, sums to 1 on plain ReLU chains).
        batch_size: images per forward/backward pass (``None``: all at once).

    Returns:
        ``[N, h, w]`` float32 on the layer's grid.

    Reference:
        Zhang et al., ECCV 2016, https://arxiv.org/abs/1608.00507.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.excitation_backprop(model, torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 16, 16])
    """
    images, target = prepare(model, images, target)
    module = get_layer(model, layer)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    maps = []
    with preserved(model), excitation_rules(model, module, contrastive=contrastive) as state:
        for sl in chunks(images.shape[0], batch_size):
            state.last = None
            with layer_leaf(model, module) as store:   # the graph (and the rules) start at the layer
                logits = model(images[sl])
            if state.last is None or state.last[1] is not logits:
                raise ValueError("excitation_backprop needs the logits to be the output of the model's last "
                                 "Linear or convolution layer")
            state.top = state.last[0]
            act = store.activation
            if act.dim() != 4:
                raise ValueError(f"excitation_backprop needs a convolutional layer with output [N, K, h, w]; "
                                 f"layer {layer!r} gives {tuple(act.shape)}")
            # the one-hot top-down signal on the target logit, passed down to the layer
            (mwp,) = torch.autograd.grad(select_score(logits, target[sl], "logit").sum(), act)
            maps.append(mwp.sum(dim=1))
            state.top = state.last = None
    saliency = torch.cat(maps)
    return (saliency.clamp_min(0) if contrastive else saliency).detach().float()
