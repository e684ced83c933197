"""igos.models: the embedded default, torchvision fallbacks, the wrapper and the tiny CNN."""
from __future__ import annotations

import time

import pytest
import torch

import igos
from igos.models import IMAGENET_MEAN, IMAGENET_STD


def test_embedded_model_puts_manifest_class_in_top5(lite0, embedded):
    with torch.no_grad():
        top5 = lite0(embedded.images).topk(5, dim=1).indices
    for name, label, top in zip(embedded.names, embedded.labels.tolist(), top5.tolist()):
        assert label in top, f"{name}: class {label} not in top-5 {top}"


def test_embedded_model_matches_reference_logits(lite0, embedded):
    """Regression: top-1 classes and confidence of the mapped checkpoint (timm tf_efficientnet_lite0)."""
    with torch.no_grad():
        probs = lite0(embedded.images).softmax(1)
    top1 = probs.argmax(1).tolist()
    names = [lite0.class_names[c] for c in top1]
    assert names == ["tiger cat", "espresso", "missile", "moped", "palace", "daisy", "academic gown"]
    assert probs.max(1).values[1].item() == pytest.approx(0.953, abs=0.01)  # coffee -> espresso


def test_model_metadata_and_eval_mode(lite0):
    assert not lite0.training
    assert lite0.input_size == 224 and lite0.num_classes == 1000 and len(lite0.class_names) == 1000
    assert isinstance(igos.get_layer(lite0, lite0.default_layer), torch.nn.Module)
    assert all(not p.requires_grad for p in lite0.parameters())


def test_wrapper_normalises_inside():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    model = igos.wrap(net, device="cpu")
    x = torch.rand(1, 3, 2, 2)
    expected = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(model(x), expected.flatten(1))


@pytest.mark.parametrize("name", ["vgg19", "vgg16", "resnet50"])
def test_torchvision_without_weights_fails_fast_and_clearly(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    start = time.time()
    with pytest.raises(FileNotFoundError) as err:
        igos.load_model(name, device="cpu", download=False)
    assert time.time() - start < 10
    msg = str(err.value)
    assert name in msg and ".pth" in msg and str(tmp_path) in msg and "random" in msg


def test_torchvision_loads_from_a_local_weights_file(tmp_path):
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None)
    path = tmp_path / "rn50.pth"
    torch.save(net.state_dict(), path)
    model = igos.load_model("resnet50", device="cpu", weights=path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = net.eval()((x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        assert torch.allclose(model(x), expected, atol=1e-5)
    assert model.default_layer == "net.layer4"


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match="efficientnet_lite0.*vgg19.*resnet50"):
        igos.load_model("alexnet")


def test_tiny_cnn_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = igos.load_model("tiny_cnn", "cpu", seed=1), igos.load_model("tiny_cnn", "cpu", seed=1)
    c = igos.load_model("tiny_cnn", "cpu", seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_device_auto_resolves():
    dev = igos.resolve_device("auto")
    assert dev.type == ("cuda" if torch.cuda.is_available() else dev.type)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            igos.resolve_device("cuda")
