"""Grad-CAM: equals CAM on a GAP + linear head, and agrees with captum and pytorch-grad-cam."""
from __future__ import annotations

import pytest
import torch

import igos
from igos.layers import capture

from helpers.cam_refs import LAYERS, pytorch_grad_cam_raw, rel_err, seeded  # noqa: I001


def test_grad_cam_is_cam_on_a_gap_linear_head(tiny_model):
    """tiny_cnn ends in ReLU -> global average pool -> linear, so alpha_k = w_ck / Z and
    Grad-CAM = ReLU(CAM) / Z, CAM being Zhou et al.'s sum_k w_ck A^k."""
    model = tiny_model.double()
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 3, 9])
    with torch.no_grad(), capture(model, "net.features.4") as store:
        model(x)
    acts = store.activation                                     # [3, 16, 16, 16]
    cam = torch.einsum("nk,nkhw->nhw", model.net.fc.weight[target], acts)
    z = acts.shape[-2] * acts.shape[-1]
    ours = igos.grad_cam(model, x, target, layer="net.features.4")
    assert torch.allclose(ours.double(), cam.clamp_min(0) / z, rtol=1e-5, atol=1e-7)


def test_layer_by_module_or_name_and_non_conv_layers(tiny_model, tiny_images):
    a = igos.grad_cam(tiny_model, tiny_images, layer="net.features.4")
    b = igos.grad_cam(tiny_model, tiny_images, layer=tiny_model.net.features[4])
    c = igos.grad_cam(tiny_model, tiny_images)  # the default layer is net.features.4
    assert torch.equal(a, b) and torch.equal(a, c) and a.shape == (3, 16, 16)
    assert igos.grad_cam(tiny_model, tiny_images, layer="net.features.1").shape == (3, 32, 32)
    with pytest.raises(ValueError, match="convolutional"):
        igos.grad_cam(tiny_model, tiny_images, layer="net.fc")


@pytest.mark.parametrize("arch", ["resnet18", "vgg11"])
def test_agrees_with_captum_and_pytorch_grad_cam(arch):
    from captum.attr import LayerGradCam
    from pytorch_grad_cam import GradCAM

    model = seeded(arch)
    layer = LAYERS[arch]
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    target = [3, 5]
    ours = igos.grad_cam(model, x, target, layer=layer)
    ref = LayerGradCam(model, igos.get_layer(model, layer)).attribute(x, target=target, relu_attributions=True)
    assert ours.shape == ref[:, 0].shape == (2, 4, 4)
    assert rel_err(ours, ref[:, 0]) < 1e-5
    raw, _, _ = pytorch_grad_cam_raw(GradCAM, model, layer, x, target)
    assert rel_err(ours, raw) < 1e-5
