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


@torch.no_grad()
def object_target(model: torch.nn.Module, image: torch.Tensor, dataset: str, object_class: str) -> int:
    """The model class to explain for an object of ``object_class`` in a pointing-game dataset.

    A model with one output per class of the dataset (20 for ``"voc07"``) explains the object's
    own class. An ImageNet-1k model explains the most probable, on ``image`` ``[1, 3, H, W]``, of
    the ImageNet classes that show it (:data:`igos.data.IMAGENET_FOR_VOC`,
    :data:`igos.data.IMAGENET_FOR_COCO`). Any other model raises: say which class to explain.
    """
    from . import data

    n = num_classes_of(model, image)
    if dataset == "voc07" and n == len(data.VOC_CLASSES):
        return data.VOC_CLASSES.index(object_class)
    table = {"voc07": data.IMAGENET_FOR_VOC, "coco": data.IMAGENET_FOR_COCO}.get(dataset)
    if table is None:
        raise ValueError(f"unknown pointing-game dataset {dataset!r}; known: {', '.join(data.POINTING_DATASETS)}")
    if n != 1000:
        raise ValueError(f"the model has {n} classes: object classes of {dataset!r} map to a 1000-class ImageNet model"
                         + (" or to a 20-class VOC model (VOC_CLASSES order)" if dataset == "voc07" else "")
                         + "; other models are not supported for this dataset yet")
    if object_class not in table:
        raise KeyError(f"{dataset!r} class {object_class!r} has no ImageNet counterpart")
    candidates = data.imagenet_indices(table[object_class])
    probs = model(image).softmax(1)[0, candidates]
    return candidates[int(probs.argmax())]
