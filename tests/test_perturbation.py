"""igos.perturbation: upsampling, perturbation, regularisers and the I-GOS objective."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import igos
from igos.perturbation import l1, objective, perturb, pixel_noise_scale, regularizer, target_prob, tv, up


def test_up_matches_upsampling_bilinear2d_and_aligns_corners():
    mask = torch.rand(2, 5, 5, generator=torch.Generator().manual_seed(0))
    out = up(mask, (17, 17))
    assert out.shape == (2, 1, 17, 17)
    ref = nn.UpsamplingBilinear2d(size=(17, 17))(mask[:, None])   # the authors' upsampler
    torch.testing.assert_close(out, ref)
    # align_corners=True: the corner cells land on the corner pixels
    torch.testing.assert_close(out[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]], mask[:, [0, 0, -1, -1], [0, -1, 0, -1]])
    assert up(torch.full((1, 3, 3), 0.3), 32).sub(0.3).abs().max() < 1e-6      # constant stays constant
    same = torch.rand(1, 8, 8)
    assert torch.equal(up(same, 8)[:, 0], same)                                 # full resolution: identity
    with pytest.raises(ValueError):
        up(torch.rand(2, 2, 4, 4), 8)


def test_perturb_keeps_and_replaces():
    x, b = torch.rand(2, 3, 6, 6), torch.rand(2, 3, 6, 6)
    torch.testing.assert_close(perturb(x, b, torch.ones(2, 1, 6, 6)), x)
    torch.testing.assert_close(perturb(x, b, torch.zeros(2, 1, 6, 6)), b)
    torch.testing.assert_close(perturb(x, b, torch.full((2, 1, 6, 6), 0.25)), 0.25 * x + 0.75 * b)


def test_regularisers_are_means_on_the_low_resolution_mask():
    m = torch.tensor([[[1.0, 0.0], [0.5, 1.0]]])
    assert torch.allclose(l1(m), torch.tensor([(0 + 1 + 0.5 + 0) / 4]))
    # rows: |0.5-1|, |1-0| ; cols: |0-1|, |1-0.5| -> mean of squares 0.625 each direction
    assert torch.allclose(tv(m, 2), torch.tensor([(0.25 + 1) / 2 + (1 + 0.25) / 2]))
    assert torch.allclose(tv(m, 3), torch.tensor([(0.125 + 1) / 2 + (1 + 0.125) / 2]))
    assert torch.equal(tv(torch.rand(3, 1, 1)), torch.zeros(3))                # 1 x 1: no differences
    assert torch.allclose(regularizer(m, 2.0, 3.0), 2 * l1(m) + 3 * tv(m, 2))
    assert torch.equal(regularizer(torch.ones(2, 4, 4), 1.0, 20.0), torch.zeros(2))


def test_l1_gradient_at_one_is_zero_like_the_code():
    m = torch.ones(1, 3, 3, requires_grad=True)
    l1(m).sum().backward()
    assert torch.equal(m.grad, torch.zeros_like(m))


def test_objective_endpoints(tiny_model, tiny_images):
    target = igos.predict(tiny_model, tiny_images)
    ones, zeros = torch.ones(3, 4, 4), torch.zeros(3, 4, 4)
    p = target_prob(tiny_model, tiny_images, target)
    torch.testing.assert_close(objective(tiny_model, tiny_images, ones, target, lambda1=1, lambda2=20), p)
    p_blur = target_prob(tiny_model, igos.blur(tiny_images), target)
    torch.testing.assert_close(objective(tiny_model, tiny_images, zeros, lambda1=0.5, lambda2=20), p_blur + 0.5)
    m = torch.rand(3, 4, 4, requires_grad=True)
    objective(tiny_model, tiny_images, m, target, lambda1=1, lambda2=20).sum().backward()
    assert m.grad is not None and torch.isfinite(m.grad).all()
    with pytest.raises(ValueError):
        objective(tiny_model, tiny_images, torch.rand(2, 4, 4), lambda1=1, lambda2=1)


def test_pixel_noise_scale(tiny_model):
    x = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(pixel_noise_scale(tiny_model, 0.2, x), torch.full((1, 3, 1, 1), 0.1))  # std 0.5
    plain = nn.Conv2d(3, 2, 1)
    torch.testing.assert_close(pixel_noise_scale(plain, 0.2, x), torch.full((1, 1, 1, 1), 0.2))
