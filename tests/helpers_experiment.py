"""A method with a ``resolution`` argument and a ``callback``, for the runner's tests.

Importable by subprocesses as ``helpers_experiment:coarse_gradient`` when ``tests/`` is on
``PYTHONPATH``. ``IGOS_TEST_DELAY`` (seconds) slows it down so a test can kill a run midway.
"""
from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F

import igos


def coarse_gradient(model, images, target=None, *, resolution: int = 8, seed: int = 0, callback=None):
    """The input gradient averaged over ``resolution x resolution`` cells, plus a seeded tie-breaker."""
    saliency = F.adaptive_avg_pool2d(igos.gradient(model, images, target)[:, None], resolution)[:, 0]
    saliency = saliency + 1e-9 * torch.rand(saliency.shape, generator=torch.Generator().manual_seed(seed))
    if callback is not None:
        for step in range(3):
            callback(step, torch.full((images.shape[0],), 1.0 / (step + 1)), None)
    time.sleep(float(os.environ.get("IGOS_TEST_DELAY", "0")))
    return saliency
