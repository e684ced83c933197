"""Shared fixtures: small seeded models and images; nothing is downloaded."""
from __future__ import annotations

import pytest
import torch

import igos


@pytest.fixture
def tiny_model():
    """The seeded ``tiny_cnn`` (10 classes, conv-ReLU-pool-conv-ReLU-GAP-linear) on CPU."""
    return igos.load_model("tiny_cnn", device="cpu", seed=0)


@pytest.fixture
def tiny_images():
    """Three seeded random images ``[3, 3, 32, 32]`` in [0, 1]."""
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="session")
def lite0():
    """The embedded default model (EfficientNet-Lite0), loaded once per session."""
    return igos.load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def embedded():
    """The embedded photos as an :class:`igos.ImageSet`."""
    return igos.load_images("embedded")


@pytest.fixture(scope="session")
def imagenet_samples():
    """The 20 ImageNet validation photos shipped by foolbox (``load_images("imagenet-samples")``)."""
    return igos.load_images("imagenet-samples")
