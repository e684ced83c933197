"""Evaluation metrics: deletion, insertion and the pointing game.

Deletion and insertion (Petsiuk, Das, Saenko, "RISE", BMVC 2018, arXiv:1806.07421), in the
form the I-GOS paper uses them (Qi, Khorram, Li, AAAI 2020, arXiv:1905.00954, Sec. 5):

1. The cells of the saliency map are ranked **at the map's native resolution** ``h x w``,
   most salient first. **Ties** (cells of equal value) are put in a seeded random order
   (``seed``, default 0): the cells are shuffled by a permutation drawn from a local generator
   seeded with ``seed`` (the same for every map), then sorted stably, so the ranking is the same on every
   device and every rerun, and a map with many ties (a mask that did not move, a coarse
   Grad-CAM) is not credited with the row-major order of its cells. :func:`tied_share`
   reports the share of cells that tie; the tables print it.
2. Step ``j = 0 .. S`` (``S = min(n_steps, h*w)``) affects the first ``c_j = floor(j h w / S)``
   cells, so the curve contains both end points (``c_0 = 0``, ``c_S = h w``) and each step
   covers at least one cell.
3. The binary keep-mask (1 = original pixel) is built at ``h x w``, upsampled bilinearly
   to the input by :func:`igos.perturbation.up` (``align_corners=True``, the convention of
   the authors' ``nn.UpsamplingBilinear2d``, which I-GOS and Mask also use for their masks),
   and composited as ``x = keep * image + (1 - keep) * baseline``. The mask boundaries are
   soft, as in the authors' code.
   *Deletion* removes the ranked cells (step 0 is the image, step S the baseline).
   *Insertion* reveals them (step 0 is the baseline, step S the image).
   The default baseline is the I-GOS blur (Gaussian 51 x 51, sigma 50) for both metrics;
   ``"black"``, ``"grey"``, a float or a tensor are accepted as well
   (:func:`igos.make_baseline`).
4. The score is the softmax probability of the target class.
5. The AUC is the trapezoid rule over the affected fraction ``c_j / (h w)`` in [0, 1],
   on the curve **with both end points**. Deletion: lower is better. Insertion: higher is
   better.

**The authors' last-chunk defect is absent.** In IGOS_pp's ``metric()`` one line reads
``outputs * step if pixels + step < num_pixels else num_pixels - pixels``. Python parses
the conditional expression last, so the final chunk adds its *cell count* instead of
count x probability. That inflates both scores by ``(remaining cells)/r^2 * (1 - p)``.
Here every segment is weighted by its width times the mean of its two end
probabilities. ``tests/test_metrics.py`` checks this on a model whose output probability is
the mean of its input pixels, so the curve and its area are known in closed form, and the
defective formula gives a different number there.

All ``N * (S + 1)`` perturbed images of a call go through the model in chunks of
``batch_size`` perturbed images. The only Python loop is over those chunks. The pointing
game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016,
arXiv:1608.00507) follows TorchRay's ``PointingGame``: the map is upsampled to the image,
and its maximum counts as a hit when it lies within ``tolerance`` pixels of the object's
box. The aggregate is the mean over classes of the per-class accuracy.

The objective of a mask (the I-GOS / Mask loss, for the convergence table) is
:func:`igos.perturbation.objective`, re-exported here as :func:`objective`.

Used in ``book/40_running_the_experiments.ipynb`` and ``book/41_tables_1_2.ipynb``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .baselines import make_baseline
from .checks import check_images, check_positive_int, check_saliency
from .perturbation import objective, up
from .scores import select_score
from .targets import as_target, num_classes_of

#: Perturbed images per forward pass when ``batch_size=None``. All ``N * (n_steps + 1)``
#: images of a call rarely fit in memory at once, so ``None`` here means this bound,
#: not a single pass.
DEFAULT_BATCH_SIZE = 64


class Curve(NamedTuple):
    """A deletion or insertion curve: unpack as ``fractions, probs = curve``.

    Attributes:
        fractions: ``[S + 1]``, the fraction of cells removed (deletion) or inserted
            (insertion) at each step, from 0 to 1.
        probs: ``[N, S + 1]``, the softmax probability of the target at each step.
    """

    fractions: torch.Tensor
    probs: torch.Tensor


def auc(fractions: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Area under ``probs`` ``[N, S+1]`` over ``fractions`` ``[S+1]``, by the trapezoid rule -> ``[N]``."""
    return torch.trapezoid(probs, fractions.to(probs.dtype), dim=-1)


