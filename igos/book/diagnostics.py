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

from ..layers import preserved
from ..masking import noise_source
from ..methods.common import prepare
from ..methods.i_gos import IGOSProblem, candidate_steps, resolve_settings
from ..perturbation import l1, perturb, target_prob, tv

__all__ = ["line_search_terms", "trial_steps"]


def trial_steps(step_max: float = 1000.0, step_min: float = 1e-5, decay: float = 0.2) -> torch.Tensor:
    """The trial steps of Algorithm 1, ``a_u eta^j >= a_l``, then ``a_l`` -> ``[T]`` float64."""
    return torch.tensor(candidate_steps(step_max, step_min, decay), dtype=torch.float64)


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
    images, target = prepare(model, images, target)
    cfg = resolve_settings(preset, resolution if mask is None else mask.shape[-1],
                            dict(lambda1=lambda1, lambda2=lambda2, noise=noise))
    lambda1, lambda2, noise = cfg["lambda1"], cfg["lambda2"], cfg["noise"]
    n, dev = images.shape[0], images.device
    if mask is None:
        mask = torch.ones(n, resolution, resolution, device=dev, dtype=images.dtype)
    steps = trial_steps() if steps is None else torch.as_tensor(steps, dtype=torch.float64)
    rows = torch.arange(n, device=dev)
    with preserved(model):
        problem = IGOSProblem(model, images, target, baseline=None, lambda1=lambda1, lambda2=lambda2, tv_beta=2,
                           batch_size=batch_size, precision="fp32")
        tg, _ = problem.direction(mask, noise_source(model, images, noise, n_steps, seed)(), n_steps)
        with torch.enable_grad():
            m = mask.clone().requires_grad_(True)
            p = target_prob(model, perturb(images, problem.base, problem.up(m)), target)
            (grad,) = torch.autograd.grad(p.sum(), m)
        p = p.detach().double()
        f0 = (p + problem.reg(mask, rows).double())[:, None]                  # [N, 1]
        # every trial step of every image in one batch of masks [T * N, r, r] (step-major)
        t_count, a = len(steps), steps.to(dev, images.dtype).view(-1, 1, 1, 1)
        trials = (mask[None] - a * tg[None]).clamp(0, 1).reshape(t_count * n, *mask.shape[1:])
        idx = rows.repeat(t_count)
        per_image = lambda v: v.double().view(t_count, n).T.cpu()           # noqa: E731  [T * N] -> [N, T]
        f = per_image(problem.endpoint(trials, idx))
        d = (trials - mask[idx]).flatten(1).double()
        d_l1 = per_image(lambda1 * (l1(trials) - l1(mask)[idx]))
        d_tv = per_image(lambda2 * (tv(trials) - tv(mask)[idx]))
        g2 = tg.flatten(1).double().pow(2).sum(1).cpu()[:, None]
        out = {"d_objective": f - f0.cpu(), "d_l1": d_l1, "d_tv": d_tv,
               "d_score": f - f0.cpu() - d_l1 - d_tv,
               "d_score_linear": per_image((grad.flatten(1).double()[idx] * d).sum(1)),
               "margin": f0.cpu() - armijo_c * steps[None] * g2 - f,
               "moved": per_image((d != 0).double().mean(1))}
    relu = tg.clamp(min=0).flatten(1).double()
    out.update(steps=steps, p=p.cpu(), grad_norm=grad.flatten(1).double().norm(dim=1).cpu(),
               tg_norm=tg.flatten(1).double().norm(dim=1).cpu(),
               cosine=torch.nn.functional.cosine_similarity(tg.flatten(1).double(), grad.flatten(1).double()).cpu(),
               l1_price=(lambda1 * relu.mean(1)).cpu(), score_gain=(grad.flatten(1).double() * relu).sum(1).cpu(),
               tg=tg.cpu())
    return out

