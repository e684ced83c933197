"""Chunked evaluation: ``batch_size`` bounds the images per forward pass."""
from __future__ import annotations

from typing import Iterator

from .checks import check_positive_int


def chunks(n: int, batch_size: int | None) -> Iterator[slice]:
    """Yield slices covering ``range(n)`` in pieces of at most ``batch_size`` (``None``: one piece)."""
    if batch_size is None:
        yield slice(0, n)
        return
    check_positive_int(batch_size, "batch_size")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def straight_path_batches(images, baseline, alphas, batch_size: int | None) -> Iterator[tuple]:
    """The points ``x' + a_m (x - x')`` of the straight paths from ``baseline`` to ``images``, batched.

    Every (image, node) pair of ``images`` ``[N, 3, H, W]`` and ``alphas`` ``[P]`` is one row of a
    flat index ``r = i P + m``, cut into passes of at most ``batch_size`` rows, so all nodes of all
    images share the passes. Yields ``(rows, i, m, x)``: the slice of the flat index, the image and
    node indices ``[B]`` and the points ``[B, 3, H, W]``, in the images' dtype.
    """
    import torch

    n, p = images.shape[0], alphas.numel()
    alphas = alphas.to(images.device, images.dtype)
    delta = images - baseline
    for sl in chunks(n * p, batch_size):
        rows = torch.arange(sl.start, sl.stop, device=images.device)
        i, m = rows // p, rows % p
        yield sl, i, m, baseline[i] + alphas[m].view(-1, 1, 1, 1) * delta[i]


#: Model inputs per forward/backward pass on a CPU when a method's ``batch_size`` is ``None``
#: (one image's 20 path points at 224 x 224: a few hundred MB with EfficientNet-Lite0).
CPU_BATCH_SIZE = 20
#: Bytes of device memory budgeted per 224 x 224 model input with its backward pass, for
#: the automatic batch size on a GPU (EfficientNet-Lite0 and ResNet-50 use about 100 MB;
#: VGG-19 about 250 MB: the budget is deliberately generous).
BYTES_PER_INPUT = 300 * 2 ** 20
#: Largest automatic batch on a GPU.
MAX_AUTO_BATCH = 256


def auto_batch_size(images) -> int:
    """Model inputs per pass when ``batch_size=None``: memory-safe on the device of ``images`` ``[N, 3, H, W]``.

    On a CPU, :data:`CPU_BATCH_SIZE` (more does not run faster on a few cores and only
    costs memory). On a GPU, a quarter of the free memory divided by
    :data:`BYTES_PER_INPUT` scaled to the image area, between 8 and :data:`MAX_AUTO_BATCH`.
    """
    import torch

    if images.device.type != "cuda":
        return CPU_BATCH_SIZE
    free, _ = torch.cuda.mem_get_info(images.device)
    per_input = BYTES_PER_INPUT * images.shape[-2] * images.shape[-1] / (224 * 224)
    return int(max(8, min(MAX_AUTO_BATCH, free // 4 // per_input)))