def tie_order(n: int, n_cells: int, seed: int | None, device=None) -> torch.Tensor:
    """The order in which tied cells are ranked: ``LongTensor[n, n_cells]``, one permutation for all maps.

    ``randperm(n_cells)`` from a CPU generator seeded with ``seed``, the same for every map,
    so a map's ranking depends neither on the batch it is evaluated in nor on the device.
    ``seed=None`` gives the identity (row-major order, the behaviour of a plain stable sort).
    """
    if seed is None:
        return torch.arange(n_cells, device=device).expand(n, n_cells)
    perm = torch.randperm(n_cells, generator=torch.Generator().manual_seed(int(seed)))
    return perm.to(device).expand(n, n_cells)


def cell_ranks(saliency: torch.Tensor, seed: int | None = 0) -> torch.Tensor:
    """Rank of every cell of ``saliency`` ``[N, h, w]`` -> ``LongTensor[N, h*w]``.

    Rank 0 is the most salient cell. Cells of equal value are ranked in the seeded random
    order of :func:`tie_order` (``seed=None``: smaller row-major index first).
    """
    flat = saliency.reshape(saliency.shape[0], -1)
    perm = tie_order(flat.shape[0], flat.shape[1], seed, flat.device)
    shuffled = torch.sort(flat.gather(1, perm), dim=1, descending=True, stable=True).indices
    order = perm.gather(1, shuffled)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return ranks


def tied_share(saliency: torch.Tensor) -> torch.Tensor:
    """Share of the cells of each map ``[N, h, w]`` whose value equals another cell's value -> ``[N]``.

    0 for a map of distinct values, 1 for a constant map. A mask that did not move from
    ``M = 1`` has a large tied share (float32 rounding gives only a few distinct values);
    deletion and insertion then rank those cells by the seeded tie order of :func:`cell_ranks`.
    """
    flat = saliency.reshape(saliency.shape[0], -1)
    values = torch.sort(flat, dim=1).values
    same = values[:, 1:] == values[:, :-1]
    tied = torch.zeros_like(values, dtype=torch.bool)
    tied[:, 1:] |= same
    tied[:, :-1] |= same
    return tied.float().mean(1)


#: A mask optimisation has *stalled* when the target's probability on the final masked image is
#: still above this share of its probability on the image (it fell by less than 10 %).
STALL_RATIO = 0.9


def stalled(p_image, p_masked):
    """Whether a mask optimisation stalled: ``p_masked > STALL_RATIO * p_image`` (elementwise).

    ``p_image`` is the target's probability on the image and ``p_masked`` on the image
    perturbed by the final mask. A mask that did not move keeps ``p_masked ~ p_image``;
    tables flag such rows and count them. Floats give a bool, tensors a bool tensor.
    """
    if isinstance(p_image, torch.Tensor) or isinstance(p_masked, torch.Tensor):
        return torch.as_tensor(p_masked) > STALL_RATIO * torch.as_tensor(p_image)
    if p_image is None or p_masked is None:
        return None
    return bool(p_masked > STALL_RATIO * p_image)


def step_counts(n_cells: int, n_steps: int) -> torch.Tensor:
    """Cells affected after each step: ``floor(j * n_cells / S)`` for ``j = 0..S``, ``S = min(n_steps, n_cells)``."""
    s = min(n_steps, n_cells)
    return torch.arange(s + 1, dtype=torch.long) * n_cells // s


def _curves(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, target, *, insertion: bool,
            baseline, n_steps: int, batch_size: int | None, seed: int | None) -> Curve:
    check_images(images)
    saliency = check_saliency(saliency, images).to(images.device)
    check_positive_int(n_steps, "n_steps")
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else check_positive_int(batch_size, "batch_size")
    target = as_target(target, images, model, num_classes_of(model, images))
    base = make_baseline(baseline, images)
    n, (h, w), size = images.shape[0], saliency.shape[-2:], images.shape[-2:]

    ranks = cell_ranks(saliency.float() if saliency.dtype != torch.float64 else saliency, seed)
    counts = step_counts(h * w, n_steps).to(images.device)
    n_points = counts.numel()
    dtype = torch.float64 if images.dtype == torch.float64 else torch.float32
    probs = torch.empty(n * n_points, dtype=dtype, device=images.device)
    with torch.no_grad():
        for start in range(0, n * n_points, batch_size):
            pair = torch.arange(start, min(start + batch_size, n * n_points), device=images.device)
            i, j = pair // n_points, pair % n_points              # image and step of every perturbed image
            hit = ranks[i] < counts[j, None]                      # cells removed (deletion) / revealed (insertion)
            keep = (hit if insertion else ~hit).to(images.dtype).view(-1, 1, h, w)
            x = torch.lerp(base[i], images[i], up(keep, size))   # keep*image + (1-keep)*baseline
            logits = model(x).to(dtype)
            probs[pair] = select_score(logits, target[i], "prob")
    return Curve(counts.to(dtype) / (h * w), probs.view(n, n_points))


