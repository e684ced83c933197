"""The contract every method in ``igos.METHODS`` keeps (see igos/types.py and the style brief, section 3).

Parametrised over the registry, so a newly registered method is checked without editing
this file. ``FAST`` holds small options per method to keep the run short; a method
without an entry runs with its defaults, and options a method does not accept are dropped.
"""
from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import igos
from igos.layers import hook_count

FAST = {
    "integrated_gradients": {"n_steps": 6},
    "rsi_grad_cam": {"n_steps": 6},
    "rise": {"n_masks": 24, "batch_size": 64},
    # the random tiny CNN's probabilities are ~0.1 and their gradients tiny: with the default lambdas the
    # mask stays at rounding level, so the invariance tests run without regularisers, on a mask that moves
    "i_gos": {"resolution": 7, "n_iter": 2, "n_steps": 3, "lambda1": 0.0, "lambda2": 0.0},
    "meaningful_perturbation": {"resolution": 7, "n_iter": 3},
}
NAMES = sorted(igos.METHODS)


def accepts(name: str, option: str) -> bool:
    return option in igos.REGISTRY[name].options


def run(name: str, model, images, target=None, **options):
    fast = {k: v for k, v in FAST.get(name, {}).items() if accepts(name, k)}
    return igos.METHODS[name](model, images, target, **{**fast, **options})


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-12)
    return (a - b).abs().max().item() <= rtol * scale


def test_registry_names_and_flat_api():
    for name in ["gradient", "gradient_x_input", "integrated_gradients", "grad_cam", "grad_cam_plus_plus",
                 "grad_cam_plus", "rsi_grad_cam", "rise", "excitation_backprop"]:
        assert igos.METHODS[name] is getattr(igos, name), name
    for name, fn in igos.METHODS.items():
        params = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in params[:3]] == ["model", "images", "target"], name
        assert params[2].default is None, name
        assert all(p.kind is p.KEYWORD_ONLY for p in params[3:]), f"{name}: options must be keyword-only"
    assert igos.mask is igos.meaningful_perturbation and igos.methods.get("mask") is igos.REGISTRY["meaningful_perturbation"]


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_says_what_the_signature_takes(name):
    """The registry's metadata is declared by hand; it must agree with the function it describes."""
    entry = igos.REGISTRY[name]
    params = set(inspect.signature(entry.fn).parameters)
    assert entry.name == name and entry.options == params - {"model", "images", "target"}
    assert entry.takes_resolution == ("resolution" in params)
    assert entry.takes_layer == ("layer" in params)
    assert entry.seeded == ("seed" in params)
    assert entry.reports == ("callback" in params) and entry.optimises == ("return_history" in params)
    assert entry.grid == igos.methods.Method.of(entry.fn).grid


def test_an_unknown_method_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="known methods: .*i_gos.*aliases: mask"):
        igos.methods.get("igos")


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_device_finite(name, tiny_model, tiny_images):
    out = run(name, tiny_model, tiny_images)
    assert isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[0] == 3
    assert out.shape[1] <= 32 and out.shape[2] <= 32
    assert out.dtype == torch.float32 and out.device == tiny_images.device
    assert not out.requires_grad
    assert torch.isfinite(out).all()
    assert igos.explain(tiny_model, tiny_images, None, method=name, **{
        k: v for k, v in FAST.get(name, {}).items() if accepts(name, k)}).shape == out.shape


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_one_by_one(name, tiny_model, tiny_images):
    target = [1, 4, 7]
    batch = run(name, tiny_model, tiny_images, target)
    single = torch.cat([run(name, tiny_model, tiny_images[i:i + 1], target[i]) for i in range(3)])
    assert close(batch, single), f"{name}: max diff {(batch - single).abs().max():.3g}"


@pytest.mark.parametrize("name", NAMES)
def test_batch_size_invariance(name, tiny_model, tiny_images):
    if not accepts(name, "batch_size"):
        pytest.skip(f"{name} has no batch_size")
    a = run(name, tiny_model, tiny_images, 2)
    b = run(name, tiny_model, tiny_images, 2, batch_size=1)
    c = run(name, tiny_model, tiny_images, 2, batch_size=5)
    assert close(a, b) and close(a, c), f"{name}: {(a - b).abs().max():.3g} {(a - c).abs().max():.3g}"


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_result(name, tiny_model, tiny_images):
    options = {"seed": 3} if accepts(name, "seed") else {}
    a = run(name, tiny_model, tiny_images, 0, **options)
    b = run(name, tiny_model, tiny_images, 0, **options)
    assert torch.equal(a, b)


def test_target_none_is_the_prediction(tiny_model, tiny_images):
    pred = igos.predict(tiny_model, tiny_images)
    for name in NAMES:
        assert torch.equal(run(name, tiny_model, tiny_images), run(name, tiny_model, tiny_images, pred)), name


class Boom(nn.Module):
    """Global average pooling that raises while ``armed``: an error in the middle of a method."""

    armed = False

    def forward(self, x):
        if self.armed:
            raise RuntimeError("boom")
        return x.mean(dim=(2, 3), keepdim=True)


def snapshot(model):
    return ([m.training for m in model.modules()],
            [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
            hook_count(model))


def same_state(model, before) -> bool:
    modes, params, hooks = snapshot(model)
    grads_equal = all(a[0] == b[0] and ((a[1] is None and b[1] is None) or
                                        (a[1] is not None and b[1] is not None and torch.equal(a[1], b[1])))
                      for a, b in zip(params, before[1]))
    return modes == before[0] and grads_equal and hooks == before[2]


@pytest.mark.parametrize("name", NAMES)
def test_model_left_as_found_also_after_errors(name, tiny_images):
    model = igos.load_model("tiny_cnn", device="cpu", seed=0)
    model.net.pool = Boom()
    model.train()
    model.net.features[0].eval()                      # a mixed train/eval state to restore
    model.net.fc.weight.requires_grad_(True)
    model.net.fc.weight.grad = torch.full_like(model.net.fc.weight, 0.5)
    images = tiny_images.clone()
    before = snapshot(model)
    run(name, model, images, 1)
    assert same_state(model, before), name
    assert torch.equal(images, tiny_images), f"{name} changed its input"
    with pytest.raises(ValueError, match="out of range"):
        run(name, model, images, 10)
    assert same_state(model, before), name
    Boom.armed = True
    try:
        with pytest.raises(RuntimeError, match="boom"):
            run(name, model, images, 1)
    finally:
        Boom.armed = False
    assert same_state(model, before), f"{name} did not restore the model after an error inside it"


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_errors(name, tiny_model, tiny_images):
    x = tiny_images
    cases = [
        (x[0], "batch dimension"),
        (x[:, :1], "3 \\(RGB\\)"),
        (x * 2 + 0.5, "\\[0, 1\\]"),
        (torch.where(x > 0.5, torch.tensor(float("nan")), x), "NaN"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            run(name, tiny_model, bad)
    with pytest.raises(ValueError, match="out of range"):
        run(name, tiny_model, x, 10)
    with pytest.raises(ValueError, match="out of range"):
        run(name, tiny_model, x, [0, 1, -1])
    if accepts(name, "layer"):
        with pytest.raises(ValueError, match="close matches: .*features.4"):
            run(name, tiny_model, x, layer="net.featurs.4")
    assert hook_count(tiny_model) == 0
