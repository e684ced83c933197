"""Baselines (reference images) in pixel space: black, blur (the I-GOS blur), noise, uniform, tensors."""
from __future__ import annotations

import torch
import torch.nn.functional as F

BASELINES = ("black", "blur", "noise", "uniform", "grey")


def gaussian_kernel1d(size: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd length ``size``."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd int, got {size}")
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur(images: torch.Tensor, kernel_size: int = 51, sigma: float = 50.0) -> torch.Tensor:
    """Gaussian blur of ``images`` ``[N, C, H, W]`` in pixel space, the I-GOS baseline.

    Kernel 51 x 51 with sigma 50 as in the I-GOS code (OpenCV ``GaussianBlur`` on the
    224 x 224 image in [0, 1]); borders are reflected like OpenCV's default
    (``BORDER_REFLECT_101`` = torch ``"reflect"``). Separable, batched.
    Returns a tensor of the same shape.
    """
    k = gaussian_kernel1d(kernel_size, sigma, images.device, images.dtype)
    c = images.shape[1]
    pad = kernel_size // 2
    h, w = images.shape[-2:]
    if pad >= h or pad >= w:  # reflect padding needs pad < size: fall back to replicate for tiny images
        x = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    else:
        x = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x


def make_baseline(baseline, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Resolve ``baseline`` to a tensor shaped like ``images``.

    Args:
        baseline: ``"black"`` (zeros), ``"grey"`` (0.5), ``"blur"`` (:func:`blur`),
            ``"noise"`` / ``"uniform"`` (uniform noise in [0, 1] from a local generator
            seeded with ``seed``), a float, or a tensor broadcastable to ``images``.
        images: ``[N, 3, H, W]``.
    """
    if isinstance(baseline, torch.Tensor):
        try:
            return baseline.to(images.device, images.dtype).expand_as(images)
        except RuntimeError as err:
            raise ValueError(f"baseline of shape {tuple(baseline.shape)} does not broadcast to images "
                             f"{tuple(images.shape)}") from err
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(images, float(baseline))
    if baseline == "black":
        return torch.zeros_like(images)
    if baseline == "grey":
        return torch.full_like(images, 0.5)
    if baseline == "blur":
        return blur(images)
    if baseline in ("noise", "uniform"):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        return torch.rand(images.shape, generator=gen, dtype=images.dtype).to(images.device)
    raise ValueError(f"unknown baseline {baseline!r}; use one of {BASELINES}, a float or a tensor")


def neutral_baseline(model, reference="black", *, size: int | None = None, n_iter: int = 200, lr: float = 0.1,
                     distance_weight: float = 0.01, clamp: bool = True, device=None):
    """A "well-behaved" baseline: near-uniform output, close to a reference image.

    Lerma & Lucas, "Baseline Computation for Attribution Methods Based on Interpolated
    Inputs", arXiv:2204.06120 (loss as in the authors' notebook): minimise

        L(b) = (1 - w) * max_j |y_j(b) - 1/K| + w * mean((b - b0)^2)

    with ``y = softmax(model(b))``, ``K`` classes, ``w = distance_weight``, starting at
    ``b = b0`` (``reference``), by RMSprop. The distance is measured in 0-255 pixel units
    and the step ``lr`` is in those units too, like the authors' caffe-preprocessed
    inputs. With ``clamp=True`` (default) ``b`` is projected onto valid images [0, 1]
    after each step; the authors let it leave that range.

    Args:
        model: classifier on images in [0, 1].
        reference: ``b0``: ``"black"``, ``"grey"`` or a tensor ``[1, 3, H, W]``.
        size: image side when ``reference`` is a name (default ``model.input_size``).
        n_iter, lr: RMSprop iterations and step.

    Returns:
        ``(baseline [1, 3, H, W], history)`` where ``history`` holds per-iteration
        ``loss``, ``max_rel_error`` (``K * max_j |y_j - 1/K|``), ``entropy`` of ``y`` and
        ``distance`` (mean squared difference to ``b0`` in 0-255 units).
    """
    from .devices import resolve_device
    from .layers import preserved

    device = resolve_device(device) if device is not None else next(model.parameters()).device
    if isinstance(reference, torch.Tensor):
        b0 = reference.detach().to(device, torch.float32)
    else:
        side = size or getattr(model, "input_size", 224)
        b0 = make_baseline(reference, torch.zeros(1, 3, side, side, device=device))
    b = (b0 * 255).clone().requires_grad_(True)
    opt = torch.optim.RMSprop([b], lr=lr)
    history = {"loss": [], "max_rel_error": [], "entropy": [], "distance": []}
    with preserved(model):
        for _ in range(n_iter + 1):
            y = model(b / 255).softmax(dim=1)[0]
            k = y.numel()
            distance = ((b - b0 * 255) ** 2).mean()
            loss = (1 - distance_weight) * (y - 1 / k).abs().max() + distance_weight * distance
            history["loss"].append(loss.item())
            history["max_rel_error"].append(k * (y - 1 / k).abs().max().item())
            history["entropy"].append(-(y * y.clamp_min(1e-30).log()).sum().item())
            history["distance"].append(distance.item())
            if len(history["loss"]) > n_iter:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            if clamp:
                with torch.no_grad():
                    b.clamp_(0, 255)
    return (b.detach() / 255), history
