"""RISE: constant map for all-ones masks, the masks themselves, and a localisation check."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import igos
from igos.methods.rise import _grids, _masks


def test_all_ones_masks_give_a_constant_map(tiny_model, tiny_images):
    """p_keep = 1 keeps every cell, every mask is 1 and the map is f(I) everywhere."""
    sal = igos.rise(tiny_model, tiny_images, [2, 5, 7], n_masks=8, p_keep=1.0)
    with torch.no_grad():
        prob = tiny_model(tiny_images).softmax(1)[[0, 1, 2], [2, 5, 7]]
    assert sal.shape == (3, 32, 32)
    assert torch.allclose(sal, prob.view(3, 1, 1).expand_as(sal), rtol=1e-5, atol=0)


def test_masks():
    grids, shifts = _grids(500, 7, 0.3, seed=0)
    assert set(grids.unique().tolist()) <= {0.0, 1.0} and abs(grids.mean().item() - 0.3) < 0.02
    masks = _masks(grids, shifts, (40, 40))
    assert masks.shape == (500, 40, 40) and masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean().item() - 0.3) < 0.03          # bilinear upsampling keeps the mean roughly
    again = _masks(*_grids(500, 7, 0.3, seed=0), (40, 40))
    other = _masks(*_grids(500, 7, 0.3, seed=1), (40, 40))
    assert torch.equal(masks, again) and not torch.equal(masks, other)
    # a grid with a single kept cell gives a mask that is 1 only near that cell
    one = torch.zeros(1, 4, 4)
    one[0, 0, 0] = 1
    m = _masks(one, torch.zeros(1, 2), (16, 16))[0]
    assert m[:4, :4].mean() > 0.5 and m[8:, 8:].max() == 0


def test_finds_the_region_the_model_reads():
    """A 'classifier' whose class-0 logit is the mean brightness of the left half."""
    class LeftHalf(nn.Module):
        def forward(self, x):
            left = x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3))
            return torch.stack([4 * left, torch.zeros_like(left)], dim=1)

    model = igos.wrap(LeftHalf(), mean=(0, 0, 0), std=(1, 1, 1), device="cpu")
    x = torch.full((1, 3, 28, 28), 0.9)
    sal = igos.rise(model, x, 0, n_masks=400, grid_size=4)
    assert sal[0, :, :12].mean() > sal[0, :, 16:].mean() + 0.01


def test_options_are_checked(tiny_model, tiny_images):
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="p_keep"):
            igos.rise(tiny_model, tiny_images, p_keep=bad)
    with pytest.raises(ValueError, match="n_masks"):
        igos.rise(tiny_model, tiny_images, n_masks=0)
    with pytest.raises(ValueError, match="grid_size"):
        igos.rise(tiny_model, tiny_images, grid_size=2.5)
