"""Targets are ints: normalise ``None`` / int / sequence into ``LongTensor[N]``."""
from __future__ import annotations

import torch

from .types import Target


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Top-``k`` predicted classes, ``LongTensor[N]`` (``k == 1``) or ``[N, k]``."""
    logits = model(images)
    top = logits.topk(k, dim=1).indices
    return top[:, 0] if k == 1 else top


def as_target(target: Target, images: torch.Tensor, model: torch.nn.Module | None = None,
              num_classes: int | None = None) -> torch.Tensor:
    """Return the target classes as ``LongTensor[N]`` on ``images.device``.

    Args:
        target: ``None`` (top-1 prediction of ``model``), an int, or ``N`` ints.
        images: ``[N, 3, H, W]``; only its batch size and device are used,
            unless ``target`` is ``None``.
        model: needed when ``target`` is ``None``.
        num_classes: when given, every class must lie in ``[0, num_classes)``.
    """
    n = images.shape[0]
    if target is None:
        if model is None:
            raise ValueError("target=None needs the model to predict the top-1 class")
        out = predict(model, images)
    elif isinstance(target, bool):
        raise TypeError("target must be None, an int or a sequence of ints, not a bool")
    elif isinstance(target, int):
        out = torch.full((n,), target, dtype=torch.long, device=images.device)
    else:
        out = torch.as_tensor(target, device=images.device)
        if out.dtype.is_floating_point or out.dtype == torch.bool:
            raise TypeError(f"target must hold integers, got dtype {out.dtype}")
        out = out.long().reshape(-1)
        if out.numel() == 1 and n != 1:
            out = out.expand(n).clone()
        if out.numel() != n:
            raise ValueError(f"target has {out.numel()} entries but there are {n} images")
    if num_classes is not None and ((out < 0) | (out >= num_classes)).any():
        bad = out[(out < 0) | (out >= num_classes)].tolist()
        raise ValueError(f"target class(es) {bad} out of range: the model has {num_classes} classes")
    return out


def num_classes_of(model: torch.nn.Module, images: torch.Tensor) -> int:
    """Number of output classes: the wrapper's attribute, else one forward pass."""
    k = getattr(model, "num_classes", None)
    if k is not None:
        return int(k)
    with torch.no_grad():
        return int(model(images[:1]).shape[1])
