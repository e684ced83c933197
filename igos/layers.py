"""Layers by name, activation capture inside a ``with``, and leaving the model as found."""
from __future__ import annotations

import contextlib
import difflib
from typing import Iterator

import torch
from torch import nn

from .types import Layer


def get_layer(model: nn.Module, layer: Layer = None) -> nn.Module:
    """Resolve ``layer`` (a module, a dotted name, or ``None``) to a submodule of ``model``.

    ``None`` means ``model.default_layer`` (set by :func:`igos.load_model`). Names are
    tried relative to ``model`` and, for wrapped models, relative to ``model.net``,
    so ``"features.35"`` and ``"net.features.35"`` both work. An unknown name raises
    a ``ValueError`` listing close matches.
    """
    if layer is None:
        layer = getattr(model, "default_layer", None)
        if layer is None:
            raise ValueError("layer=None but the model has no default_layer; pass layer='name' or a module")
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model")
        return layer
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a module or a dotted name, got {type(layer).__name__}")
    modules = dict(model.named_modules())
    for name in (layer, f"net.{layer}"):
        if name in modules and name != "":
            return modules[name]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
    close += [n for n in difflib.get_close_matches(f"net.{layer}", names, n=5, cutoff=0.5) if n not in close]
    hint = f"; close matches: {', '.join(close[:5])}" if close else ""
    raise ValueError(f"model has no layer named {layer!r}{hint}. List them with [n for n, _ in model.named_modules()]")


def layer_grids(model: nn.Module, image_size: int = 224) -> dict[str, int]:
    """Every convolution of ``model`` -> the height of its output grid for a square input of ``image_size``.

    One forward pass of a grey image, with forward hooks held inside a ``with`` (removed on exit),
    in the order the convolutions run.
    """
    grids: dict[str, int] = {}
    param = next(model.parameters())
    handles = []

    def hook(name):
        def record(module, inputs, output):   # returns None: the output is left as it is
            grids.setdefault(name, int(output.shape[-2]))
        return record

    try:
        for name, module in model.named_modules():
            if isinstance(module, nn.modules.conv._ConvNd) and name:
                handles.append(module.register_forward_hook(hook(name)))
        with torch.no_grad(), preserved(model):
            model(torch.full((1, 3, image_size, image_size), 0.5, device=param.device, dtype=param.dtype))
    finally:
        for h in handles:
            h.remove()
    return grids


def layer_for_grid(model: nn.Module, size: int, image_size: int = 224) -> tuple[str, int]:
    """The deepest convolution whose output grid is closest to ``size`` x ``size``: ``(name, grid)``.

    Used to place a layer-bound method (Excitation Backprop) at a mask resolution of the
    paper (224, 112, 28, 14): where no layer has that grid exactly, the closest one stands
    in, and its grid is returned so that the caller can say so.
    """
    grids = layer_grids(model, image_size)
    if not grids:
        raise ValueError("the model has no convolution to place the map at")
    best = min(abs(g - size) for g in grids.values())
    name = [n for n, g in grids.items() if abs(g - size) == best][-1]
    return name, grids[name]


class Capture:
    """What :func:`capture` recorded: ``activation`` is the layer's output, in the graph."""

    def __init__(self) -> None:
        self.activations: list[torch.Tensor] = []

    @property
    def activation(self) -> torch.Tensor:
        if not self.activations:
            raise RuntimeError("the captured layer was not called during the forward pass")
        if len(self.activations) > 1:
            raise RuntimeError(f"the captured layer was called {len(self.activations)} times in one forward "
                               f"pass (a shared module); choose a layer that runs once")
        return self.activations[0]


@contextlib.contextmanager
def capture(model: nn.Module, layer: Layer = None) -> Iterator[Capture]:
    """Record the output of ``layer`` during forward passes inside the ``with``.

    The recorded tensor stays in the autograd graph, so ``torch.autograd.grad(score,
    store.activation)`` gives the layer gradient. The hook hands a *clone* of the
    output to the rest of the network, so a following in-place op (``ReLU(inplace=True)``)
    cannot overwrite what was recorded. The hook is removed on exit, also on error.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> with capture(model, "net.features.4") as store:
        ...     logits = model(torch.rand(2, 3, 32, 32))
        >>> store.activation.shape
        torch.Size([2, 16, 16, 16])
    """
    with record(model, layer, leaf=False) as store:
        yield store


@contextlib.contextmanager
def record(model: nn.Module, layer: Layer = None, *, leaf: bool) -> Iterator[Capture]:
    """The forward hook behind :func:`capture` (``leaf=False``) and ``layer_leaf`` (``leaf=True``).

    Records the output of ``layer`` at every forward pass and hands a clone of it to the rest
    of the network. With ``leaf=True`` the recorded tensor is a detached copy that requires
    grad, so the autograd graph starts at the layer. The hook is removed on exit, also on error.
    """
    module = get_layer(model, layer)
    store = Capture()

    def hook(_module, _inputs, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"layer output is a {type(output).__name__}, not a tensor: choose another layer")
        recorded = output.detach().requires_grad_(True) if leaf else output
        store.activations.append(recorded)
        return recorded.clone()

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Run a method on ``model`` and leave it exactly as found, also when the method raises.

    Inside: eval mode, gradients enabled, parameters frozen (only inputs or
    activations are differentiated). On exit: the train/eval flag of every module,
    each parameter's ``requires_grad`` and ``.grad`` are restored.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _, _ in params:
            p.requires_grad_(False)
        with torch.enable_grad():
            yield model
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag, grad in params:
            p.requires_grad_(flag)
            p.grad = grad


def hook_count(model: nn.Module) -> int:
    """Total number of forward/backward hooks registered on the modules of ``model`` (for tests)."""
    total = 0
    for m in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_forward_hooks_with_kwargs", "_forward_hooks_always_called"):
            d = getattr(m, name, None)
            if d:
                total += len(d)
    return total
