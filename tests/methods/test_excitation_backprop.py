"""Excitation Backprop: probability conservation on plain ReLU chains, a closed form on a GAP +
linear head, the contrastive difference, in-place activations, VGG and EfficientNet-Lite0."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import igos
from igos.layers import hook_count


@pytest.fixture(scope="module")
def vgg11():
    torch.manual_seed(0)
    return igos.wrap(torchvision.models.vgg11(weights=None), device="cpu")


def test_closed_form_on_a_gap_linear_head(tiny_model):
    """ReLU -> GAP -> linear: P_k = a_k w+_ck / sum_k' a_k' w+_ck' with a_k the channel mean, then the
    average pool hands P_k to positions in proportion to A_kij, so MWP_ij = sum_k P_k A_kij / sum_ij A_kij."""
    model = tiny_model.double()
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([3, 8])
    with torch.no_grad():
        acts = model.net.features(model.normalize(x))
    share = acts.mean(dim=(2, 3)) * model.net.fc.weight[target].clamp_min(0)
    share = share / share.sum(1, keepdim=True)
    within = acts / acts.sum(dim=(2, 3), keepdim=True).clamp_min(1e-300)   # dead channels: 0, not 0/0
    expected = torch.einsum("nk,nkhw->nhw", share, within)
    ours = igos.excitation_backprop(model, x, target, contrastive=False)
    assert torch.allclose(ours.double(), expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("layer", ["net.features.1", "net.features.2", "net.features.4"])
def test_mwp_is_a_distribution_on_tiny_cnn(tiny_model, tiny_images, layer):
    mwp = igos.excitation_backprop(tiny_model, tiny_images, [0, 5, 9], layer=layer, contrastive=False)
    assert mwp.min() >= 0 and torch.allclose(mwp.sum(dim=(1, 2)), torch.ones(3), atol=1e-4)


def test_vgg(vgg11):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    layer = "net.features.19"
    mwp = igos.excitation_backprop(vgg11, x, [3, 5], layer=layer, contrastive=False)
    assert mwp.min() >= 0 and torch.allclose(mwp.sum(dim=(1, 2)), torch.ones(2), atol=1e-4)
    # contrastive = ReLU(MWP(c) - MWP(dual)), the dual being the class with negated weights: the
    # plain MWP before the channel sum is linear in the top-down signal, so the maps subtract
    c_mwp = igos.excitation_backprop(vgg11, x, [3, 5], layer=layer)
    weight = vgg11.net.classifier[6].weight
    try:
        with torch.no_grad():
            weight.neg_()
        dual = igos.excitation_backprop(vgg11, x, [3, 5], layer=layer, contrastive=False)
    finally:
        with torch.no_grad():
            weight.neg_()
    assert torch.allclose(c_mwp, (mwp - dual).clamp_min(0), rtol=1e-4, atol=1e-7) and c_mwp.max() > 0
    assert hook_count(vgg11) == 0


def test_inplace_saturating_activations_pass_the_signal():
    """ReLU6(inplace=True) saturates at 6, where its gradient is 0; the rule passes the signal on."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(inplace=True), nn.Conv2d(8, 8, 3, padding=1),
                        nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    with torch.no_grad():
        net[2].weight.mul_(200)                 # drive many units of the second ReLU6 past 6
    model = igos.wrap(net, mean=(0, 0, 0), std=(1, 1, 1), device="cpu")
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (net[:4](x) >= 6).float().mean() > 0.1
    mwp = igos.excitation_backprop(model, x, [0, 1], layer="net.1", contrastive=False)
    assert torch.allclose(mwp.sum(dim=(1, 2)), torch.ones(2), atol=1e-4)
    assert hook_count(model) == 0


def test_embedded_model_head(lite0, embedded):
    x = embedded.images[:1]
    mwp = igos.excitation_backprop(lite0, x, contrastive=False)   # default layer net.bn2, 7 x 7
    assert mwp.shape == (1, 7, 7) and mwp.min() >= 0
    assert torch.allclose(mwp.sum(), torch.tensor(1.0), atol=1e-4)
    small = torch.nn.functional.interpolate(x, size=(112, 112), mode="bilinear", antialias=True).clamp(0, 1)
    c_mwp = igos.excitation_backprop(lite0, small, layer="net.blocks.5")
    assert c_mwp.shape == (1, 4, 4) and torch.isfinite(c_mwp).all() and c_mwp.max() > 0
    assert hook_count(lite0) == 0


def test_needs_logits_from_a_linear_layer(tiny_model, tiny_images):
    class Doubled(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return 2 * self.net(x)

    model = igos.wrap(Doubled(tiny_model.net), mean=(0.5,) * 3, std=(0.5,) * 3, device="cpu")
    with pytest.raises(ValueError, match="last Linear"):
        igos.excitation_backprop(model, tiny_images, 0, layer="net.net.features.4")
    assert hook_count(model) == 0
