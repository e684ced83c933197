"""Integrated Gradients: quadrature rules, completeness, baselines, and agreement with captum."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import igos
from igos.methods.integrated_gradients import completeness_gap, riemann


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def small_relu_cnn(seed: int = 0) -> igos.ImageClassifier:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    return igos.wrap(net, device="cpu").double()


@pytest.fixture(scope="module")
def torchvision_models():
    """ResNet-18 and VGG-11 with seeded random weights (nothing is downloaded)."""
    out = {}
    for name in ("resnet18", "vgg11"):
        torch.manual_seed(0)
        out[name] = igos.wrap(getattr(torchvision.models, name)(weights=None), device="cpu")
    return out


def test_riemann_rules():
    for rule in ("left", "right", "midpoint", "trapezoid"):
        a, w = riemann(4, rule)
        assert torch.isclose(w.sum(), torch.tensor(1.0, dtype=w.dtype))
        assert a.min() >= 0 and a.max() <= 1
    assert riemann(4, "left")[0].tolist() == [0, 0.25, 0.5, 0.75]
    assert riemann(4, "right")[0].tolist() == [0.25, 0.5, 0.75, 1]
    assert riemann(4, "midpoint")[0].tolist() == [0.125, 0.375, 0.625, 0.875]
    a, w = riemann(4, "trapezoid")
    assert a.tolist() == [0, 0.25, 0.5, 0.75, 1] and w.tolist() == [0.125, 0.25, 0.25, 0.25, 0.125]
    with pytest.raises(ValueError, match="rule"):
        riemann(4, "simpson")
    with pytest.raises(ValueError, match="n_steps"):
        riemann(0)


def test_exact_on_a_linear_model():
    """The gradient of a linear model is constant, so any rule with any n_steps is exact."""
    torch.manual_seed(0)
    model = igos.wrap(nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 5, 4)), device="cpu").double()
    x = torch.rand(2, 3, 5, 5, dtype=torch.float64)
    w = model.net[1].weight.view(4, 3, 5, 5) / model.std.double()   # d logit / d pixel
    for rule in ("left", "right", "midpoint", "trapezoid"):
        attr, gap = igos.integrated_gradients(model, x, [1, 3], n_steps=1, rule=rule, per_channel=True,
                                              return_gap=True)
        assert gap.abs().max() < 1e-12
        assert torch.allclose(attr.double(), x * w[[1, 3]], atol=1e-6)


def test_completeness_on_small_relu_nets_float64():
    """On a ReLU net the path gradient jumps at every kink, so the Riemann error is O(1/n_steps):
    many steps are needed, and they close the gap below 1e-6."""
    model = small_relu_cnn(0)
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _, coarse = igos.integrated_gradients(model, x, [0, 2], n_steps=16, return_gap=True)
    attr, fine = igos.integrated_gradients(model, x, [0, 2], n_steps=2 ** 15, return_gap=True, per_channel=True)
    assert fine.abs().max() < 1e-6 < coarse.abs().max()
    # the stand-alone function agrees with the gap computed inside (float32 attributions)
    again = completeness_gap(model, x, attr, [0, 2])
    assert (again - fine).abs().max() < 1e-5


def test_completeness_tiny_cnn_and_scores(tiny_model):
    model = tiny_model.double()
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for score in ("logit", "prob", "log_prob"):
        _, gap = igos.integrated_gradients(model, x, [1, 2], n_steps=1024, score=score, return_gap=True)
        with torch.no_grad():
            f = igos.scores.select_score(model(torch.cat([x, 0 * x])), torch.tensor([1, 2, 1, 2]), score)
        change = (f[:2] - f[2:]).abs()
        assert (gap.abs() < 1e-3 * change + 1e-7).all(), (score, gap, change)


def test_per_channel_sums_to_map(tiny_model, tiny_images):
    attr = igos.integrated_gradients(tiny_model, tiny_images, n_steps=8, per_channel=True)
    sal = igos.integrated_gradients(tiny_model, tiny_images, n_steps=8)
    assert attr.shape == (3, 3, 32, 32) and torch.allclose(attr.sum(1), sal, atol=1e-6)


def test_baselines(tiny_model, tiny_images):
    x = tiny_images
    black = igos.integrated_gradients(tiny_model, x, 1, n_steps=4)
    assert torch.equal(black, igos.integrated_gradients(tiny_model, x, 1, n_steps=4, baseline=torch.zeros(1, 3, 1, 1)))
    assert torch.equal(black, igos.integrated_gradients(tiny_model, x, 1, n_steps=4, baseline=0.0))
    blurred = igos.integrated_gradients(tiny_model, x, 1, n_steps=4, baseline="blur")
    assert not torch.allclose(black, blurred)
    a = igos.integrated_gradients(tiny_model, x, 1, n_steps=4, baseline="noise", seed=1)
    b = igos.integrated_gradients(tiny_model, x, 1, n_steps=4, baseline="noise", seed=1)
    c = igos.integrated_gradients(tiny_model, x, 1, n_steps=4, baseline="noise", seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="unknown baseline"):
        igos.integrated_gradients(tiny_model, x, baseline="white-ish")
    with pytest.raises(ValueError, match="broadcast"):
        igos.integrated_gradients(tiny_model, x, baseline=torch.zeros(2, 3, 5, 5))
    with pytest.raises(ValueError, match="NaN"):
        igos.integrated_gradients(tiny_model, x, baseline=torch.full((1, 3, 1, 1), float("nan")))


@pytest.mark.parametrize("arch", ["resnet18", "vgg11"])
def test_agrees_with_captum(arch, torchvision_models):
    from captum.attr import IntegratedGradients

    model = torchvision_models[arch]
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    target = [3, 5]
    ig = IntegratedGradients(model)
    # Both in one pass and, as igos does on the CPU, in channels-last layout: on random deep nets a
    # ReLU or max-pool near a tie can flip with the float32 rounding of the convolutions (batch
    # composition, memory layout), which moves single gradients by percents.
    x = x.contiguous(memory_format=torch.channels_last)
    for rule, method in [("midpoint", "riemann_middle"), ("left", "riemann_left"), ("right", "riemann_right")]:
        ours = igos.integrated_gradients(model, x, target, n_steps=4, rule=rule, per_channel=True)
        ref = ig.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=4, method=method)
        assert rel_err(ours, ref) < 1e-5, rule
    # captum's trapezoid with n points has weights 1/n summing to 1 - 1/n; ours uses n - 1 intervals
    ours = igos.integrated_gradients(model, x, target, n_steps=4, rule="trapezoid", per_channel=True)
    ref = ig.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=5, method="riemann_trapezoid")
    assert rel_err(ours, ref * 5 / 4) < 1e-5
    if arch == "vgg11":
        # captum's nodes come from a float32 linspace and can differ from ours by one ulp; on
        # this random VGG that flips a near-zero ReLU along the blurred path
        # and moves single gradients by ~0.5%, so the blurred case is checked on ResNet-18 only.
        return
    # a blurred baseline, passed to captum as a tensor
    ours = igos.integrated_gradients(model, x, target, n_steps=6, baseline="blur", per_channel=True)
    ref = ig.attribute(x, baselines=igos.blur(x), target=target, n_steps=6, method="riemann_middle")
    assert rel_err(ours, ref) < 1e-5


def test_models_that_cannot_take_channels_last_inputs():
    """On the CPU the path points go channels-last; a model that .view()s a 4-D activation cannot
    take them and gets the usual layout instead, with the same result."""
    class ViewNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            return self.fc(self.conv(x).view(x.shape[0], -1))

    torch.manual_seed(0)
    model = igos.wrap(ViewNet(), device="cpu").double()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="view"):
        model(x.contiguous(memory_format=torch.channels_last))
    attr, gap = igos.integrated_gradients(model, x, [0, 2], n_steps=4, batch_size=3, per_channel=True,
                                          return_gap=True)
    assert gap.abs().max() < 1e-10   # linear model: exact
