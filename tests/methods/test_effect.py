"""The effect, not the form: on the real default model, with default settings, I-GOS and Mask move the mask.

These are the tests that would have caught the stall of the paper's settings on
EfficientNet-Lite0 (``book/32_why_i_gos_stalls.ipynb``): on photos the model is confident
about (p >= 0.3), the probability the final mask leaves falls to at most half of p(x) on
most photos, and deleting the cells the map ranks first lowers the probability faster than
deleting them in the reverse order (the inverted map). Photos: embedded ones and held-out
ImageNet validation samples that played no part in choosing the defaults.
"""
from __future__ import annotations

import pytest
import torch

import igos
from igos import metrics

#: (source, photo names) per resolution: a few confident photos each, to keep CI time bounded
CASES = {
    224: [("imagenet", "imagenet_01"), ("imagenet", "imagenet_04"), ("imagenet", "imagenet_09")],
    28: [("embedded", "coffee"), ("embedded", "flower"), ("imagenet", "imagenet_05"), ("imagenet", "imagenet_12")],
    7: [("imagenet", "imagenet_08"), ("imagenet", "imagenet_10"), ("imagenet", "imagenet_13")],
}


def _photos(embedded, imagenet_samples, cases):
    sets = {"embedded": embedded, "imagenet": imagenet_samples}
    xs, ys = [], []
    for source, name in cases:
        data = sets[source]
        i = data.names.index(name)
        xs.append(data.images[i])
        ys.append(int(data.labels[i]))
    return torch.stack(xs), torch.tensor(ys)


def _check_effect(model, x, y, saliency, history, label, halve=True):
    p0, p1 = history["prob"][0], history["prob"][-1]
    assert (p0 >= 0.3).all(), f"{label}: the test photos must be confident ones, p = {p0.tolist()}"
    if not halve:       # the weaker claim that holds: every mask moved (none stalled)
        assert not metrics.stalled(p0, p1).any(), f"{label}: stalled: {p0.tolist()} -> {p1.tolist()}"
        return
    halved = p1 <= 0.5 * p0
    dele = metrics.deletion(model, x, saliency, y, n_steps=50)
    inverted = metrics.deletion(model, x, -saliency, y, n_steps=50)
    print(f"{label}: p {[round(v, 3) for v in p0.tolist()]} -> {[round(v, 3) for v in p1.tolist()]}; "
          f"deletion {[round(v, 3) for v in dele.tolist()]} vs inverted {[round(v, 3) for v in inverted.tolist()]}")
    assert 2 * int(halved.sum()) > len(halved), f"{label}: p halved on only {int(halved.sum())} of {len(halved)} photos"
    assert 2 * int((dele < inverted).sum()) > len(dele), f"{label}: deletion beats the inverted map on too few photos"
    assert dele.mean() < inverted.mean()


@pytest.mark.slow
@pytest.mark.parametrize("resolution", sorted(CASES, reverse=True))
def test_i_gos_defaults_halve_the_probability(lite0, embedded, imagenet_samples, resolution):
    x, y = _photos(embedded, imagenet_samples, CASES[resolution])
    saliency, history = igos.i_gos(lite0, x, y, resolution=resolution, return_history=True)
    _check_effect(lite0, x, y, saliency, history, f"i_gos r={resolution}")
    assert (history["iterations"] <= 15).all()


@pytest.mark.slow
@pytest.mark.parametrize("resolution", sorted(CASES, reverse=True))
def test_mask_defaults_halve_the_probability(lite0, embedded, imagenet_samples, resolution):
    x, y = _photos(embedded, imagenet_samples, CASES[resolution][:2])
    saliency, history = igos.meaningful_perturbation(lite0, x, y, resolution=resolution, return_history=True)
    # Mask at 7 x 7 does not halve p on these held-out photos (imagenet_08: 0.98 -> 0.86 with the
    # default (0.01, 0.0125), 0.84 with (0.01, 0.05), 0.79 with (0.003, 0.0125)): a 7 x 7 Adam mask
    # moves, but not far enough. Asserted here is what holds; the finding is in the calibration results.
    _check_effect(lite0, x, y, saliency, history, f"mask r={resolution}", halve=resolution != 7)


@pytest.mark.slow
def test_paper_preset_stalls_on_the_confident_photo(lite0, embedded):
    """The failure the defaults fix, kept visible: the paper's literal settings leave coffee's p unchanged."""
    i = embedded.names.index("coffee")
    saliency, history = igos.i_gos(lite0, embedded.images[i:i + 1], embedded.labels[i:i + 1], resolution=28,
                                   preset="paper", n_iter=3, return_history=True)
    assert metrics.stalled(history["prob"][0, 0], history["prob"][-1, 0])
    assert float(saliency.max()) < 1e-3
