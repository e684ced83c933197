"""Test helpers of the runner and the reproduction: a method with a ``resolution`` argument and a
``callback`` (:func:`coarse_gradient`), and synthetic results rows of a config (:func:`synthetic_rows`).

Importable by subprocesses as ``helpers.experiment:coarse_gradient`` when ``tests/`` is on
``PYTHONPATH``. ``IGOS_TEST_DELAY`` (seconds) slows it down so a test can kill a run midway.
"""
from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F

import igos
from igos import experiment as ex


def coarse_gradient(model, images, target=None, *, resolution: int = 8, seed: int = 0, callback=None):
    """The input gradient averaged over ``resolution x resolution`` cells, plus a seeded tie-breaker."""
    saliency = F.adaptive_avg_pool2d(igos.gradient(model, images, target)[:, None], resolution)[:, 0]
    saliency = saliency + 1e-9 * torch.rand(saliency.shape, generator=torch.Generator().manual_seed(seed))
    if callback is not None:
        for step in range(3):
            callback(step, torch.full((images.shape[0],), 1.0 / (step + 1)), None)
    time.sleep(float(os.environ.get("IGOS_TEST_DELAY", "0")))
    return saliency


# ------------------------------------------------------------------ synthetic results rows
DELETION = {"i_gos": 0.10, "mask": 0.15, "grad_cam": 0.30, "rise": 0.25, "integrated_gradients": 0.20,
            "excitation_backprop": 0.40, "gradient": 0.35, "i_gos_no_tv": 0.09, "i_gos_no_noise": 0.12,
            "i_gos_fixed_step": 0.11}
INSERTION = {"i_gos": 0.70, "mask": 0.60, "grad_cam": 0.55, "rise": 0.50, "integrated_gradients": 0.20,
             "excitation_backprop": 0.45, "gradient": 0.30, "i_gos_no_tv": 0.40, "i_gos_no_noise": 0.65,
             "i_gos_fixed_step": 0.72}
NATIVE = {"gradient": 224, "integrated_gradients": 224, "rise": 224, "grad_cam": 7, "excitation_backprop": 7}


def synthetic_rows(config, n_images=3):
    cfg = ex.normalize_config(config)
    specs = {s["label"]: s for s in cfg["methods"]}
    rows = []
    for i, label, res in ex.plan(cfg, n_images):
        base = label.partition("@")[0]
        setting = label.partition("@")[2] or "B"       # the main I-GOS row stands for B (the default lambdas)
        size = res if res is not None else NATIVE[label]
        jitter = 0.001 * i
        rows.append({
            "key": ex.row_key(i, label, res), "image_index": i, "image": f"img{i}", "label": i % 2, "method": label,
            "method_name": specs[label]["name"], "resolution": res, "map_size": [size, size], "images": "embedded",
            "deletion": DELETION.get(base, 0.1) + 0.01 * "ABC".index(setting) + 0.0001 * (224 / size) + jitter,
            "insertion": INSERTION.get(base, 0.6) + 0.0001 * (224 / size) - jitter,
            "pointing_hit": (i + len(label)) % 3 != 0, "seconds": 2.0 if "i_gos" in label else 5.0,
            "metric_seconds": 0.5, "iterations": 3 if "i_gos" in label else None,
            # Table 5: Mask's objective lower than I-GOS's at C only
            "loss": (0.2 + 0.1 * "ABC".index(setting)) + (0.05 if base == "mask" else 0.0)
            - (0.2 if base == "mask" and setting == "C" else 0.0)})
    return rows
