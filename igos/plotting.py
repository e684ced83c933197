"""Plotting: normalisation happens here, at the edge, never in the methods."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

CMAP = "jet"


def _pyplot():
    """matplotlib.pyplot, imported on first use (``import igos`` does not load it)."""
    import matplotlib.pyplot as plt

    return plt


def upsample(saliency: torch.Tensor, size, mode: str = "bilinear") -> torch.Tensor:
    """Resize maps ``[N, h, w]`` to ``size`` (int or ``(H, W)``) for display -> ``[N, H, W]``."""
    if isinstance(size, int):
        size = (size, size)
    x = saliency.float()[:, None]
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(x, size=tuple(size), mode=mode, **kwargs)[:, 0]


def normalize(saliency: torch.Tensor, norm: str = "minmax") -> torch.Tensor:
    """Per-map normalisation for display: ``"minmax"`` to [0, 1], ``"max"`` (divide by max |s|), ``"none"``."""
    s = saliency.detach().float()
    flat = s.reshape(s.shape[0], -1)
    if norm == "minmax":
        lo, hi = flat.min(1).values, flat.max(1).values
        return ((flat - lo[:, None]) / (hi - lo).clamp_min(1e-12)[:, None]).view_as(s)
    if norm == "max":
        return (flat / flat.abs().max(1).values.clamp_min(1e-12)[:, None]).view_as(s)
    if norm == "none":
        return s
    raise ValueError(f"norm must be 'minmax', 'max' or 'none', got {norm!r}")


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` in [0, 1] -> ``[H, W, 3]`` numpy for ``imshow``."""
    return image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def value_range(saliency: torch.Tensor, norm: str = "minmax", clip: float = 0.99) -> tuple[float, float]:
    """The raw values ``(lo, hi)`` of one map ``[h, w]`` that its display maps to 0 and 1.

    ``norm="display"``: the range of :func:`display_map` (``max(min, 0)`` and the ``clip``
    quantile); ``"minmax"``: min and max; ``"max"``: 0 and the max.
    """
    s = saliency.detach().float().flatten()
    if norm == "display":
        lo = max(float(s.min()), 0.0)
        shifted = (s - lo).clamp_min(0)
        hi = float(torch.quantile(shifted, clip)) if s.numel() * (1 - clip) >= 1 else float(shifted.max())
        return lo, lo + hi
    if norm == "max":
        return 0.0, float(s.max())
    return float(s.min()), float(s.max())


def overlay(ax, image: torch.Tensor, saliency: torch.Tensor | None = None, *, norm: str = "minmax",
            alpha: float = 0.5, cmap: str = CMAP, title: str | None = None, box=None, value_range=None):
    """Draw ``image`` ``[3, H, W]`` with ``saliency`` ``[h, w]`` (upsampled) on top.

    ``value_range=(lo, hi)``: the raw values that the colours 0 and 1 stand for, shown as a
    slim colour bar beside the panel, so that a map of rounding noise cannot pass for a mask.
    """
    ax.imshow(to_numpy_image(image))
    if saliency is not None:
        s = normalize(upsample(saliency[None], image.shape[-2:]), norm)[0].cpu().numpy()
        im = ax.imshow(s, cmap=cmap, alpha=alpha, vmin=0 if norm != "none" else None,
                       vmax=1 if norm != "none" else None)
        if value_range is not None:
            bar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02, ticks=[0, 1])
            bar.ax.set_yticklabels([f"{value_range[0]:.2g}", f"{value_range[1]:.2g}"], fontsize=6)
            bar.ax.tick_params(length=1, pad=1)
    if box is not None and np.all(np.isfinite(np.asarray(box, dtype=float))):
        x0, y0, x1, y1 = [float(v) for v in box]
        ax.add_patch(_pyplot().Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="white", lw=1.5, ls="--"))
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return ax


def grid(images: torch.Tensor, maps: Mapping[str, torch.Tensor] | None = None, *, titles: Sequence[str] | None = None,
         norm: str = "minmax", size: float = 2.2, boxes=None):
    """One row per image: the image, then one overlay per entry of ``maps`` (name -> ``[N, h, w]``)."""
    maps = dict(maps or {})
    n, cols = images.shape[0], 1 + len(maps)
    fig, axes = _pyplot().subplots(n, cols, figsize=(size * cols, size * n), squeeze=False)
    for i in range(n):
        label = titles[i] if titles is not None else None
        overlay(axes[i, 0], images[i], title=label, box=None if boxes is None else boxes[i])
        for j, (name, sal) in enumerate(maps.items(), 1):
            overlay(axes[i, j], images[i], sal[i], norm=norm, title=name if i == 0 else None,
                    value_range=value_range(sal[i], norm) if norm in ("minmax", "max") else None)
    fig.tight_layout()
    return fig


def predictions(images: torch.Tensor, probs: torch.Tensor, class_names: Sequence[str], *,
                names: Sequence[str] | None = None, boxes=None, k: int = 5, cols: int = 4, size: float = 3.0):
    """Photos with their top-``k`` classes and probabilities (and object boxes), ``cols`` per row."""
    n = images.shape[0]
    rows = (n + cols - 1) // cols
    fig, axes = _pyplot().subplots(rows, cols, figsize=(size * cols, (size + 0.25 * k) * rows), squeeze=False)
    top = probs.detach().cpu().topk(k, dim=1)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        overlay(ax, images[i].cpu(), box=None if boxes is None else boxes[i])
        lines = [f"{p:.2f}  {class_names[c][:22]}" for p, c in zip(top.values[i].tolist(), top.indices[i].tolist())]
        head = f"{names[i]}\n" if names is not None else ""
        ax.set_title(head + "\n".join(lines), fontsize=8, loc="left", family="monospace")
    fig.tight_layout()
    return fig


