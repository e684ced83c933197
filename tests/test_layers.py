"""igos.layers, igos.checks, igos.targets, igos.baselines: the shared machinery."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import igos
from igos.baselines import blur, make_baseline
from igos.checks import check_images
from igos.layers import capture, hook_count, preserved
from igos.targets import as_target


def test_get_layer_by_name_module_and_default(tiny_model):
    assert igos.get_layer(tiny_model, "features.4") is igos.get_layer(tiny_model, "net.features.4")
    assert igos.get_layer(tiny_model, None) is tiny_model.net.features[4]
    assert igos.get_layer(tiny_model, tiny_model.net.fc) is tiny_model.net.fc
    with pytest.raises(ValueError, match="close matches: .*features.4"):
        igos.get_layer(tiny_model, "feature.4")


def test_capture_records_layer_and_removes_hook_even_with_inplace_relu():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True), torch.nn.Flatten(),
                              torch.nn.LazyLinear(2))
    model = igos.wrap(net, device="cpu")
    x = torch.randn(1, 3, 8, 8).clamp(0, 1)
    model(x)
    with capture(model, "0") as store:
        out = model(x)[0, 0]
    a = store.activation
    assert (a < 0).any(), "the pre-ReLU activation must not be overwritten by the in-place ReLU"
    (g,) = torch.autograd.grad(out, a)
    assert g.shape == a.shape and hook_count(model) == 0
    with pytest.raises(RuntimeError):
        with capture(model, "0"):
            raise RuntimeError("boom")
    assert hook_count(model) == 0


def test_preserved_restores_state_after_error(tiny_model):
    tiny_model.train()
    p = next(tiny_model.parameters())
    p.requires_grad_(True)
    p.grad = torch.ones_like(p)
    with pytest.raises(ZeroDivisionError):
        with preserved(tiny_model):
            assert not tiny_model.training and not p.requires_grad
            1 / 0
    assert tiny_model.training and p.requires_grad and torch.equal(p.grad, torch.ones_like(p))


def test_check_images_errors():
    ok = torch.rand(2, 3, 8, 8)
    assert check_images(ok) is ok
    for bad, msg in [(torch.rand(3, 8, 8), "batch dimension"), (torch.rand(2, 1, 8, 8), "3 \\(RGB\\)"),
                     (ok * 3, "must lie in \\[0, 1\\]"), (torch.full((1, 3, 2, 2), float("nan")), "NaN"),
                     (torch.ones(1, 3, 2, 2, dtype=torch.uint8), "float")]:
        with pytest.raises((ValueError, TypeError), match=msg):
            check_images(bad)


def test_as_target(tiny_model, tiny_images):
    assert as_target(4, tiny_images).tolist() == [4, 4, 4]
    assert as_target([1, 2, 3], tiny_images).tolist() == [1, 2, 3]
    assert torch.equal(as_target(None, tiny_images, tiny_model), tiny_model(tiny_images).argmax(1))
    with pytest.raises(ValueError, match="out of range"):
        as_target(10, tiny_images, num_classes=10)
    with pytest.raises(ValueError, match="2 entries but there are 3"):
        as_target([1, 2], tiny_images)


def test_blur_matches_opencv():
    """The I-GOS baseline: cv2.GaussianBlur(img, (51, 51), 50) on a 224x224 image in [0, 1]."""
    import cv2
    img = np.random.default_rng(0).random((224, 224, 3)).astype(np.float32)
    ref = cv2.GaussianBlur(img, (51, 51), 50)
    ours = blur(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - ref).max() < 1e-5


def test_make_baseline_variants():
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(make_baseline("black", x), torch.zeros_like(x))
    assert torch.equal(make_baseline("noise", x, seed=3), make_baseline("noise", x, seed=3))
    assert make_baseline(torch.zeros(3, 1, 1), x).shape == x.shape
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("pink", x)
    with pytest.raises(ValueError, match="does not broadcast"):
        make_baseline(torch.zeros(2, 2), x)


def test_layer_for_grid_picks_the_deepest_convolution_closest_to_the_size(tiny_model):
    from igos.layers import hook_count, layer_for_grid, layer_grids

    grids = layer_grids(tiny_model, 32)
    assert grids and hook_count(tiny_model) == 0
    assert len(set(grids.values())) >= 2            # tiny_cnn downsamples: several grids to choose from
    for size in (64, 32, 16, 8, 3):
        name, grid = layer_for_grid(tiny_model, size, 32)
        best = min(abs(g - size) for g in grids.values())
        assert abs(grid - size) == best and grids[name] == grid
        later = list(grids)[list(grids).index(name) + 1:]
        assert all(grids[n] != grid for n in later)   # the deepest of that grid
