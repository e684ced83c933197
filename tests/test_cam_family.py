"""igos.book.cam_family: layer gradients, map comparisons, multi-layer Riemann-Stieltjes sums."""
from __future__ import annotations

import pytest
import torch

import igos
from igos.book import cam_family
from igos.methods.rsi_grad_cam import rs_integrals
from igos.methods.rsi_grad_cam import layer_completeness_gap


@pytest.mark.parametrize("batch_size", [None, 5])
def test_rs_integrals_match_rsi_grad_cam_and_gap(tiny_model, tiny_images, batch_size):
    model, x = tiny_model.double(), tiny_images.double()
    rec = rs_integrals(model, x, 3, layers=["features.1", "features.4"], n_steps=(2, 4, 8),
                                  batch_size=batch_size)
    for layer in ("features.1", "features.4"):
        for m in (2, 8):
            gap = layer_completeness_gap(model, x, 3, layer=layer, n_steps=m)
            assert torch.allclose(rec.gap(layer, m), gap, atol=1e-12)
    ref = igos.rsi_grad_cam(model, x, 3, layer="features.4", n_steps=4)
    assert torch.allclose(rec.map("features.4", 4), ref, atol=1e-6)
    assert torch.allclose(rec.acts["features.4"], cam_family.activations_and_gradients(
        model, x, 3, layer="features.4", score="prob")[0])


def test_rs_integrals_at_the_input_are_trapezoid_ig(tiny_model, tiny_images):
    model, x = tiny_model.double(), tiny_images.double()
    rec = rs_integrals(model, x, 1, layers=["input"], n_steps=(6,), batch_size=4)
    ig = igos.integrated_gradients(model, x, 1, n_steps=6, rule="trapezoid", score="prob", per_channel=True)
    assert torch.allclose(rec.rsi["input"][6].float(), ig, atol=1e-7)


def test_rs_integrals_pairs_gradient_and_activation_layers(tiny_model, tiny_images):
    model, x = tiny_model.double(), tiny_images.double()
    rec = rs_integrals(model, x, 2, layers=["features.4", ("features.4", "features.4"),
                                                       ("features.4", "features.3")], n_steps=(4,))
    assert torch.equal(rec.rsi["features.4"][4], rec.rsi["features.4 | features.4"][4])
    # ReLU: where its input is negative the gradient reaching the output is still counted against the
    # input's change, so the two sums differ
    assert not torch.allclose(rec.rsi["features.4"][4], rec.rsi["features.4 | features.3"][4])
    with pytest.raises(ValueError, match="differ in shape"):
        rs_integrals(model, x, 2, layers=[("features.4", "features.1")], n_steps=(2,))


def test_rs_integrals_checks_step_counts(tiny_model, tiny_images):
    with pytest.raises(ValueError, match="divide"):
        rs_integrals(tiny_model, tiny_images, layers=["features.4"], n_steps=(3, 4))


def test_plus_plus_ratio_bound():
    gen = torch.Generator().manual_seed(0)
    acts = torch.rand(2, 5, 4, 4, generator=gen, dtype=torch.float64)
    grads = torch.randn(2, 5, 4, 4, generator=gen, dtype=torch.float64) * 0.05
    ratio, eps = cam_family.plus_plus_ratio(acts, grads)
    assert (ratio <= 1).all() and (ratio >= 1 - eps / 2).all()
    small, _ = cam_family.plus_plus_ratio(acts, grads * 1e-6)
    assert torch.allclose(small, torch.ones_like(small), atol=1e-5)


def test_map_comparisons():
    a = torch.rand(3, 7, 7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(cam_family.map_correlation(a, 2 * a + 3), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(cam_family.map_correlation(a, -a), -torch.ones(3, dtype=torch.float64))
    assert cam_family.map_correlation(a, torch.zeros_like(a)).eq(0).all()
    assert cam_family.max_difference(a, 2 * a + 3).max() < 1e-6


def test_cam_maps_match_the_methods(tiny_model, tiny_images):
    acts, grads = cam_family.activations_and_gradients(tiny_model, tiny_images, 2, layer="features.1")
    maps = cam_family.cam_maps(acts, grads)
    ref = {"Grad-CAM": igos.grad_cam(tiny_model, tiny_images, 2, layer="features.1"),
           "Grad-CAM+": igos.grad_cam_plus(tiny_model, tiny_images, 2, layer="features.1"),
           "Grad-CAM++ paper": igos.grad_cam_plus_plus(tiny_model, tiny_images, 2, layer="features.1"),
           "Grad-CAM++ official": igos.grad_cam_plus_plus(tiny_model, tiny_images, 2, layer="features.1",
                                                          variant="official")}
    for name, value in ref.items():
        assert torch.equal(maps[name], value), name
