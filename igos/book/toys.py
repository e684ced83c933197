"""Small exact objectives for the I-GOS theory chapters (quadratic scaling, revised Armijo).

* :class:`QuadraticProbability` - a "classifier" whose class-0 softmax probability is exactly a
  given convex quadratic of the pixels, so that the I-GOS score of a mask is a quadratic with
  its optimum at the baseline (the setting of the I-GOS paper's Proposition 1);
* :func:`two_basin` - a 2-D score on masks ``m in [0, 1]^2`` with its global minimum at the
  baseline ``m = 0`` and a local minimum near the start ``m = (1, 1)`` (the setting of the
  I-GOS paper's Figure 2);
* :func:`gradient`, :func:`ig_direction` - the gradient and the I-GOS integrated-gradient
  direction of a function on vectors (right-endpoint rule, baseline 0 by default);
* :func:`projected_descent` - ``m <- clip(m - step * direction(m))`` from a start point;
* :func:`armijo_steps` - the trial steps of a backtracking line search and which of them pass
  the classical (7) or the revised (8) Armijo condition.

Explained in ``book/30_quadratic_scaling.ipynb`` and ``book/31_revised_armijo.ipynb``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["QuadraticProbability", "two_basin", "gradient", "ig_direction", "projected_descent", "armijo_steps"]

Fn = Callable[[torch.Tensor], torch.Tensor]


class QuadraticProbability(nn.Module):
    """Two-class model whose class-0 probability is ``q(x) = q0 + 1/2 ||A (x - center)||^2``.

    ``x`` is ``[N, C, H, W]`` and ``A`` is ``[r, C*H*W]``; the logits are ``(log q, log(1 - q))``,
    so ``softmax(logits)[:, 0] == q`` up to rounding. ``q`` must stay in ``(0, 1)`` on the inputs
    used: keep ``q0`` and ``A`` small. Its minimum is at ``center``, where the gradient vanishes.
    """

    def __init__(self, center: torch.Tensor, A: torch.Tensor, q0: float = 0.1):
        super().__init__()
        self.register_buffer("center", center.detach().clone())
        self.register_buffer("A", A.detach().clone())
        self.q0 = float(q0)

    def q(self, x: torch.Tensor) -> torch.Tensor:
        """The quadratic itself, ``[N]``."""
        d = (x - self.center).flatten(1)
        return self.q0 + 0.5 * (d @ self.A.T).pow(2).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.q(x)
        return torch.stack([q.log(), (1 - q).log()], dim=1)


def two_basin(m: torch.Tensor, dip=(0.72, 0.8), depth: float = 0.3, width: float = 0.15,
              weights=(1.0, 1.0)) -> torch.Tensor:
    """A non-convex score of 2-cell masks ``m`` ``[P, 2]`` -> ``[P]``.

    ``1 - exp(-sum_i w_i m_i^2)`` (the score grows as more of the image is kept, global minimum 0
    at the baseline ``m = 0``; ``weights`` ``w`` say how much each cell carries) minus a Gaussian
    dip of ``depth`` and ``width`` centred at ``dip``, which makes a local minimum near the start
    ``m = (1, 1)``.
    """
    centre = torch.tensor(dip, dtype=m.dtype, device=m.device)
    w = torch.tensor(weights, dtype=m.dtype, device=m.device)
    return 1 - torch.exp(-(w * m.pow(2)).sum(-1)) - depth * torch.exp(-(m - centre).pow(2).sum(-1) / (2 * width**2))


def gradient(f: Fn, m: torch.Tensor) -> torch.Tensor:
    """``grad f(m)`` for ``f`` on rows ``[P, n] -> [P]`` and a point ``m`` ``[n]``."""
    m = m.detach().requires_grad_(True)
    with torch.enable_grad():
        return torch.autograd.grad(f(m[None]).sum(), m)[0]


def ig_direction(f: Fn, m: torch.Tensor, baseline: torch.Tensor | None = None, n_steps: int = 20,
                 convention: str = "composed") -> torch.Tensor:
    """Integrated-gradient direction of ``f`` at ``m`` ``[n]`` along the path from ``baseline`` (default 0).

    ``"composed"`` (the I-GOS code): ``1/S sum_s d/dm f(b + (s/S)(m - b))``, i.e. the gradient of
    the path average ``G_S(m) = 1/S sum_s f(b + (s/S)(m - b))``; each term carries the factor ``s/S``.
    ``"path"``: ``1/S sum_s grad f(b + (s/S)(m - b))``, the gradient averaged over the path points.
    Right-endpoint rule with ``S = n_steps`` points.
    """
    if convention not in ("composed", "path"):
        raise ValueError(f"convention must be 'composed' or 'path', got {convention!r}")
    b = torch.zeros_like(m) if baseline is None else baseline
    a = torch.arange(1, n_steps + 1, dtype=m.dtype, device=m.device) / n_steps
    if convention == "composed":
        m = m.detach().requires_grad_(True)
        with torch.enable_grad():
            return torch.autograd.grad(f(b + a[:, None] * (m - b)).mean(), m)[0]
    points = (b + a[:, None] * (m - b)).detach().requires_grad_(True)
    with torch.enable_grad():
        return torch.autograd.grad(f(points).sum(), points)[0].mean(0)


def projected_descent(direction: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, step: float,
                      n_iter: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Iterates of ``m <- clip(m - step * direction(m), low, high)`` from ``start``: ``[n_iter + 1, n]``."""
    path = [start.detach()]
    for _ in range(n_iter):
        path.append((path[-1] - step * direction(path[-1])).clamp(low, high))
    return torch.stack(path)


def armijo_steps(f: Fn, m: torch.Tensor, d: torch.Tensor, slope: torch.Tensor | float, *, step_max: float = 1.0,
                 decay: float = 0.5, n_trials: int = 20, c: float = 1e-4, low: float = 0.0,
                 high: float = 1.0) -> dict[str, torch.Tensor]:
    """Trial steps ``a = step_max * decay^j`` along ``d`` from ``m`` and the Armijo test at each.

    The test is ``f(clip(m + a d)) <= f(m) + c * a * slope``: ``slope = grad f(m) . d`` gives the
    classical condition (7), ``slope = -||TG||^2`` with ``d = -TG`` the revised condition (8).
    Returns ``{"step": [J], "value": [J] (f at the trial), "bound": [J] (right-hand side),
    "ok": [J] bool}``; a backtracking search accepts the first ``ok``.
    """
    steps = step_max * decay ** torch.arange(n_trials, dtype=m.dtype, device=m.device)
    trials = (m[None] + steps[:, None] * d[None]).clamp(low, high)
    with torch.no_grad():
        value, f0 = f(trials), f(m[None])[0]
    bound = f0 + c * steps * torch.as_tensor(slope, dtype=m.dtype, device=m.device)
    return {"step": steps, "value": value, "bound": bound, "ok": value <= bound}
