"""Grad-CAM++: the paper variant against pytorch-grad-cam, the official variant against a
transcription of the authors' formula, and the relations to Grad-CAM+ on a GAP + linear head."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.cam_refs import LAYERS, pytorch_grad_cam_raw, rel_err, seeded

import igos


@pytest.mark.parametrize("arch", ["resnet18", "vgg11"])
def test_paper_variant_agrees_with_pytorch_grad_cam(arch):
    """pytorch-grad-cam adds 1e-6 to the alpha denominator 2 g^2 + sum(A) g^3. With the small
    gradients of a random net that changes alphas by percents, so the logits are scaled by
    10^4 (the same model for both): then the 1e-6 is negligible and the formulas coincide."""
    from pytorch_grad_cam import GradCAMPlusPlus

    model = seeded(arch, scale=1e4).double()  # float64: the official alphas amplify rounding errors
    layer = "net.0." + LAYERS[arch][len("net."):]
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    target = [3, 5]
    raw, acts, grads = pytorch_grad_cam_raw(GradCAMPlusPlus, model, layer, x, target)
    ours = igos.grad_cam_plus_plus(model, x, target, layer=layer)
    assert rel_err(ours, raw) < 1e-5

    # the official variant: a NumPy transcription of grad_CAM_plus in adityac94/Grad_CAM_plus_plus
    # (misc/utils.py), batched; exp(S) dropped (a positive factor per image)
    global_sum = acts.sum(axis=(2, 3), keepdims=True)
    num = grads ** 2
    denom = 2.0 * grads ** 2 + grads ** 3 * global_sum
    denom = np.where(denom != 0.0, denom, np.ones(denom.shape))
    alphas = num / denom
    alphas = alphas / alphas.sum(axis=(2, 3), keepdims=True)
    weights = (np.maximum(grads, 0.0) * alphas).sum(axis=(2, 3))
    official = np.maximum((weights[:, :, None, None] * acts).sum(axis=1), 0)
    ours = igos.grad_cam_plus_plus(model, x, target, layer=layer, variant="official")
    assert rel_err(ours, torch.from_numpy(official)) < 1e-5
    assert rel_err(ours, raw) > 1e-3  # the variants really differ


def test_relations_to_grad_cam_plus_on_a_gap_linear_head(tiny_model, tiny_images):
    """g = w_ck / Z is constant per channel. Official: alphas renormalise to 1/Z, so it is exactly
    Grad-CAM+. Paper: alpha = 1/(2 + g sum(A)); when g sum(A) <= eps, the map is (Z/2) x Grad-CAM+
    within eps/2 (Lerma & Lucas's equivalence argument)."""
    model = tiny_model.double()
    x = tiny_images.double()
    target = [1, 2, 3]
    plus = igos.grad_cam_plus(model, x, target)
    official = igos.grad_cam_plus_plus(model, x, target, variant="official")
    assert torch.allclose(official, plus, rtol=1e-5, atol=1e-9)
    with torch.no_grad():
        model.net.fc.weight.mul_(1e-4)  # makes g * sum(A) tiny
    plus = igos.grad_cam_plus(model, x, target)
    paper = igos.grad_cam_plus_plus(model, x, target)
    z = plus.shape[-1] * plus.shape[-2]
    assert torch.allclose(paper, plus * z / 2, rtol=1e-3, atol=0)


def test_variant_is_checked(tiny_model, tiny_images):
    with pytest.raises(ValueError, match="variant"):
        igos.grad_cam_plus_plus(tiny_model, tiny_images, variant="mine")
