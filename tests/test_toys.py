"""igos.book.toys: exact objectives for the I-GOS theory chapters."""
from __future__ import annotations

import pytest
import torch

import igos
from igos.methods.i_gos import direction
from igos.book.toys import QuadraticProbability, armijo_steps, gradient, ig_direction, projected_descent, two_basin

F64 = dict(dtype=torch.float64)


def quadratic(center, H):
    return lambda z: 0.5 * ((z - center) @ H * (z - center)).sum(-1)


@pytest.mark.parametrize("S", [1, 3, 20])
def test_ig_direction_on_a_quadratic_is_a_scaled_gradient(S):
    gen = torch.Generator().manual_seed(0)
    B = torch.randn(5, 5, generator=gen, **F64)
    center, x = torch.randn(5, generator=gen, **F64), torch.randn(5, generator=gen, **F64)
    f = quadratic(center, B @ B.T)
    g = gradient(f, x)
    composed = ig_direction(f, x, baseline=center, n_steps=S)
    path = ig_direction(f, x, baseline=center, n_steps=S, convention="path")
    assert torch.allclose(composed, (S + 1) * (2 * S + 1) / (6 * S**2) * g, atol=1e-12)
    assert torch.allclose(path, (S + 1) / (2 * S) * g, atol=1e-12)
    with pytest.raises(ValueError):
        ig_direction(f, x, n_steps=S, convention="sundararajan")


def test_quadratic_probability_model_and_i_gos_direction():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(1, 3, 16, 16, generator=gen, **F64)
    base = igos.blur(images)
    model = QuadraticProbability(base, 0.02 * torch.randn(4, 3 * 16 * 16, generator=gen, **F64), q0=0.1)
    x = torch.rand(1, 3, 16, 16, generator=gen, **F64)
    assert torch.allclose(model(x).softmax(1)[:, 0], model.q(x), atol=1e-14)
    assert gradient(lambda z: model.q(z.view(-1, 3, 16, 16)), base.flatten()).abs().max() < 1e-15
    mask = torch.rand(1, 4, 4, generator=gen, **F64)
    tg = direction(model, images, mask, 0, lambda1=0.0, lambda2=0.0, n_steps=20, noise=0.0)
    m = mask.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(igos.perturbation.objective(model, images, m, 0, lambda1=0.0, lambda2=0.0).sum(), m)
    assert torch.allclose(tg, 21 * 41 / (6 * 400) * g, rtol=1e-6, atol=1e-12)


def test_two_basin_has_a_local_minimum_that_gradient_descent_finds():
    start = torch.ones(2, **F64)
    gd = projected_descent(lambda m: gradient(two_basin, m), start, 0.05, 300)
    ig = projected_descent(lambda m: ig_direction(two_basin, m), start, 0.05, 300)
    assert gd.shape == (301, 2) and ((gd >= 0) & (gd <= 1)).all()
    assert gradient(two_basin, gd[-1]).norm() < 1e-8 and two_basin(gd[-1][None]) > 0.3
    assert two_basin(ig[-1][None]) < 1e-3


def test_armijo_steps():
    f = quadratic(torch.zeros(2, **F64), torch.eye(2, **F64))
    m = torch.tensor([0.5, 0.5], **F64)
    g = gradient(f, m)
    out = armijo_steps(f, m, -g, -(g @ g), step_max=4.0, decay=0.5, n_trials=6, c=0.5)
    assert out["ok"].tolist() == [False, False, True, True, True, True]   # f(m - a g) = (1-a)^2 f(m)
    assert torch.allclose(out["bound"], f(m[None])[0] - 0.5 * out["step"] * (g @ g))