DELETION_COLOR, INSERTION_COLOR = "tab:red", "tab:blue"


def curves(ax, deletion=None, insertion=None, *, title: str | None = None, legend: bool = True):
    """Deletion (red) and insertion (blue) curves of one image on ``ax``, AUCs in the legend.

    ``deletion`` / ``insertion`` are ``(fractions [S+1], probs [S+1])`` pairs, e.g.
    ``(curve.fractions, curve.probs[i])`` from :func:`igos.metrics.deletion_curve`.
    """
    for pair, color, name in ((deletion, DELETION_COLOR, "deletion"), (insertion, INSERTION_COLOR, "insertion")):
        if pair is None:
            continue
        f, p = (np.asarray(torch.as_tensor(v).detach().float().cpu()) for v in pair)
        area = float(np.trapezoid(p, f)) if hasattr(np, "trapezoid") else float(np.trapz(p, f))
        ax.plot(f, p, color=color, lw=1.5, label=f"{name} {area:.3f}")
        ax.fill_between(f, p, color=color, alpha=0.12)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("fraction of cells", fontsize=8)
    ax.set_ylabel("p(target)", fontsize=8)
    ax.tick_params(labelsize=7)
    if legend:
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def display_map(saliency: torch.Tensor, clip: float = 0.99) -> torch.Tensor:
    """A map ``[N, h, w]`` prepared for display, in [0, 1], in the order the metrics rank its cells.

    A map with negative values (a signed map such as Integrated Gradients) shows its positive
    part: the negative cells come last in the deletion / insertion ranking and show as 0. A
    non-negative map is shifted to a minimum of 0 (as min-max scaling). The map is then
    clipped at its ``clip`` quantile, so that a handful of extreme pixels do not wash out the
    rest of a full-resolution map (maps with at most ``1 / (1 - clip)`` cells are not
    clipped), and divided by its maximum. Every step is monotone.
    """
    s = saliency.detach().float()
    flat = s.reshape(s.shape[0], -1)
    flat = (flat - flat.min(1, keepdim=True).values.clamp_min(0)).clamp_min(0)
    if flat.shape[1] * (1 - clip) >= 1:
        top = torch.quantile(flat, clip, dim=1, keepdim=True)
        flat = torch.minimum(flat, top)
    hi = flat.max(1, keepdim=True).values.clamp_min(1e-12)
    return (flat / hi).view_as(s)


def comparison(images: torch.Tensor, maps: Mapping[str, torch.Tensor], deletion: Mapping | None = None,
               insertion: Mapping | None = None, *, titles: Sequence[str] | None = None, norm: str = "display",
               size: float = 2.0, curve_height: float = 0.8):
    """Heatmaps side by side, each with its deletion (red) and insertion (blue) curve beneath.

    The layout of the I-GOS paper's Figures 1 and 3-5: per image two rows, the overlays on
    top (the photo itself first) and the curves below, with the AUCs in the legends. Each
    overlay has a colour bar labelled with the raw values its colours stand for
    (:func:`value_range`).

    Args:
        images: ``[N, 3, H, W]`` in [0, 1].
        maps: method name -> ``[N, h, w]`` (one column per entry, in order).
        deletion, insertion: method name -> :class:`igos.metrics.Curve` (``fractions [S+1]``,
            ``probs [N, S+1]``); a method missing from both gets no curve panel.
        titles: ``N`` captions shown above the photo of each image.
        norm: ``"display"`` (default: :func:`display_map`, then no further scaling) or a norm of
            :func:`normalize` applied to the raw maps.
        size: panel size in inches; ``curve_height`` is the curve row's height relative to ``size``.

    Returns:
        The figure.
    """
    maps, deletion, insertion = dict(maps), dict(deletion or {}), dict(insertion or {})
    n, cols = images.shape[0], 1 + len(maps)
    heights = [1.0, curve_height] * n
    fig, axes = _pyplot().subplots(2 * n, cols, figsize=(size * cols, size * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for i in range(n):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        overlay(top[0], images[i].cpu(), title=None if titles is None else titles[i])
        bottom[0].set_axis_off()
        for j, (name, sal) in enumerate(maps.items(), 1):
            rng = value_range(sal[i].cpu(), norm) if norm in ("display", "minmax", "max") else None
            if norm == "display":
                overlay(top[j], images[i].cpu(), display_map(sal[i:i + 1])[0].cpu(), norm="max", title=name,
                        value_range=rng)
            else:
                overlay(top[j], images[i].cpu(), sal[i].cpu(), norm=norm, title=name, value_range=rng)
            d, s = deletion.get(name), insertion.get(name)
            if d is None and s is None:
                bottom[j].set_axis_off()
                continue
            curves(bottom[j], None if d is None else (d.fractions, d.probs[i]),
                   None if s is None else (s.fractions, s.probs[i]))
            if j > 1:
                bottom[j].set_ylabel("")
    fig.tight_layout()
    return fig


def panels(rows: Sequence[Sequence[tuple]], *, row_labels: Sequence[str] | None = None, size: float = 2.0,
           fontsize: int = 8):
    """A grid of images with captions: ``rows[r][c] = (image [3, H, W], caption)``.

    Rows may have different lengths (empty cells are blank). ``row_labels`` go to the left of
    each row. Used for the deletion / insertion images at chosen ratios (Figures 6, 7, 12-15).
    """
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = _pyplot().subplots(n_rows, n_cols, figsize=(size * n_cols, (size + 0.3) * n_rows), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(row):
                ax.set_axis_off()
                continue
            image, caption = row[c]
            ax.imshow(to_numpy_image(image))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(caption, fontsize=fontsize)
            if c == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[r], fontsize=fontsize + 1)
    fig.tight_layout()
    return fig