def deletion_curve(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, target=None, *,
                   baseline="blur", n_steps: int = 100, batch_size: int | None = None, seed: int | None = 0) -> Curve:
    """Probability of the target as the most salient cells are replaced by the baseline.

    Args:
        model: classifier on images in [0, 1] (see :func:`igos.load_model`).
        images: ``[N, 3, H, W]`` in [0, 1].
        saliency: ``[N, h, w]`` at the method's native resolution, larger = more
            important. ``h, w`` are at most ``H, W``.
        target: ``None`` (the model's top-1 class on the unperturbed image), an int, or
            ``N`` ints.
        baseline: what replaces deleted cells: ``"blur"`` (default, as in I-GOS),
            ``"black"``, ``"grey"``, a float or a tensor broadcastable to ``images``.
        n_steps: number of steps. It is capped at ``h * w``, so each step removes at
            least one cell.
        batch_size: perturbed images per forward pass. ``None`` means
            :data:`DEFAULT_BATCH_SIZE`. The result does not depend on it.
        seed: seed of the order in which tied cells are ranked (:func:`cell_ranks`);
            ``None`` ranks ties by row-major index.

    Returns:
        :class:`Curve` ``(fractions [S+1], probs [N, S+1])``. ``fractions[0] == 0`` is
        the image and ``fractions[-1] == 1`` the baseline.

    Example:
        >>> import igos, torch
        >>> model = igos.load_model("tiny_cnn", device="cpu")
        >>> x = torch.rand(2, 3, 32, 32); s = torch.rand(2, 8, 8)
        >>> igos.deletion_curve(model, x, s, n_steps=16).probs.shape
        torch.Size([2, 17])
    """
    return _curves(model, images, saliency, target, insertion=False, baseline=baseline, n_steps=n_steps,
                   batch_size=batch_size, seed=seed)


def insertion_curve(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, target=None, *,
                    baseline="blur", n_steps: int = 100, batch_size: int | None = None, seed: int | None = 0) -> Curve:
    """Probability of the target as the most salient cells are revealed on the baseline.

    Same arguments as :func:`deletion_curve`. ``fractions[0] == 0`` is the baseline and
    ``fractions[-1] == 1`` the image.
    """
    return _curves(model, images, saliency, target, insertion=True, baseline=baseline, n_steps=n_steps,
                   batch_size=batch_size, seed=seed)


def deletion(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, target=None, *,
             baseline="blur", n_steps: int = 100, batch_size: int | None = None, seed: int | None = 0) -> torch.Tensor:
    """Deletion AUC per image, ``[N]`` in [0, 1], lower is better.

    The trapezoid area under :func:`deletion_curve` (both end points included) over the
    fraction of cells deleted. Arguments as in :func:`deletion_curve`.

    Reference: Petsiuk et al., RISE, BMVC 2018; Qi et al., I-GOS, AAAI 2020.
    """
    return auc(*deletion_curve(model, images, saliency, target, baseline=baseline, n_steps=n_steps,
                               batch_size=batch_size, seed=seed))


def insertion(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, target=None, *,
              baseline="blur", n_steps: int = 100, batch_size: int | None = None, seed: int | None = 0) -> torch.Tensor:
    """Insertion AUC per image, ``[N]`` in [0, 1], higher is better.

    The trapezoid area under :func:`insertion_curve` (both end points included) over the
    fraction of cells inserted. Arguments as in :func:`deletion_curve`.
    """
    return auc(*insertion_curve(model, images, saliency, target, baseline=baseline, n_steps=n_steps,
                                batch_size=batch_size, seed=seed))


class Perturbed(NamedTuple):
    """Images with a given share of their cells deleted or inserted (:func:`perturbed_at`).

    Attributes:
        images: ``[N, 3, H, W]``, the composited images.
        probs: ``[N]``, the softmax probability of the target on them.
        fraction: the share of cells actually deleted / inserted, ``c / (h w)``.
    """

    images: torch.Tensor
    probs: torch.Tensor
    fraction: float


