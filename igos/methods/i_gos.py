"""I-GOS: mask optimisation whose descent direction is an integrated gradient.

Qi, Khorram, Li, "Visualizing Deep Networks by Optimizing with Integrated Gradients",
AAAI 2020, arXiv:1905.00954. Equation numbers follow the arXiv text:

* objective (2)/(9): ``F(M) = p_c(Phi(x, x_blur, up(M))) + lambda1 mean|1 - M| + lambda2 TV(M)``
  on a mask ``M`` of ``r x r`` cells (:mod:`igos.perturbation`), initialised to ones;
* direction (4)-(6): the integrated gradient of the score along the straight path from the
  blurred baseline to the current masked image, ``S`` right-endpoint points, fresh Gaussian
  noise at each point, plus the gradients of the regularisers::

      TG(M) = 1/S sum_{s=1..S} d/dM p_c(Phi(x, x_blur, (s/S) up(M)) + n_s) + lambda1 dL1 + lambda2 dTV

  (the derivative of the composed map, so each term carries the factor ``s/S``, as in both
  of the authors' code bases; it is the exact gradient of the path-averaged noisy score);
* step: backtracking line search on the revised Armijo condition (8),
  ``F(clip(M - a TG)) <= F(M) - c a ||TG||^2``, with trial steps ``a_u, a_u eta, a_u eta^2, ...``
  down to the lower bound ``a_l`` (Algorithm 1); when no trial at or above ``a_l`` passes, the
  step is ``a_l`` (the paper's rule; the original code takes the first trial below ``a_l``).
  Then ``M <- clip_[0, 1](M - a TG)``.

How this implementation is organised (it computes the same thing as the authors' loops):

* all ``N x S`` path points go through the model together, ``batch_size`` inputs per
  forward/backward pass; the model is only differentiated with respect to its input, and the
  chain rule through the path weights and the upsampling is applied afterwards;
* every image has its own step size; the trial steps of one backtracking are evaluated as one
  batch (all candidates of all images in one forward when ``batch_size=None``; with a
  ``batch_size`` the candidates are taken in the order sequential backtracking would try them
  and an image stops as soon as one passes). Either way each image gets exactly the step that
  sequential backtracking would accept;
* the value ``F(M_{k+1})`` found by the line search is reused as ``F(M_k)`` of the next
  iteration, so the only forward passes are the path points and the line-search trials;
* the noise is drawn from a local generator seeded with ``seed``: at iteration ``k`` the ``S``
  noise images depend only on ``seed`` and ``k`` and are shared by all images of the batch,
  so a batch gives the same masks as its images run one by one.

Choices where the sources disagree or are silent (see the book chapter for the evidence):

* noise ``sigma = 0.2`` in the model's *normalised* input space (IGOS++), i.e. ``0.2 * std``
  per channel in pixel space (:func:`igos.perturbation.pixel_noise_scale`); the original demo's
  ``noise + cv2.randn(noise, ...)`` fills the array in place and adds it to itself, which
  doubles it to 0.4. For EfficientNet-Lite0 (mean = std = 0.5) 0.2 is 0.1 in pixel units,
  2.2 times the pixel-space noise the authors had with VGG/ResNet's ImageNet std;
* line-search loss: ``"paper"`` (default) is the noiseless endpoint objective ``F`` of the
  original code; ``"path"`` is the path-averaged noisy score of IGOS++ plus the regularisers,
  evaluated with the same noise as the direction (so (8) is an ordinary Armijo test on that
  smoothed surrogate, whose exact gradient ``TG`` is);
* the original code's heuristic of dividing lambda1 by 10 (then 5) when the score has not
  moved by iterations 7 and 12 is not in the paper: off by default, ``adapt_lambda1=True``.

Explained in ``book/30_quadratic_scaling.ipynb`` and ``book/31_revised_armijo.ipynb``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..batching import auto_batch_size, chunks
from ..checks import check_positive_int
from ..layers import preserved
from ..masking import MaskProblem, check_mask_options, nearest_setting, noise_source, warn_low_prob
from ..perturbation import target_prob, up
from .common import prepare

#: (lambda1, lambda2) per mask resolution of the paper preset: (1, 20) at 28 and 14 are the
#: paper's / code's values; the sources give none at 224, 112 and 7, where the values come from
#: an earlier sweep of these settings on the embedded photos
#: (``benchmarks/results/igos_lambda_sweep.md``): lambda2 grows like ``r`` because the TV mean of
#: a mask with a hole scales like ``1 / r``. On EfficientNet-Lite0 these settings stall.
PAPER_LAMBDAS: dict[int, tuple[float, float]] = {
    7: (1.0, 1.0),
    14: (1.0, 20.0),
    28: (1.0, 20.0),
    112: (1.0, 20.0),
    224: (1.0, 160.0),
}

#: (lambda1, lambda2) per mask resolution of the default preset, chosen by the calibration run
#: on the embedded photos (``benchmarks/igos_calibration.py``, results in
#: ``benchmarks/results/igos_calibration.md``). Other resolutions use the entry of the nearest
#: listed resolution (in log scale).
DEFAULT_LAMBDAS: dict[int, tuple[float, float]] = {
    7: (0.1, 0.5),
    14: (0.1, 1.0),
    28: (0.1, 2.0),
    112: (0.1, 8.0),
    224: (0.1, 16.0),
}

#: Default upper bound a_u of the backtracking line search (see :func:`i_gos`).
DEFAULT_STEP_MAX = 1000.0
#: Default step size of ``step_rule="fixed"`` (see :func:`i_gos`).
DEFAULT_FIXED_STEP = 40.0
#: The settings of :func:`i_gos`'s two presets (explicit keyword arguments override them).
#: ``"paper"``: the paper's literal settings; ``"default"``: calibrated for the default model.
PRESETS: dict[str, dict] = {
    "paper": dict(lambdas=PAPER_LAMBDAS, n_iter=15, noise=0.2, line_search_loss="paper",
                  step_max=DEFAULT_STEP_MAX, step_min=1e-5, tol=None),
    "default": dict(lambdas=DEFAULT_LAMBDAS, n_iter=15, noise=0.09, line_search_loss="paper",
                    step_max=DEFAULT_STEP_MAX, step_min=1e-5, tol=1e-3),
}
__all__ = ["i_gos", "direction", "default_lambdas", "DEFAULT_LAMBDAS", "PAPER_LAMBDAS", "PRESETS", "IGOSProblem",
           "candidate_steps", "resolve_settings"]


def default_lambdas(resolution: int, preset: str = "default") -> tuple[float, float]:
    """``(lambda1, lambda2)`` of ``preset`` for a mask of ``resolution x resolution`` cells."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    return nearest_setting(PRESETS[preset]["lambdas"], resolution)


