"""Helpers shared by the CAM tests: seeded torchvision models and pytorch-grad-cam's raw maps."""
from __future__ import annotations

import numpy as np
import torch
import torchvision
from torch import nn

import igos

# (architecture, layer inside igos.wrap(net)) whose output no in-place op overwrites afterwards
LAYERS = {"resnet18": "net.layer3", "vgg11": "net.features.19"}


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def seeded(arch: str, scale: float | None = None) -> igos.ImageClassifier:
    """``igos.wrap`` of a torchvision net with seeded random weights (optionally logits * scale)."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None)
    if scale is not None:
        net = nn.Sequential(net, Scale(scale))
    return igos.wrap(net, device="cpu")


def pytorch_grad_cam_raw(cls, model, layer, images, target):
    """pytorch-grad-cam's map before its min-max scaling and resize: ReLU(get_cam_image(...)).

    Also returns the activations and gradients its own hooks recorded.
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    module = igos.get_layer(model, layer)
    with cls(model=model, target_layers=[module]) as cam:
        cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in target])
        acts = cam.activations_and_grads.activations[0].numpy()
        grads = cam.activations_and_grads.gradients[0].numpy()
        raw = np.maximum(cam.get_cam_image(images, module, None, acts, grads), 0)
    return torch.from_numpy(raw), acts, grads


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()