def perturbed_at(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, fraction: float, target=None, *,
                 insertion: bool = False, baseline="blur", seed: int | None = 0) -> Perturbed:
    """The deletion (or insertion) image after a share ``fraction`` of the cells, and its probability.

    The image is composited exactly as a point of :func:`deletion_curve` /
    :func:`insertion_curve`: the ``c = floor(fraction * h * w)`` most salient cells of the map
    (same ranking and tie rule) are replaced by the baseline (deletion) or revealed on it
    (insertion), through the bilinearly upsampled binary keep-mask. With
    ``fraction = j / S`` it is the image of step ``j`` of a curve with ``n_steps = S``, and
    ``probs`` equals ``curve.probs[:, j]``. The I-GOS paper's Figures 12-15 show such
    images at chosen "deletion / insertion ratios".

    Args:
        model, images, saliency, target, baseline, seed: as in :func:`deletion_curve`.
        fraction: share of the cells to delete / insert, in [0, 1].
        insertion: ``False`` for the deletion image, ``True`` for the insertion image.

    Returns:
        :class:`Perturbed` ``(images [N, 3, H, W], probs [N], fraction)``.
    """
    check_images(images)
    saliency = check_saliency(saliency, images).to(images.device)
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction!r}")
    target = as_target(target, images, model, num_classes_of(model, images))
    (h, w), size = saliency.shape[-2:], images.shape[-2:]
    count = min(h * w, int(fraction * h * w + 1e-9))      # the epsilon makes j / S give floor(j h w / S)
    ranks = cell_ranks(saliency.float() if saliency.dtype != torch.float64 else saliency, seed)
    hit = ranks < count
    keep = (hit if insertion else ~hit).to(images.dtype).view(-1, 1, h, w)
    with torch.no_grad():
        x = torch.lerp(make_baseline(baseline, images), images, up(keep, size))
        probs = select_score(model(x), target, "prob")
    return Perturbed(x, probs, count / (h * w))


# ----------------------------------------------------------------------------- pointing game
def _as_box_tensor(boxes, n: int, device) -> torch.Tensor:
    """``[N, 4]``, ``[N, K, 4]`` (NaN rows = padding) or a list of ``[K_i, 4]`` -> ``[N, K, 4]`` float64."""
    if isinstance(boxes, torch.Tensor):
        b = boxes.detach().to(device=device, dtype=torch.float64)
        if b.dim() == 2:
            b = b[:, None]
    else:
        items = [torch.as_tensor(x, dtype=torch.float64, device=device).reshape(-1, 4) for x in boxes]
        if len(items) != n:
            raise ValueError(f"boxes has {len(items)} entries but there are {n} maps")
        k = max((x.shape[0] for x in items), default=0)
        b = torch.full((n, max(k, 1), 4), float("nan"), dtype=torch.float64, device=device)
        for idx, x in enumerate(items):
            b[idx, :x.shape[0]] = x
    if b.dim() != 3 or b.shape[-1] != 4:
        raise ValueError(f"boxes must be [N, 4] or [N, K, 4] (x0, y0, x1, y1), got {tuple(b.shape)}")
    if b.shape[0] != n:
        raise ValueError(f"boxes has {b.shape[0]} entries but there are {n} maps")
    return b