class IGOSProblem(MaskProblem):
    """:class:`igos.masking.MaskProblem` with the integrated gradient of I-GOS: the path objective and
    the total gradient ``TG`` of (6)."""

    @torch.no_grad()
    def path(self, masks: torch.Tensor, idx: torch.Tensor, noise: torch.Tensor | None, n_steps: int) -> torch.Tensor:
        """Path-averaged (noisy) objective of ``masks[b]`` on image ``idx[b]`` -> ``[B]`` (IGOS++ line search)."""
        n = masks.shape[0]
        pair = torch.arange(n, device=masks.device).repeat_interleave(n_steps)
        step = torch.arange(n_steps, device=masks.device).repeat(n)
        scores = torch.empty(n * n_steps, device=masks.device, dtype=self.dtype)
        for sl in chunks(n * n_steps, self.batch_size):
            p, s, i = pair[sl], step[sl], idx[pair[sl]]
            w = ((s + 1).to(masks.dtype) / n_steps).view(-1, 1, 1, 1)
            x = self.composite(w * up(masks[p], self.size), i)
            if noise is not None:
                x = x + noise[s]
            scores[sl] = target_prob(self.model, x, self.target[i], self.precision)
        return scores.view(n, n_steps).mean(1) + self.reg(masks, idx).to(self.dtype)

    def direction(self, mask: torch.Tensor, noise: torch.Tensor | None, n_steps: int,
                  idx: torch.Tensor | None = None):
        """Total gradient ``TG`` ``[B, r, r]`` of (6) and the path-averaged score ``[B]``.

        ``mask[b]`` belongs to image ``idx[b]`` (``None``: to image ``b``).
        """
        n, (h, w), dev = mask.shape[0], self.size, mask.device
        if idx is None:
            idx = torch.arange(n, device=dev)
        m = mask.detach().requires_grad_(True)
        with torch.enable_grad():
            u = up(m, self.size)                                   # [B, 1, H, W], in the graph of m
        ud = u.detach()
        row = torch.arange(n, device=dev).repeat_interleave(n_steps)
        step = torch.arange(n_steps, device=dev).repeat(n)
        weight = (step + 1).to(mask.dtype) / n_steps               # s / S
        grads = torch.empty(n * n_steps, h, w, device=dev, dtype=mask.dtype)
        scores = torch.empty(n * n_steps, device=dev, dtype=self.dtype)
        for sl in chunks(n * n_steps, self.batch_size):
            b, s = row[sl], step[sl]
            i = idx[b]
            # the pixel mask at path point s, a leaf: the model is differentiated w.r.t. it only
            ms = (weight[sl].view(-1, 1, 1, 1) * ud[b]).requires_grad_(True)
            with torch.enable_grad():
                x = self.composite(ms, i)
                if noise is not None:
                    x = x + noise[s]
                p = target_prob(self.model, x, self.target[i], self.precision)
                (g,) = torch.autograd.grad(p.sum(), ms)
            grads[sl] = g[:, 0]
            scores[sl] = p.detach()
        # d/dup(M) of 1/S sum_s p(x_blur + (s/S) up(M) (x - x_blur) + n_s) = 1/S sum_s (s/S) dp/dm_s   (4)
        g_up = (grads.view(n, n_steps, h, w) * (weight[:n_steps] / n_steps).view(1, -1, 1, 1)).sum(1, keepdim=True)
        with torch.enable_grad():
            reg = self.reg(m, idx)
            outputs, grad_outputs = [u], [g_up]
            if reg.requires_grad:                                  # (5): the regularisers' gradients
                outputs.append(reg.sum())
                grad_outputs.append(torch.ones((), device=dev, dtype=reg.dtype))
            (tg,) = torch.autograd.grad(outputs, m, grad_outputs)  # (6)
        return tg.detach(), scores.view(n, n_steps).mean(1)


