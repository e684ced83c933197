"""Attribution methods, one paper per file, all with the same head::

    method(model, images, target=None, *, ...) -> saliency [N, h, w]

:data:`REGISTRY` holds one :class:`Method` entry per method: the function and what a caller
needs to know about it (where its map lives, whether it is seeded, whether it optimises a mask),
so that the runner, the explorer, the tables and the contract test read it instead of guessing
from signatures. :data:`METHODS` maps the same names to the functions; :func:`get` also knows
the aliases (``"mask"``, the I-GOS paper's name for meaningful perturbation).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from .excitation_backprop import excitation_backprop
from .grad_cam import grad_cam
from .grad_cam_plus import grad_cam_plus
from .grad_cam_plus_plus import grad_cam_plus_plus
from .gradient import gradient, gradient_x_input
from .i_gos import i_gos
from .integrated_gradients import integrated_gradients
from .meaningful_perturbation import mask, meaningful_perturbation
from .rise import rise
from .rsi_grad_cam import rsi_grad_cam

#: Where a method's map lives: the image's pixels, a layer's grid (``layer=`` picks it), or a
#: mask at ``resolution`` x ``resolution``.
GRIDS = ("input", "layer", "mask")


@dataclass(frozen=True)
class Method:
    """A registered method. Calling it calls ``fn``.

    ``grid``: one of :data:`GRIDS`. ``seeded``: it draws random numbers from ``seed``.
    ``reports``: it reports each iteration to ``callback(iteration, loss, mask)``.
    ``optimises``: it optimises a mask and can ``return_history`` (the mask's effect).
    ``options``: its keyword options (from its signature, read once here).
    """

    name: str
    fn: Callable = field(repr=False)
    grid: str = "input"
    seeded: bool = False
    reports: bool = False
    optimises: bool = False

    def __post_init__(self) -> None:
        if self.grid not in GRIDS:
            raise ValueError(f"grid must be one of {GRIDS}, got {self.grid!r}")

    def __call__(self, model, images, target=None, **options):
        return self.fn(model, images, target, **options)

    @cached_property
    def options(self) -> frozenset:
        params = inspect.signature(self.fn).parameters.values()
        return frozenset(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    @property
    def takes_resolution(self) -> bool:
        return self.grid == "mask"

    @property
    def takes_layer(self) -> bool:
        return self.grid == "layer"

    @classmethod
    def of(cls, fn: Callable, name: str | None = None) -> "Method":
        """An entry for a function outside the registry (a user's ``package.module:function``),
        read from its signature: ``resolution`` makes it a mask method, ``layer`` a layer method; a
        ``**kwargs`` takes ``seed`` and ``callback``."""
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        grid = "mask" if "resolution" in params else "layer" if "layer" in params else "input"
        anything = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        return cls(name or getattr(fn, "__name__", "method"), fn, grid, seeded="seed" in params or anything,
                   reports="callback" in params or anything, optimises="return_history" in params)


REGISTRY = {m.name: m for m in (
    Method("gradient", gradient),
    Method("gradient_x_input", gradient_x_input),
    Method("integrated_gradients", integrated_gradients, seeded=True),
    Method("grad_cam", grad_cam, "layer"),
    Method("grad_cam_plus_plus", grad_cam_plus_plus, "layer"),
    Method("grad_cam_plus", grad_cam_plus, "layer"),
    Method("rsi_grad_cam", rsi_grad_cam, "layer", seeded=True),
    Method("rise", rise, seeded=True),
    Method("excitation_backprop", excitation_backprop, "layer"),
    Method("i_gos", i_gos, "mask", seeded=True, reports=True, optimises=True),
    Method("meaningful_perturbation", meaningful_perturbation, "mask", seeded=True, reports=True, optimises=True),
)}
#: Registry name -> function.
METHODS = {name: m.fn for name, m in REGISTRY.items()}
#: Other names a config or :func:`igos.explain` may use.
ALIASES = {"mask": "meaningful_perturbation"}


def get(name: str) -> Method:
    """The registry entry of ``name`` (a name of :data:`REGISTRY` or of :data:`ALIASES`)."""
    entry = REGISTRY.get(ALIASES.get(name, name))
    if entry is None:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(REGISTRY))} "
                         f"(aliases: {', '.join(sorted(ALIASES))})")
    return entry


__all__ = ["ALIASES", "GRIDS", "METHODS", "REGISTRY", "Method", "excitation_backprop", "get", "grad_cam",
           "grad_cam_plus", "grad_cam_plus_plus", "gradient", "gradient_x_input", "i_gos", "integrated_gradients",
           "mask", "meaningful_perturbation", "rise", "rsi_grad_cam"]
