"""igos.book.presoftmax: Grad-CAM weights, per-class weights, the stable probability gradient."""
from __future__ import annotations

import torch

import igos
from igos.layers import hook_count
from igos.book.presoftmax import (cam_weights, class_cam_weights, contrast_score, input_gradient, logit_gradient,
                             post_from_pre, stable_prob)


def test_cam_weights_rebuild_grad_cam(tiny_model, tiny_images):
    for score in ("logit", "prob", "log_prob"):
        w = cam_weights(tiny_model, tiny_images, 1, score=score)
        with igos.capture(tiny_model) as store, torch.no_grad():
            tiny_model(tiny_images)
        cam = torch.einsum("nk,nkhw->nhw", w, store.activation).clamp_min(0)
        assert torch.allclose(cam, igos.grad_cam(tiny_model, tiny_images, 1, score=score), atol=1e-6)
    assert hook_count(tiny_model) == 0


def test_post_softmax_weights_are_a_probability_weighted_contrast(tiny_model, tiny_images):
    weights, logits = class_cam_weights(tiny_model, tiny_images, chunk=3)   # [N, C, K]
    assert weights.shape[:2] == (3, 10)
    for c in (0, 4):
        assert torch.allclose(weights[:, c], cam_weights(tiny_model, tiny_images, c), atol=1e-6)
    y = logits.softmax(1)
    c = 2
    post = y[:, c, None] * (weights[:, c] - (y[:, :, None] * weights).sum(1))
    assert torch.allclose(post, cam_weights(tiny_model, tiny_images, c, score="prob"), atol=1e-6)
    contrast = cam_weights(tiny_model, tiny_images, c, score=contrast_score)
    assert torch.allclose(post, y[:, c, None] * contrast, atol=1e-6)
    assert torch.allclose(post, post_from_pre(weights, logits, c), atol=1e-7)
    few = [5, 2, 7]
    sub, _ = class_cam_weights(tiny_model, tiny_images, few)
    assert torch.allclose(sub, weights[:, few])
    partial = y[:, c, None] * (weights[:, c] - (y[:, few, None] * weights[:, few]).sum(1))
    assert torch.allclose(post_from_pre(sub, logits, [c, c, c], few), partial, atol=1e-7)


def test_stable_prob_keeps_the_value_and_fixes_the_saturated_gradient():
    z = torch.tensor([[30.0, 5.0, 4.0, -2.0]], dtype=torch.float32, requires_grad=True)
    t = torch.tensor([0])
    assert stable_prob(z, t).item() == z.softmax(1)[0, 0].item() == 1.0      # y_c rounds to 1 in float32
    (naive,) = torch.autograd.grad(z.softmax(1)[0, 0], z)
    (stable,) = torch.autograd.grad(stable_prob(z, t).sum(), z)
    z64 = z.detach().double().requires_grad_(True)
    (exact,) = torch.autograd.grad(z64.softmax(1)[0, 0], z64)
    assert naive[0, 0] == 0 and exact[0, 0] > 0                               # the pitfall
    assert torch.allclose(stable.double(), exact, rtol=1e-5, atol=0)


def test_input_gradient_matches_float64(tiny_model, tiny_images):
    g = input_gradient(tiny_model, tiny_images, 3, score=stable_prob)
    g64 = input_gradient(tiny_model.double(), tiny_images.double(), 3, score="prob")
    assert g.dtype == torch.float32 and torch.allclose(g.double(), g64, atol=1e-6)


def test_cam_weights_return_activations(tiny_model, tiny_images):
    w, acts = cam_weights(tiny_model, tiny_images, 0, score=stable_prob, return_activations=True)
    assert acts.shape[:2] == (3, w.shape[1]) and not acts.requires_grad
    cam = torch.einsum("nk,nkhw->nhw", w, acts).clamp_min(0)
    assert torch.allclose(cam, igos.grad_cam(tiny_model, tiny_images, 0, score="prob"), atol=1e-6)


def test_logit_gradient_is_the_softmax_jacobian_row():
    z = torch.randn(2, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = z.softmax(1)
    g = logit_gradient(z, 3, "prob")
    assert torch.allclose(g, y[:, 3:4] * (torch.eye(7, dtype=z.dtype)[3] - y))
    assert torch.allclose(logit_gradient(z, 3, "log_prob"), logit_gradient(z, 3, contrast_score))
    assert torch.allclose(logit_gradient(z, [3, 3], stable_prob), g)