def candidate_steps(step_max: float, step_min: float, decay: float) -> list[float]:
    """Trial steps ``a_u eta^j >= a_l`` (j = 0, 1, ...), then ``a_l`` itself (the fallback)."""
    steps, a = [], float(step_max)
    while a >= step_min * (1 - 1e-12):
        steps.append(a)
        a *= decay
    return steps + [float(step_min)]


def _line_search(evaluate: Callable, mask: torch.Tensor, tg: torch.Tensor, loss: torch.Tensor, *,
                 step_max: float, step_min: float, decay: float, armijo_c: float, batch_size: int | None,
                 cost: int = 1):
    """Backtracking on the revised Armijo condition (8) for every image at once.

    ``evaluate(masks [B, r, r], idx [B]) -> [B]`` is the line-search loss of ``masks[b]`` on
    image ``idx[b]``; ``loss`` ``[N]`` is its value at ``mask``. The candidates ``a_u eta^j``
    (and the fallback ``a_l``) of all images form one list in the order sequential
    backtracking tries them (all images' ``j = 0``, then ``j = 1``...). ``batch_size=None``
    evaluates the whole list in one pass, without a host sync; otherwise the list is
    evaluated ``batch_size // cost`` candidates at a time, skipping images that already have
    their step. Each image takes its first (largest) passing candidate, else ``a_l``.

    Returns ``(step [N], new_mask [N, r, r], new_loss [N], armijo_ok [N] bool, n_evaluated)``.
    """
    n, dev = mask.shape[0], mask.device
    steps = torch.tensor(candidate_steps(step_max, step_min, decay), device=dev, dtype=mask.dtype)
    c = steps.numel()
    g2 = tg.flatten(1).pow(2).sum(1)
    values = torch.full((n, c), float("nan"), device=dev, dtype=loss.dtype)
    passed = torch.zeros(n, c, dtype=torch.bool, device=dev)
    done_at = torch.zeros(n, c, dtype=torch.bool, device=dev)    # passed, or the fallback was evaluated
    img = torch.arange(n, device=dev).repeat(c)                  # candidate list, j-major
    j = torch.arange(c, device=dev).repeat_interleave(n)

    def run(sel: torch.Tensor) -> None:
        i, k = img[sel], j[sel]
        trial = (mask[i] - steps[k].view(-1, 1, 1) * tg[i]).clamp(0, 1)
        f = evaluate(trial, i)
        values[i, k] = f
        ok = f <= loss[i] - armijo_c * steps[k].to(f.dtype) * g2[i].to(f.dtype)     # (8)
        passed[i, k] = ok
        done_at[i, k] = ok | (k == c - 1)

    if batch_size is None:
        run(torch.arange(n * c, device=dev))
        n_eval = n * c
    else:
        per_pass = max(1, batch_size // cost)
        evaluated = torch.zeros(n, dtype=torch.long, device=dev)   # candidates tried so far, per image
        n_eval = 0
        while True:
            finished = done_at.any(1)
            todo = ((~finished[img]) & (j >= evaluated[img])).nonzero().squeeze(1)[:per_pass]
            if todo.numel() == 0:
                break
            run(todo)
            evaluated.scatter_reduce_(0, img[todo], j[todo] + 1, reduce="amax")
            n_eval += todo.numel()
    first = done_at.to(torch.uint8).argmax(1)                    # first passing candidate (or the fallback)
    rows = torch.arange(n, device=dev)
    step = steps[first]
    new_mask = (mask - step.view(-1, 1, 1) * tg).clamp(0, 1)
    return step, new_mask, values[rows, first], passed[rows, first], n_eval


def _check_line_search(*, n_steps, step_rule, line_search_loss, step_max, step_min, decay, armijo_c) -> None:
    """The options of I-GOS's direction and line search (the mask's own: :func:`igos.masking.check_mask_options`)."""
    check_positive_int(n_steps, "n_steps")
    if step_rule not in ("armijo", "fixed"):
        raise ValueError(f"step_rule must be 'armijo' or 'fixed', got {step_rule!r}")
    if line_search_loss not in ("paper", "path"):
        raise ValueError(f"line_search_loss must be 'paper' or 'path', got {line_search_loss!r}")
    if not 0 < step_min <= step_max:
        raise ValueError(f"need 0 < step_min <= step_max, got step_min={step_min!r}, step_max={step_max!r}")
    if not 0 < decay < 1:
        raise ValueError(f"decay must lie in (0, 1), got {decay!r}")
    if not 0 <= armijo_c < 1:
        raise ValueError(f"armijo_c must lie in [0, 1), got {armijo_c!r}")


def direction(model: nn.Module, images: torch.Tensor, mask: torch.Tensor, target=None, *, lambda1: float = 1.0,
              lambda2: float = 20.0, n_steps: int = 20, noise: float = 0.0, tv_beta: float = 2, baseline=None,
              seed: int = 0, batch_size: int | None = None) -> torch.Tensor:
    """The I-GOS descent direction ``TG(M)`` of (6) for masks ``[N, r, r]`` -> ``[N, r, r]``.

    The integrated gradient (4) of the target's softmax probability along the path from the
    baseline to the masked image (``n_steps`` right-endpoint points, noise ``noise`` in the
    model's normalised input space, one draw from ``seed``), plus ``lambda1`` and ``lambda2``
    times the gradients of the L1 and TV terms. :func:`i_gos` steps along ``-TG``. With
    ``noise=0`` and a score that is quadratic around the baseline, the integrated part equals
    ``(S+1)(2S+1)/(6 S^2)`` times the plain gradient (the paper's Proposition 1).
    """
    images, target = prepare(model, images, target)
    if mask.dim() == 4:
        mask = mask[:, 0]
    if mask.dim() != 3 or mask.shape[0] != images.shape[0]:
        raise ValueError(f"mask must have shape [N, r, r] with N = {images.shape[0]}, got {tuple(mask.shape)}")
    with preserved(model):
        problem = IGOSProblem(model, images, target, baseline=baseline, lambda1=lambda1, lambda2=lambda2,
                              tv_beta=tv_beta, batch_size=batch_size, precision="fp32")
        tg, _ = problem.direction(mask.to(images.dtype), noise_source(model, images, noise, n_steps, seed)(), n_steps)
    return tg


def resolve_settings(preset: str, resolution, given: dict) -> dict:
    """The preset's settings, overridden by the keyword arguments that were given (not ``None``)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    settings = dict(PRESETS[preset])
    table = settings.pop("lambdas")
    d1, d2 = nearest_setting(table, resolution) if isinstance(resolution, int) and resolution > 0 else (0.0, 0.0)
    settings.update(lambda1=d1, lambda2=d2)
    settings.update({k: v for k, v in given.items() if v is not None})
    return settings


def i_gos(model: nn.Module, images: torch.Tensor, target=None, *, resolution: int = 28, preset: str = "default",
          lambda1: float | None = None, lambda2: float | None = None, n_iter: int | None = None, n_steps: int = 20,
          noise: float | None = None, tv: bool = True, step_rule: str = "armijo", line_search_loss: str | None = None,
          step_max: float | None = None, step_min: float | None = None, decay: float = 0.2, armijo_c: float = 1e-4,
          tol: float | None = None, step_size: float = DEFAULT_FIXED_STEP, adapt_lambda1: bool = False, baseline=None,
          batch_size: int | None = None, seed: int = 0, precision: str = "fp32", callback: Callable | None = None,
          return_history: bool = False):
    """I-GOS saliency ``1 - M`` at ``resolution x resolution`` (Qi et al., AAAI 2020).

    Two presets. ``preset="default"`` runs the paper's algorithm with settings calibrated on
    the embedded photos for the default model, because the paper's literal settings stall
    there: the mask stays at ``M = 1`` (see ``book/32_why_i_gos_stalls.ipynb``).
    ``preset="paper"`` is the paper's literal settings. Any keyword argument given explicitly
    overrides the preset. The settings of the two presets (:data:`PRESETS`):

    ============================  ==================================  =============================
    setting                       ``"default"`` (calibrated)          ``"paper"``
    ============================  ==================================  =============================
    ``lambda1, lambda2``          :data:`DEFAULT_LAMBDAS`              :data:`PAPER_LAMBDAS` ((1, 20)
                                  (about 10x smaller)                  at 28 and 14)
    ``noise`` (normalised space)  0.09 (0.045 in pixels for Lite0:     0.2
                                  the paper's pixel noise with VGG)
    ``n_iter``, ``tol``           15, stop at ``tol = 1e-3``           15, no early stop
    line search                   ``"paper"`` (endpoint ``F``),       the same
                                  ``a_u = 1000``, ``a_l = 1e-5``
    ============================  ==================================  =============================

    Deviations of ``"default"`` from the paper, each chosen by the calibration run
    ``benchmarks/igos_calibration.py`` (results in ``benchmarks/results/igos_calibration.md``)
    on the 7 embedded photos and verified on the 20 ImageNet samples of
    ``load_images("imagenet-samples")``: smaller lambdas, the paper's *pixel-space* noise
    rather than its normalised-space number, and the stop when the objective no longer falls
    ("at most 15 iterations, usually fewer" in the paper, with no rule given).

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1]; all ``N`` are optimised together, each with its
            own step sizes.
        target: ``None`` (top-1), an int, or ``N`` ints.
        resolution: side ``r`` of the mask, ``1 <= r <= min(H, W)`` (paper: 224, 112, 28, 14, 7).
        preset: ``"default"`` or ``"paper"`` (above).
        lambda1, lambda2: weights of ``mean|1 - M|`` and ``TV(M)``; ``None`` takes the preset's
            per-resolution value (the entry of the nearest listed resolution in log scale).
        n_iter: most outer iterations (15).
        n_steps: path points ``S`` of the integrated gradient (paper: 20).
        noise: standard deviation of the Gaussian noise added at each path point, in the
            model's normalised input space (``0`` switches it off, Table 4).
        tv: ``False`` drops the TV term (Table 4 ablation).
        step_rule: ``"armijo"`` (line search) or ``"fixed"`` (every step is ``step_size``, Table 4).
        line_search_loss: ``"paper"``: the noiseless objective at the trial mask (original
            code); ``"path"``: IGOS++'s path-averaged noisy score plus regularisers.
        step_max: upper bound ``a_u`` of the backtracking (the first trial step). The original
            code used 200 and IGOS++ 1000; both presets use 1000.
        step_min, decay, armijo_c: lower bound ``a_l``, shrink factor ``eta`` and Armijo constant
            ``beta`` of Algorithm 1 (paper: 1e-5, 0.2, 1e-4).
        tol: convergence stop: an image stops once its objective ``F`` fell by less than ``tol``
            in each of its last two iterations (its mask is then final and it leaves the
            batch). ``None`` in the paper preset: always ``n_iter`` iterations. ``0`` stops
            an image only when ``F`` stopped falling.
        step_size: the step of ``step_rule="fixed"``.
        adapt_lambda1: the original code's heuristic, not in the paper: after iteration
            ``int(n_iter / 2)``, an image whose target probability moved by <= 0.001 since the
            start gets ``lambda1 / 10``; after ``int(n_iter / 1.25)``, by <= 0.01, ``lambda1 / 5``.
            It switches the convergence stop off.
        baseline: ``None`` for the paper's blur (kernel 51, sigma 50), or anything
            :func:`igos.make_baseline` accepts.
        batch_size: model inputs (path points or line-search trials) per forward pass;
            ``None``: :func:`igos.batching.auto_batch_size` (20 on a CPU, sized to the free
            memory on a GPU). Results do not depend on it. The line search evaluates at most
            ``batch_size // cost`` trial steps per pass (cost 1 for ``"paper"``, ``n_steps``
            for ``"path"``), taken across images in the order sequential backtracking tries them.
        seed: seed of the local generator of the noise (shared by the images of a batch).
        precision: ``"fp32"`` or ``"bf16"`` (autocast for the model's forward passes).
        callback: called after every iteration as ``callback(iteration, loss, mask)`` with the
            iteration index, the noiseless objective ``F(M_{k+1})`` ``[N]`` and the mask
            ``[N, r, r]`` (do not modify it).
        return_history: also return a dict of per-iteration tensors: ``objective`` and ``prob``
            ``[K + 1, N]`` (from ``M_0 = 1``; ``K <= n_iter`` iterations ran, a stopped image
            keeps its last values), ``step``, ``armijo`` (condition (8) held),
            ``ls_before``, ``ls_after`` (line-search loss at ``M_k`` and ``M_{k+1}``) and
            ``grad_sq`` (``||TG||^2``) ``[K, N]`` (0 / True / unchanged for a stopped image),
            ``n_trials`` ``[K]`` (line-search forward passes), ``lambda1`` ``[K + 1, N]``,
            ``iterations`` ``[N]`` (iterations each image used) and ``settings`` (the dict
            of resolved settings).

    Returns:
        ``saliency`` ``[N, r, r]`` float32 in [0, 1] (``1 - M``: large = important), or
        ``(saliency, history)``.

    Reference:
        Qi, Khorram, Li, AAAI 2020, https://arxiv.org/abs/1905.00954

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> igos.i_gos(model, torch.rand(2, 3, 32, 32), resolution=8, n_iter=2).shape
        torch.Size([2, 8, 8])
    """
    images, target = prepare(model, images, target)
    cfg = resolve_settings(preset, resolution, dict(lambda1=lambda1, lambda2=lambda2, n_iter=n_iter, noise=noise,
                                                     line_search_loss=line_search_loss, step_max=step_max,
                                                     step_min=step_min, tol=tol))
    if adapt_lambda1:   # the rescue acts on images whose score has not moved: they must not stop first
        if tol is not None:
            raise ValueError("adapt_lambda1=True rescues stuck images late in the run; it cannot be combined with tol")
        cfg["tol"] = None
    lambda1, lambda2 = float(cfg["lambda1"]), float(cfg["lambda2"])
    n_iter, noise, line_search_loss = cfg["n_iter"], cfg["noise"], cfg["line_search_loss"]
    step_max, step_min, tol = cfg["step_max"], cfg["step_min"], cfg["tol"]
    check_mask_options(images, resolution=resolution, lambda1=lambda1, lambda2=lambda2, n_iter=n_iter, noise=noise,
                       precision=precision)
    _check_line_search(n_steps=n_steps, step_rule=step_rule, line_search_loss=line_search_loss, step_max=step_max,
                       step_min=step_min, decay=decay, armijo_c=armijo_c)
    if step_rule == "fixed" and not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    if tol is not None and not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be None or a number >= 0, got {tol!r}")
    if batch_size is None:
        batch_size = auto_batch_size(images)
    check_positive_int(batch_size, "batch_size")
    if not tv:
        lambda2 = 0.0
    n, dev, dtype = images.shape[0], images.device, images.dtype
    rows = torch.arange(n, device=dev)
    with preserved(model):
        problem = IGOSProblem(model, images, target, baseline=baseline, lambda1=lambda1, lambda2=lambda2,
                              tv_beta=2, batch_size=batch_size, precision=precision)
        if adapt_lambda1:
            problem.lambda1 = torch.full((n,), lambda1, device=dev, dtype=dtype)
        draw_noise = noise_source(model, images, noise, n_steps, seed)
        mask = torch.ones(n, resolution, resolution, device=dev, dtype=dtype)
        loss = problem.endpoint(mask, rows)                      # F(M_0) = p_c(x)
        warn_low_prob(loss - problem.reg(mask, rows), target, "i_gos")
        hist = {k: [] for k in ("objective", "prob", "step", "armijo", "ls_before", "ls_after", "grad_sq",
                                "n_trials", "lambda1")}
        hist["objective"].append(loss)
        hist["prob"].append(loss - problem.reg(mask, rows).to(problem.dtype))
        hist["lambda1"].append(torch.as_tensor(problem.lambda1, device=dev).expand(n))
        iterations = torch.zeros(n, dtype=torch.long, device=dev)
        small = torch.zeros(n, dtype=torch.long, device=dev)      # consecutive iterations with a decrease < tol
        for k in range(n_iter):
            noise_k = draw_noise()                                # drawn every iteration: noise depends on (seed, k)
            active = (small < 2).nonzero().flatten() if tol is not None else rows
            if active.numel() == 0:
                break
            m_a, loss_a = mask[active], loss[active]
            tg, path_score = problem.direction(m_a, noise_k, n_steps, active)
            reg_a = problem.reg(m_a, active).to(problem.dtype)
            ls_before = loss_a if line_search_loss == "paper" else path_score + reg_a
            if step_rule == "fixed":
                alpha = torch.full((active.numel(),), float(step_size), device=dev, dtype=dtype)
                new_m = (m_a - alpha.view(-1, 1, 1) * tg).clamp(0, 1)
                new_loss = problem.endpoint(new_m, active)
                ls_after = new_loss if line_search_loss == "paper" else problem.path(new_m, active, noise_k, n_steps)
                ok = ls_after <= ls_before - armijo_c * alpha * tg.flatten(1).pow(2).sum(1)
                n_trials = 0
            else:
                if line_search_loss == "paper":
                    evaluate, cost = (lambda m, i, _a=active: problem.endpoint(m, _a[i])), 1
                else:
                    evaluate = lambda m, i, _a=active, _z=noise_k: problem.path(m, _a[i], _z, n_steps)  # noqa: E731
                    cost = n_steps
                alpha, new_m, ls_after, ok, n_trials = _line_search(
                    evaluate, m_a, tg, ls_before, step_max=step_max, step_min=step_min, decay=decay,
                    armijo_c=armijo_c, batch_size=batch_size, cost=cost)
                new_loss = ls_after if line_search_loss == "paper" else problem.endpoint(new_m, active)
            if tol is not None:
                small[active] = torch.where(loss_a - new_loss < tol, small[active] + 1, torch.zeros_like(small[active]))
            iterations[active] += 1
            mask, loss = mask.clone(), loss.clone()
            mask[active], loss[active] = new_m, new_loss
            prob = loss - problem.reg(mask, rows).to(problem.dtype)
            if adapt_lambda1 and n_iter > 3 and k in (int(n_iter / 2), int(n_iter / 1.25)):
                # the original code's rescue of a stuck optimisation (not in the paper): if the score
                # has barely moved since the start, shrink lambda1 (by 10, later by 5) for that image
                tol_p, factor = (0.001, 10.0) if k == int(n_iter / 2) else (0.01, 5.0)
                stuck = (hist["prob"][k - 1] - hist["prob"][0]).abs() <= tol_p
                problem.lambda1 = torch.where(stuck, problem.lambda1 / factor, problem.lambda1)
                loss = prob + problem.reg(mask, rows).to(problem.dtype)     # F(M_{k+1}) under the new lambda1
            # per-image records; an image that has stopped keeps its loss and takes no step
            full = {"step": torch.zeros(n, device=dev, dtype=dtype), "armijo": torch.ones(n, dtype=torch.bool, device=dev),
                    "ls_before": loss.clone(), "ls_after": loss.clone(), "grad_sq": torch.zeros(n, device=dev, dtype=dtype)}
            for key, value in (("step", alpha), ("armijo", ok), ("ls_before", ls_before), ("ls_after", ls_after),
                               ("grad_sq", tg.flatten(1).pow(2).sum(1))):
                full[key][active] = value.to(full[key].dtype)
            for key, value in (("objective", loss), ("prob", prob), ("step", full["step"]), ("armijo", full["armijo"]),
                               ("ls_before", full["ls_before"]), ("ls_after", full["ls_after"]), ("grad_sq", full["grad_sq"]),
                               ("n_trials", torch.tensor(n_trials)),
                               ("lambda1", torch.as_tensor(problem.lambda1, device=dev).expand(n))):
                hist[key].append(value)
            if callback is not None:
                callback(k, loss, mask)
    saliency = (1 - mask).float()
    if not return_history:
        return saliency
    history = {key: torch.stack(v) if v else torch.empty(0, n, device=dev) for key, v in hist.items()}
    history["iterations"] = iterations
    history["settings"] = dict(cfg, lambda1=lambda1, lambda2=lambda2, preset=preset, batch_size=batch_size)
    return saliency, history