def pointing_game(saliency: torch.Tensor, boxes, *, image_size: int | Sequence[int] = 224,
                  tolerance: int = 15) -> torch.Tensor:
    """Pointing game hits: the map's maximum lies within ``tolerance`` pixels of the object.

    The map is upsampled to the image (bilinear, ``align_corners=False``, as TorchRay's
    ``resize_saliency``). Its maximum pixel ``(u, v)`` is taken, the first one in row-major
    order on ties. Following TorchRay's ``PointingGame.evaluate``, it is a hit when a
    pixel of the object lies at Euclidean distance ``< tolerance`` from ``(u, v)``. The object
    pixels are those whose centres ``(x + 0.5, y + 0.5)`` fall inside a box. A maximum
    on the object itself is always a hit, even with ``tolerance=0``.

    Args:
        saliency: ``[N, h, w]`` maps (any resolution).
        boxes: the object boxes ``x0, y0, x1, y1`` in pixels of the image, as ``[N, 4]``,
            ``[N, K, 4]`` (rows of NaN are padding) or a list of ``N`` ``[K_i, 4]``. Several
            boxes mean several instances; a hit on any of them counts.
        image_size: the image side ``S`` or ``(H, W)`` that the boxes refer to.
        tolerance: in pixels (15 in Zhang et al. 2016 and TorchRay).

    Returns:
        ``BoolTensor[N]``: ``True`` for a hit. Aggregate with :func:`pointing_accuracy`.

    Raises:
        ValueError: saliency of the wrong shape or with NaN, a box outside the image or
            with ``x1 < x0``, or an image without any known box.

    Reference: Zhang, Lin, Brandt, Shen, Sclaroff, ECCV 2016; TorchRay
    ``torchray/benchmark/pointing_game.py``.
    """
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    H, W = (int(v) for v in image_size)
    if not isinstance(saliency, torch.Tensor):
        raise TypeError(f"saliency must be a torch.Tensor [N, h, w], got {type(saliency).__name__}")
    if saliency.dim() == 4 and saliency.shape[1] == 1:
        saliency = saliency[:, 0]
    if saliency.dim() != 3 or saliency.shape[0] == 0:
        raise ValueError(f"saliency must have shape [N, h, w], got {tuple(saliency.shape)}")
    if not torch.isfinite(saliency).all():
        raise ValueError("saliency contains NaN or infinite values")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative number of pixels, got {tolerance!r}")
    n = saliency.shape[0]
    b = _as_box_tensor(boxes, n, saliency.device)
    valid = ~torch.isnan(b).any(-1)                                             # [N, K]
    if not valid.any(1).all():
        missing = (~valid.any(1)).nonzero().flatten().tolist()
        raise ValueError(f"no known box for image(s) {missing} (NaN): leave them out of the pointing game")
    x0, y0, x1, y1 = b.unbind(-1)
    eps = 1e-6
    bad = valid & ((x0 < -eps) | (y0 < -eps) | (x1 > W + eps) | (y1 > H + eps) | (x1 < x0) | (y1 < y0))
    if bad.any():
        i, k = bad.nonzero()[0].tolist()
        raise ValueError(f"box {b[i, k].tolist()} of image {i} lies outside the {W}x{H} image or has "
                         f"x1 < x0 / y1 < y0 (boxes are x0, y0, x1, y1 in pixels of the image)")

    up = F.interpolate(saliency.float()[:, None], size=(H, W), mode="bilinear", align_corners=False)[:, 0]
    flat = up.reshape(n, -1)
    is_max = flat == flat.max(dim=1, keepdim=True).values
    first = torch.where(is_max, torch.arange(H * W, device=flat.device), H * W).min(dim=1).values
    v, u = (first // W).double()[:, None], (first % W).double()[:, None]        # row, column of the maximum
    # Object pixels of a box: columns ceil(x0 - .5) .. floor(x1 - .5), rows likewise. The
    # nearest one to (u, v) is the clamped point, so no dense mask is needed.
    c_lo, c_hi = torch.ceil(x0 - 0.5).clamp(min=0), torch.floor(x1 - 0.5).clamp(max=W - 1)
    r_lo, r_hi = torch.ceil(y0 - 0.5).clamp(min=0), torch.floor(y1 - 0.5).clamp(max=H - 1)
    nonempty = valid & (c_lo <= c_hi) & (r_lo <= r_hi)
    du = u - torch.minimum(torch.maximum(u, c_lo), c_hi)
    dv = v - torch.minimum(torch.maximum(v, r_lo), r_hi)
    d2 = du ** 2 + dv ** 2
    hit = nonempty & ((d2 < float(tolerance) ** 2) | (d2 == 0))
    return hit.any(dim=1)


@dataclass
class PointingScore:
    """Pointing game accuracy as in Zhang et al. (2016): the mean of the per-class accuracies.

    Attributes:
        accuracy: mean over classes of (hits / trials) in that class, in [0, 1].
        per_class: ``{class: accuracy}``.
        hits, total: over all images.
    """

    accuracy: float
    per_class: dict
    hits: int
    total: int

    @property
    def overall(self) -> float:
        """Hits over all images, ignoring classes."""
        return self.hits / self.total


def pointing_accuracy(hits: torch.Tensor | Sequence[bool], labels: torch.Tensor | Sequence[int]) -> PointingScore:
    """Aggregate pointing game ``hits`` ``[N]`` per class ``labels`` ``[N]`` (TorchRay's ``aggregate``)."""
    h = torch.as_tensor(hits).bool().reshape(-1).cpu()
    y = torch.as_tensor(labels).long().reshape(-1).cpu()
    if h.numel() != y.numel() or h.numel() == 0:
        raise ValueError(f"hits ({h.numel()}) and labels ({y.numel()}) must be non-empty and of equal length")
    classes = torch.unique(y)
    per_class = {int(c): h[y == c].float().mean().item() for c in classes}
    return PointingScore(accuracy=sum(per_class.values()) / len(per_class), per_class=per_class,
                         hits=int(h.sum()), total=h.numel())


__all__ = ["Curve", "DEFAULT_BATCH_SIZE", "Perturbed", "PointingScore", "auc", "cell_ranks", "tie_order", "tied_share", "deletion", "deletion_curve",
           "insertion", "insertion_curve", "objective", "perturbed_at", "pointing_accuracy", "pointing_game",
           "STALL_RATIO", "stalled", "step_counts"]
