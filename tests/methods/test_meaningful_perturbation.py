"""Mask (Fong & Vedaldi 2017, as used by I-GOS): Adam on the same objective, batched exactly."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import igos
from helpers.toymodels import spot_images
from igos.methods.meaningful_perturbation import meaningful_perturbation as mask
from igos.perturbation import objective, regularizer


class SpotModel(nn.Module):
    """Class 0 grows with the brightness of the patch at rows/cols 8:16; class 2 is hopeless."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 8, stride=8, bias=False)
        nn.init.constant_(self.conv.weight, 1 / 192)
        self.conv.weight.requires_grad_(False)

    def forward(self, x):
        z0 = 10 * torch.tanh(self.conv(x)[:, 0, 1, 1] - 0.45)
        zero = torch.zeros_like(z0)
        return torch.stack([z0, zero, zero - 30], 1)


FAST = dict(resolution=8, n_iter=30, lambda1=0.05, lambda2=0.2)


def test_optimises_and_finds_the_spot():
    model, x = SpotModel(), spot_images(3)
    seen = []
    sal, hist = mask(model, x, 0, **FAST, return_history=True, callback=lambda k, loss, m: seen.append((k, m.clone())))
    assert sal.shape == (3, 8, 8) and sal.dtype == torch.float32 and (sal >= 0).all() and (sal <= 1).all()
    assert hist["loss"].shape == (30, 3) and hist["objective"].shape == (2, 3)
    assert (hist["objective"][1] < hist["objective"][0] - 0.2).all()
    # the reported final objective is F at the returned mask, with TV exponent 3
    torch.testing.assert_close(hist["objective"][1],
                               objective(model, x, 1 - sal, 0, lambda1=0.05, lambda2=0.2, tv_beta=3))
    assert [k for k, _ in seen] == list(range(30))
    torch.testing.assert_close(1 - seen[-1][1], sal)
    inside = sal[:, 2:4, 2:4].mean((1, 2))
    outside = (sal.sum((1, 2)) - sal[:, 2:4, 2:4].sum((1, 2))) / 60
    assert (inside > outside + 0.2).all(), (inside, outside)


def test_first_step_is_adam_on_the_objective():
    """One Adam step moves every cell by lr * sign(gradient) (Adam's first step), then clips."""
    model, x = SpotModel(), spot_images(2)
    sal = mask(model, x, 0, **{**FAST, "n_iter": 1}, noise=0.0)
    m = torch.ones(2, 8, 8, requires_grad=True)
    objective(model, x, m, 0, lambda1=0.05, lambda2=0.2, tv_beta=3).sum().backward()
    expected = (1 - 0.1 * m.grad / (m.grad.abs() + 1e-8)).clamp(0, 1)
    torch.testing.assert_close(1 - sal, expected, rtol=0, atol=1e-5)


def test_batch_equals_images_alone_seed_and_batch_size():
    model, x = SpotModel(), spot_images(3)
    kw = dict(FAST, n_iter=10)
    full = mask(model, x, 0, **kw)
    alone = torch.cat([mask(model, x[i:i + 1], 0, **kw) for i in range(3)])
    torch.testing.assert_close(full, alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(mask(model, x, 0, **kw, batch_size=2), full, rtol=0, atol=1e-5)
    assert torch.equal(full, mask(model, x, 0, **kw))
    assert not torch.equal(full, mask(model, x, 0, **kw, seed=1))
    assert torch.equal(mask(model, x, 0, **kw, noise=0.0, seed=0), mask(model, x, 0, **kw, noise=0.0, seed=1))


def test_contract_on_tiny_cnn(tiny_model, tiny_images):
    before = [(p.requires_grad, p.grad) for p in tiny_model.parameters()]
    sal = igos.meaningful_perturbation(tiny_model, tiny_images, resolution=4, n_iter=3)
    assert sal.shape == (3, 4, 4) and sal.dtype == torch.float32 and torch.isfinite(sal).all()
    assert igos.METHODS["meaningful_perturbation"] is mask and igos.mask is mask
    assert [(p.requires_grad, p.grad) for p in tiny_model.parameters()] == before
    alone = torch.cat([igos.meaningful_perturbation(tiny_model, tiny_images[i:i + 1], resolution=4, n_iter=3) for i in range(3)])
    torch.testing.assert_close(sal, alone, rtol=0, atol=1e-5)


def test_regulariser_is_the_tv3_of_the_paper():
    model, x = SpotModel(), spot_images(1)
    sal, hist = mask(model, x, 0, **FAST, return_history=True)
    prob = objective(model, x, 1 - sal, 0, lambda1=0, lambda2=0)
    torch.testing.assert_close(hist["objective"][1] - prob, regularizer(1 - sal, 0.05, 0.2, 3))


def test_bad_inputs_and_warning(tiny_model, tiny_images):
    for r in (0, 33):
        with pytest.raises(ValueError, match="resolution"):
            mask(tiny_model, tiny_images, resolution=r, n_iter=1)
    for kwargs in (dict(lambda1=-1.0), dict(lambda2=-1.0), dict(lr=0.0), dict(precision="fp8"), dict(noise=-1.0)):
        with pytest.raises(ValueError):
            mask(tiny_model, tiny_images, n_iter=1, **kwargs)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mask(tiny_model, tiny_images + 1, n_iter=1)
    with pytest.warns(RuntimeWarning, match="probability"):
        mask(SpotModel(), spot_images(1), 2, resolution=4, n_iter=1)


def test_presets():
    from igos.methods.meaningful_perturbation import MASK_LAMBDAS

    assert MASK_LAMBDAS["paper"][28] == (0.01, 0.2) and MASK_LAMBDAS["default"][28] == (0.01, 0.05)
    model, x = SpotModel(), spot_images(1)
    kw = dict(resolution=8, n_iter=3, noise=0.0, return_history=True)
    _, h_paper = igos.meaningful_perturbation(model, x, 0, preset="paper", **kw)
    _, h_explicit = igos.meaningful_perturbation(model, x, 0, lambda1=0.01, lambda2=0.2, **kw)
    assert torch.equal(h_paper["objective"], h_explicit["objective"])
    with pytest.raises(ValueError, match="preset"):
        igos.meaningful_perturbation(model, x, 0, preset="vgg", **kw)
