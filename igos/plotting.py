"""Plotting: normalisation happens here, at the edge, never in the methods."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

CMAP = "jet"


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


def overlay(ax, image: torch.Tensor, saliency: torch.Tensor | None = None, *, norm: str = "minmax",
            alpha: float = 0.5, cmap: str = CMAP, title: str | None = None, box=None):
    """Draw ``image`` ``[3, H, W]`` with ``saliency`` ``[h, w]`` (upsampled) on top."""
    ax.imshow(to_numpy_image(image))
    if saliency is not None:
        s = normalize(upsample(saliency[None], image.shape[-2:]), norm)[0].cpu().numpy()
        ax.imshow(s, cmap=cmap, alpha=alpha, vmin=0 if norm != "none" else None, vmax=1 if norm != "none" else None)
    if box is not None and np.all(np.isfinite(np.asarray(box, dtype=float))):
        x0, y0, x1, y1 = [float(v) for v in box]
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="white", lw=1.5, ls="--"))
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return ax


def grid(images: torch.Tensor, maps: Mapping[str, torch.Tensor] | None = None, *, titles: Sequence[str] | None = None,
         norm: str = "minmax", size: float = 2.2, boxes=None):
    """One row per image: the image, then one overlay per entry of ``maps`` (name -> ``[N, h, w]``)."""
    maps = dict(maps or {})
    n, cols = images.shape[0], 1 + len(maps)
    fig, axes = plt.subplots(n, cols, figsize=(size * cols, size * n), squeeze=False)
    for i in range(n):
        label = titles[i] if titles is not None else None
        overlay(axes[i, 0], images[i], title=label, box=None if boxes is None else boxes[i])
        for j, (name, sal) in enumerate(maps.items(), 1):
            overlay(axes[i, j], images[i], sal[i], norm=norm, title=name if i == 0 else None)
    fig.tight_layout()
    return fig


def predictions(images: torch.Tensor, probs: torch.Tensor, class_names: Sequence[str], *,
                names: Sequence[str] | None = None, boxes=None, k: int = 5, cols: int = 4, size: float = 3.0):
    """Photos with their top-``k`` classes and probabilities (and object boxes), ``cols`` per row."""
    n = images.shape[0]
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size + 0.25 * k) * rows), squeeze=False)
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
