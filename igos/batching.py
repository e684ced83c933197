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
