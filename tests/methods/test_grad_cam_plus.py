"""Grad-CAM+ (positive gradients): equals Grad-CAM exactly when no gradient is negative."""
from __future__ import annotations

import torch

import igos


def test_equals_grad_cam_when_all_gradients_are_non_negative(tiny_model, tiny_images):
    # GAP + linear head with non-negative class weights: dz_c/dA^k_ij = w_ck / Z >= 0 everywhere
    tiny_model.net.fc.weight.abs_()
    a = igos.grad_cam_plus(tiny_model, tiny_images, [0, 4, 8])
    b = igos.grad_cam(tiny_model, tiny_images, [0, 4, 8])
    assert a.abs().max() > 0 and torch.allclose(a, b, rtol=1e-6, atol=1e-8)


def test_differs_from_grad_cam_when_gradients_cancel(tiny_model, tiny_images):
    # with signed class weights some channels have negative gradients, which Grad-CAM+ drops
    target = [0, 4, 8]
    with torch.no_grad():
        assert (tiny_model.net.fc.weight[target] < 0).any()
    a = igos.grad_cam_plus(tiny_model, tiny_images, target)
    b = igos.grad_cam(tiny_model, tiny_images, target)
    assert not torch.allclose(a, b)
    # on this head the weights are ReLU(w_ck) / Z: Grad-CAM of the positive part of the head
    with torch.no_grad():
        acts = tiny_model.net.features(tiny_model.normalize(tiny_images))
        w = tiny_model.net.fc.weight[target].clamp_min(0) / acts[0, 0].numel()
        expected = torch.einsum("nk,nkhw->nhw", w, acts).clamp_min(0)
    assert torch.allclose(a, expected, rtol=1e-5, atol=1e-7)
