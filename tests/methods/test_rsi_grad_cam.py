"""RSI-Grad-CAM: layer completeness at cuts (and not inside a residual block), the input-layer
identity with trapezoid IG, and batching that splits an image's path across passes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import igos
from igos.methods.rsi_grad_cam import layer_completeness_gap


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.inner = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.inner(x) + x)  # the skip bypasses `inner`


def residual_net() -> igos.ImageClassifier:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), Residual(4), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 5))
    return igos.wrap(net, device="cpu").double()


def images64(n: int = 2, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("score", ["prob", "logit", "log_prob"])
def test_layer_completeness_closes_at_a_cut(tiny_model, score):
    model = tiny_model.double()
    x = images64()
    # above net.features.4 the score is smooth (average pool, linear, softmax): trapezoid error O(1/M^2)
    gap = layer_completeness_gap(model, x, [1, 2], layer="net.features.4", n_steps=64, score=score)
    assert gap.dtype == torch.float64 and gap.abs().max() < 1e-8
    # above net.features.2 a ReLU makes the gradient jump along the path: error O(1/M)
    coarse = layer_completeness_gap(model, x, [1, 2], layer="net.features.2", n_steps=16, score=score)
    fine = layer_completeness_gap(model, x, [1, 2], layer="net.features.2", n_steps=1024, score=score)
    assert fine.abs().max() < 1e-5 and fine.abs().max() < coarse.abs().max() / 4


def test_layer_completeness_fails_inside_a_residual_block():
    model = residual_net()
    x = images64()
    with torch.no_grad():
        logits = model(torch.cat([x, torch.zeros_like(x)]))
    change = (logits[:2] - logits[2:])[[0, 1], [1, 2]].abs()
    cut = layer_completeness_gap(model, x, [1, 2], layer="net.2", n_steps=256, score="logit")
    inside = layer_completeness_gap(model, x, [1, 2], layer="net.2.inner", n_steps=256, score="logit")
    assert cut.abs().max() < 1e-9 and (inside.abs() > 1e-2 * change).all()


def test_at_the_input_it_is_trapezoid_ig():
    """At a layer that sees the (normalised) input, the RS increments are (x - x') / (sigma M), the
    gradients sigma * dF/dx, so the unit-level RS sums are trapezoid IG and
    map = ReLU(sum_c mean_ij(IG_c) z_c(x)) with z the normalised image."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Identity(), nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3))
    model = igos.wrap(net, device="cpu").double()
    x = images64(2, 8)
    rsi = igos.rsi_grad_cam(model, x, [0, 2], layer="net.0", n_steps=16)
    ig = igos.integrated_gradients(model, x, [0, 2], n_steps=16, rule="trapezoid", score="prob",
                                   per_channel=True, return_gap=False).double()
    expected = torch.einsum("nc,nchw->nhw", ig.mean(dim=(2, 3)), model.normalize(x)).clamp_min(0)
    assert torch.allclose(rsi.double(), expected, rtol=1e-5, atol=1e-9)


def test_batches_split_paths_across_passes(tiny_model):
    model = tiny_model.double()
    x = images64(3)
    whole = layer_completeness_gap(model, x, 4, n_steps=6)
    maps = igos.rsi_grad_cam(model, x, 4, n_steps=6)
    for batch_size in (1, 3, 4, 20):  # 7 path points per image: passes start mid-path
        assert torch.allclose(layer_completeness_gap(model, x, 4, n_steps=6, batch_size=batch_size), whole,
                              atol=1e-12)
        assert torch.allclose(igos.rsi_grad_cam(model, x, 4, n_steps=6, batch_size=batch_size), maps,
                              rtol=1e-6, atol=1e-9)


def test_defaults_are_prob_and_black(tiny_model, tiny_images):
    a = igos.rsi_grad_cam(tiny_model, tiny_images, n_steps=4)
    b = igos.rsi_grad_cam(tiny_model, tiny_images, n_steps=4, score="prob", baseline="black")
    c = igos.rsi_grad_cam(tiny_model, tiny_images, n_steps=4, score="logit")
    assert torch.equal(a, b) and not torch.allclose(a, c)
