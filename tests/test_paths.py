"""igos.book.paths: path methods on small float64 functions, the Cantor staircase, path profiles."""
from __future__ import annotations

import pytest
import torch

import igos
from igos.book.paths import cantor, grid_rule, path_attributions, path_profile, power_path, straight_path


def product(z):
    return z[:, 0] * z[:, 1]


def test_straight_path_on_a_product_is_integrated_gradients():
    x, xb = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    attr = path_attributions(product, straight_path(x, xb), n_steps=8, rule="midpoint")
    # IG of z0 z1 from 0: each coordinate gets half of x0 x1 (exactly, the integrand is linear)
    assert torch.allclose(attr, torch.tensor([1.0, 1.0], dtype=torch.float64), atol=1e-14)


def test_power_path_on_a_product():
    x, xb = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    attr = path_attributions(product, power_path(x, xb), n_steps=4096, rule="midpoint")
    # gamma = (a^2, 2 a^3): attributions int 2a^3 * 2a = 4/5 and int a^2 * 6 a^2 = 6/5
    assert torch.allclose(attr, torch.tensor([0.8, 1.2], dtype=torch.float64), atol=1e-6)
    points, velocity = power_path(x, xb)(torch.tensor([0.0, 1.0]))
    assert torch.equal(points[0], xb) and torch.equal(points[1], x)


def test_power_path_keeps_ties():
    x = torch.tensor([0.7, 0.7, 0.1], dtype=torch.float64)
    points, velocity = power_path(x, torch.zeros(3, dtype=torch.float64))(torch.linspace(0, 1, 5))
    assert torch.equal(points[:, 0], points[:, 1]) and torch.equal(velocity[:, 0], velocity[:, 1])


def test_cantor_values_and_zero_gradient():
    t = torch.tensor([0.0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0], dtype=torch.float64)
    expected = torch.tensor([0.0, 1 / 3, 0.5, 0.5, 0.5, 2 / 3, 1.0], dtype=torch.float64)
    assert torch.allclose(cantor(t), expected, atol=1e-9)
    s = torch.rand(100, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u = s.sort().values
    assert (cantor(u).diff() >= -1e-9).all()                            # non-decreasing
    attr = path_attributions(lambda z: cantor(z[:, 0]), straight_path(torch.ones(1, dtype=torch.float64),
                                                                      torch.zeros(1, dtype=torch.float64)), 16)
    assert attr.item() == 0.0


def test_path_profile_and_grid_rule_match_integrated_gradients(tiny_model, tiny_images):
    k = 4
    alphas = torch.arange(2 * k + 1, dtype=torch.float64) / (2 * k)
    x = tiny_images.double()
    model = igos.load_model("tiny_cnn", device="cpu").double()
    phi, dphi = path_profile(model, x, alphas, 3, baseline="black")
    assert phi.shape == dphi.shape == (3, 2 * k + 1)
    for rule in ("left", "right", "midpoint", "trapezoid"):
        _, gap = igos.integrated_gradients(model, x, 3, n_steps=2, rule=rule, return_gap=True)
        assert torch.allclose(grid_rule(dphi, 2, rule) - (phi[:, -1] - phi[:, 0]), gap, atol=1e-10)


def test_grid_rule_rejects_bad_grids():
    with pytest.raises(ValueError):
        grid_rule(torch.zeros(10), 2)       # 9 intervals: odd
    with pytest.raises(ValueError):
        grid_rule(torch.zeros(13), 4)       # K = 6, 4 does not divide it
    with pytest.raises(ValueError):
        grid_rule(torch.zeros(9), 2, "simpson")
