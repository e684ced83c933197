"""Why a mask optimisation stalls: the terms of the I-GOS objective along one line search.

For a mask ``M`` and the I-GOS direction ``TG`` (:func:`igos.methods.i_gos.direction`), the
backtracking line search tries ``M_a = clip_[0,1](M - a TG)`` for ``a = a_u, a_u eta, ...``.
:func:`line_search_terms` splits the change of the objective at every trial step into its
three terms and compares each with its first-order prediction:

* score ``p_c(Phi(M_a)) - p_c(Phi(M))`` and its tangent ``grad p(M) . (M_a - M)``;
* L1 ``lambda1 (mean|1 - M_a| - mean|1 - M|)``: on the box [0, 1] it is *linear*,
  ``-lambda1 mean(M_a - M)``, a cost that the direction does not see at ``M = 1``, where the
  subgradient autograd takes for ``|1 - M|`` is 0;
* TV ``lambda2 (TV(M_a) - TV(M))``: at ``M = 1`` exactly ``lambda2 a^2 TV(relu(TG))``, quadratic
  in the step, and large when ``TG`` is noisy;

and the Armijo margin ``F(M) - beta a ||TG||^2 - F(M_a)`` of the revised condition (8): a
trial passes when it is >= 0.

Explained in ``book/32_why_i_gos_stalls.ipynb``.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import preserved
from .methods._common import prepare
from .methods.i_gos import _noise_source, _Problem
from .perturbation import l1, tv

__all__ = ["line_search_terms", "trial_steps"]


def trial_steps(step_max: float = 1000.0, step_min: float = 1e-5, decay: float = 0.2) -> torch.Tensor:
    """The trial steps of Algorithm 1, ``a_u eta^j >= a_l``, then ``a_l`` -> ``[T]`` float64."""
    from .methods.i_gos import _candidate_steps

    return torch.tensor(_candidate_steps(step_max, step_min, decay), dtype=torch.float64)


@torch.no_grad()
def line_search_terms(model: nn.Module, images: torch.Tensor, target=None, mask: torch.Tensor | None = None, *,
                      resolution: int = 28, preset: str = "paper", lambda1: float | None = None,
                      lambda2: float | None = None, noise: float | None = None, n_steps: int = 20,
                      steps: torch.Tensor | None = None, armijo_c: float = 1e-4, seed: int = 0,
                      batch_size: int | None = 20) -> dict:
    """The terms of ``F(M_a) - F(M)`` at every trial step of one I-GOS line search.

    Args:
        model, images, target: as for :func:`igos.i_gos` (``images`` ``[N, 3, H, W]``).
        mask: ``[N, r, r]`` (``None``: ``M = 1`` at ``resolution``).
        preset, lambda1, lambda2, noise: the objective and the direction's noise, as in
            :func:`igos.i_gos` (default: the paper's settings).
        n_steps: path points of the direction.
        steps: trial steps ``[T]`` (default :func:`trial_steps`).
        armijo_c: ``beta`` of condition (8).
        seed: seed of the direction's noise (iteration 0 of :func:`igos.i_gos` with this seed).
        batch_size: model inputs per pass.

    Returns:
        dict of float64 tensors: ``steps`` ``[T]``; ``[N, T]``: ``d_score``, ``d_score_linear``
        (tangent), ``d_l1``, ``d_tv``, ``d_objective`` (their sum), ``margin`` (Armijo margin,
        >= 0 passes), ``moved`` (share of cells that move); ``[N]``: ``p``, ``grad_norm``
        (``||grad p(M)||``), ``tg_norm`` (``||TG||``), ``cosine`` (between ``TG`` and
        ``grad p(M)``), ``l1_price`` (``lambda1 mean(relu TG)``: the L1 term's first-order cost
        per unit step at ``M = 1``) and ``score_gain`` (``grad p . relu(TG)``: the score's
        first-order decrease per unit step at ``M = 1``); and ``tg`` ``[N, r, r]``.
    """
    from .methods.i_gos import PRESETS, _nearest

    images, target = prepare(model, images, target)
    settings = PRESETS[preset]
    d1, d2 = _nearest(settings["lambdas"], resolution if mask is None else mask.shape[-1])
    lambda1 = d1 if lambda1 is None else lambda1
    lambda2 = d2 if lambda2 is None else lambda2
    noise = settings["noise"] if noise is None else noise
    n, dev = images.shape[0], images.device
    if mask is None:
        mask = torch.ones(n, resolution, resolution, device=dev, dtype=images.dtype)
    steps = trial_steps() if steps is None else torch.as_tensor(steps, dtype=torch.float64)
    rows = torch.arange(n, device=dev)
    with preserved(model):
        problem = _Problem(model, images, target, baseline=None, lambda1=lambda1, lambda2=lambda2, tv_beta=2,
                           batch_size=batch_size, precision="fp32")
        tg, _ = problem.direction(mask, _noise_source(model, images, noise, n_steps, seed)(), n_steps)
        with torch.enable_grad():
            m = mask.clone().requires_grad_(True)
            x = problem.base + problem.up(m) * problem.diff
            p = torch.softmax(model(x).float(), 1)[rows, target]
            (grad,) = torch.autograd.grad(p.sum(), m)
        p = p.detach().double()
        f0 = p + problem.reg(mask, rows).double()
        out = {k: torch.empty(n, len(steps), dtype=torch.float64) for k in
               ("d_score", "d_score_linear", "d_l1", "d_tv", "d_objective", "margin", "moved")}
        g2 = tg.flatten(1).double().pow(2).sum(1)
        for t, a in enumerate(steps.tolist()):
            trial = (mask - a * tg).clamp(0, 1)
            f = problem.endpoint(trial, rows).double()
            d = (trial - mask).flatten(1).double()
            out["d_l1"][:, t] = (lambda1 * (l1(trial) - l1(mask))).double().cpu()
            out["d_tv"][:, t] = (lambda2 * (tv(trial) - tv(mask))).double().cpu()
            out["d_score"][:, t] = (f - f0).cpu() - out["d_l1"][:, t] - out["d_tv"][:, t]
            out["d_score_linear"][:, t] = (grad.flatten(1).double() * d).sum(1).cpu()
            out["d_objective"][:, t] = (f - f0).cpu()
            out["margin"][:, t] = (f0 - armijo_c * a * g2 - f).cpu()
            out["moved"][:, t] = (d != 0).double().mean(1).cpu()
    relu = tg.clamp(min=0).flatten(1).double()
    out.update(steps=steps, p=p.cpu(), grad_norm=grad.flatten(1).double().norm(dim=1).cpu(),
               tg_norm=tg.flatten(1).double().norm(dim=1).cpu(),
               cosine=torch.nn.functional.cosine_similarity(tg.flatten(1).double(), grad.flatten(1).double()).cpu(),
               l1_price=(lambda1 * relu.mean(1)).cpu(), score_gain=(grad.flatten(1).double() * relu).sum(1).cpu(),
               tg=tg.cpu())
    return out

