"""I-GOS: Proposition 1, the revised Armijo line search, batching, seeds, ablations and errors."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

import igos
from helpers.toymodels import spot_images
from igos.methods.i_gos import IGOSProblem, _line_search, candidate_steps, default_lambdas, direction, i_gos
from igos.perturbation import objective, regularizer


class SpotModel(nn.Module):
    """Four classes. Class 0 grows with the brightness of the 8 x 8 patch at rows/cols 8:16
    (read by a strided convolution, so bf16 autocast touches it); class 3 is hopeless (p ~ 1e-13)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 8, stride=8, bias=False)
        nn.init.constant_(self.conv.weight, 1 / 192)
        self.conv.weight.requires_grad_(False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.5))   # noise scale as for an ImageClassifier

    def forward(self, x):
        cells = self.conv(x)[:, 0]                                  # [N, 4, 4] patch means
        z0 = 10 * torch.tanh(cells[:, 1, 1] - 0.45) + 3 * (cells[:, 1, 2] - 0.3) ** 2
        zero = torch.zeros_like(z0)
        return torch.stack([z0, zero, zero + 0.5, zero - 30], 1)


class QuadraticProb(nn.Module):
    """Two classes whose softmax gives class 0 the probability q(x) = q0 + 1/2 (x-b)' H (x-b) exactly
    (logits log q and log(1 - q)): a quadratic score whose optimum is the baseline b."""

    def __init__(self, baseline, curvature, q0=0.2):
        super().__init__()
        self.register_buffer("b", baseline)
        self.register_buffer("h", curvature)
        self.q0 = q0

    def forward(self, x):
        q = self.q0 + 0.5 * (self.h * (x - self.b) ** 2).flatten(1).sum(1)
        return torch.stack([q.log(), torch.log1p(-q)], 1)


# small and fast; lambda2 = 20 would forbid any hole in an 8 x 8 mask (TV is a mean over 56 differences)
FAST = dict(resolution=8, n_iter=4, n_steps=5, lambda1=0.5, lambda2=2.0)


# ----------------------------------------------------------------------------- Proposition 1
@pytest.mark.parametrize("n_steps", [1, 5, 20])
@pytest.mark.parametrize("lambdas", [(0.0, 0.0), (1.0, 20.0)])
def test_direction_is_scaled_gradient_on_quadratic(n_steps, lambdas):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    b = torch.rand(1, 3, 8, 8, generator=gen, dtype=torch.float64)
    model = QuadraticProb(b, 0.005 * torch.rand(1, 3, 8, 8, generator=gen, dtype=torch.float64))
    mask = torch.rand(2, 4, 4, generator=gen, dtype=torch.float64)
    lam1, lam2 = lambdas
    tg = direction(model, x, mask, 0, lambda1=lam1, lambda2=lam2, n_steps=n_steps, noise=0.0, baseline=b)
    # plain gradient of the data term, and of the regularisers, by autograd
    m = mask.clone().requires_grad_(True)
    (g_data,) = torch.autograd.grad(objective(model, x, m, 0, lambda1=0, lambda2=0, baseline=b).sum(), m)
    (g_reg,) = torch.autograd.grad(regularizer(m, lam1, lam2).sum() + 0 * m.sum(), m)
    factor = (n_steps + 1) * (2 * n_steps + 1) / (6 * n_steps ** 2)    # 1/S sum (s/S)^2
    torch.testing.assert_close(tg, factor * g_data + g_reg, rtol=1e-10, atol=1e-13)
    if n_steps == 20:
        assert factor == pytest.approx(0.35875)


def test_direction_with_one_step_is_the_plain_gradient(tiny_model, tiny_images):
    mask = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(3))
    tg = direction(tiny_model, tiny_images, mask, 2, lambda1=1.0, lambda2=20.0, n_steps=1, noise=0.0)
    m = mask.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(objective(tiny_model, tiny_images, m, 2, lambda1=1.0, lambda2=20.0).sum(), m)
    torch.testing.assert_close(tg, g, rtol=1e-4, atol=1e-9)


# ----------------------------------------------------------------------------- line search
def sequential_step(model, image, mask, tg, loss, target, *, lambda1, lambda2, step_max, step_min, decay, c):
    """Algorithm 1 for one image, one trial at a time (the reference)."""
    g2 = float((tg ** 2).sum())
    a = step_max
    while a >= step_min * (1 - 1e-12):
        trial = (mask - a * tg).clamp(0, 1)
        f = float(objective(model, image, trial[None], target, lambda1=lambda1, lambda2=lambda2)[0])
        if f <= float(loss) - c * a * g2:
            return a
        a *= decay
    return step_min


def test_batched_line_search_equals_sequential_backtracking():
    model, x = SpotModel(), spot_images(4)
    target = torch.zeros(4, dtype=torch.long)
    lam1, lam2 = 0.5, 2.0
    sal = i_gos(model, x, 0, resolution=8, n_iter=2, n_steps=5, lambda1=lam1, lambda2=lam2)
    gen = torch.Generator().manual_seed(5)
    masks = [torch.ones(4, 8, 8), 1 - sal, (1 - sal) * torch.rand(4, 8, 8, generator=gen)]
    kw = dict(step_min=1e-5, decay=0.2, armijo_c=1e-4)
    accepted = set()
    for mask in masks:
        tg = direction(model, x, mask, 0, lambda1=lam1, lambda2=lam2, n_steps=5, noise=0.2, seed=1)
        loss = objective(model, x, mask, target, lambda1=lam1, lambda2=lam2).detach()
        for step_max in (1000.0, 30.0):
            ref = [sequential_step(model, x[i:i + 1], mask[i], tg[i], loss[i], 0, lambda1=lam1, lambda2=lam2,
                                   step_max=step_max, step_min=1e-5, decay=0.2, c=1e-4) for i in range(4)]
            accepted.update(ref)
            for batch_size in (None, 1, 3):
                problem = IGOSProblem(model, x, target, baseline=None, lambda1=lam1, lambda2=lam2, tv_beta=2,
                                   batch_size=batch_size, precision="fp32")
                step, new_mask, new_loss, ok, n_eval = _line_search(problem.endpoint, mask, tg, loss,
                                                                   step_max=step_max, batch_size=batch_size, **kw)
                assert step.tolist() == pytest.approx(ref, rel=1e-6)     # float32 steps vs Python floats
                torch.testing.assert_close(new_mask, (mask - step.view(-1, 1, 1) * tg).clamp(0, 1))
                torch.testing.assert_close(
                    new_loss, objective(model, x, new_mask, target, lambda1=lam1, lambda2=lam2), rtol=0, atol=1e-6)
                cands = candidate_steps(step_max, 1e-5, 0.2)
                n_cand = len(cands)
                first = [min(range(n_cand), key=lambda j: abs(math.log(cands[j] / a))) for a in step.tolist()]
                if batch_size is None:
                    assert n_eval == 4 * n_cand                      # every candidate in one pass
                elif batch_size == 1:
                    assert n_eval == sum(j + 1 for j in first)       # exactly the sequential trials
    assert len(accepted) >= 3, accepted                              # the cases exercise different steps


def testcandidate_steps():
    assert candidate_steps(1000, 1e-5, 0.2)[:3] == [1000, 200, 40]
    steps = candidate_steps(1000, 1e-5, 0.2)
    assert steps[-2] >= 1e-5 > steps[-2] * 0.2 and steps[-1] == 1e-5


@pytest.mark.parametrize("line_search_loss", ["paper", "path"])
def test_every_accepted_step_satisfies_condition_8(line_search_loss):
    model, x = SpotModel(), spot_images(3)
    seen = []
    sal, hist = i_gos(model, x, 0, **FAST, line_search_loss=line_search_loss, return_history=True,
                      callback=lambda k, loss, mask: seen.append((k, loss.clone(), mask.clone())))
    rhs = hist["ls_before"] - 1e-4 * hist["step"] * hist["grad_sq"]
    above_min = hist["step"] > 1e-5 * (1 + 1e-9)
    assert above_min.any()
    assert hist["armijo"][above_min].all()                                   # accepted => (8) held
    assert (hist["ls_after"][above_min] <= rhs[above_min]).all()
    assert (hist["armijo"] == (hist["ls_after"] <= rhs)).all()
    if line_search_loss == "paper":                                          # line search on F itself
        torch.testing.assert_close(hist["ls_before"], hist["objective"][:-1])
        torch.testing.assert_close(hist["ls_after"], hist["objective"][1:])
        assert (hist["objective"][1:] <= hist["objective"][:-1] + 1e-7).all()  # monotone descent
    # the callback saw every iteration: noiseless objective and the mask
    assert [k for k, _, _ in seen] == list(range(FAST["n_iter"]))
    torch.testing.assert_close(torch.stack([loss for _, loss, _ in seen]), hist["objective"][1:])
    torch.testing.assert_close(1 - seen[-1][2], sal)
    assert hist["objective"][-1].mean() < hist["objective"][0].mean() - 0.05    # it optimises


def test_finds_the_spot():
    model, x = SpotModel(), spot_images(3)
    sal = i_gos(model, x, 0, resolution=8, n_iter=8, n_steps=10, lambda1=0.5, lambda2=2.0)
    assert sal.shape == (3, 8, 8) and sal.dtype == torch.float32
    assert (sal >= 0).all() and (sal <= 1).all()
    inside = sal[:, 2:4, 2:4].mean((1, 2))
    outside = (sal.sum((1, 2)) - sal[:, 2:4, 2:4].sum((1, 2))) / 60
    assert (inside > outside + 0.3).all(), (inside, outside)


# ----------------------------------------------------------------------------- batching and seeds
def test_batch_equals_images_alone_and_batch_size_invariance():
    model, x = SpotModel(), spot_images(3)
    full = i_gos(model, x, 0, **FAST)
    alone = torch.cat([i_gos(model, x[i:i + 1], 0, **FAST) for i in range(3)])
    torch.testing.assert_close(full, alone, rtol=0, atol=1e-5)
    for batch_size in (1, 4, 7):
        torch.testing.assert_close(i_gos(model, x, 0, **FAST, batch_size=batch_size), full, rtol=0, atol=1e-5)


def test_batch_equals_alone_on_tiny_cnn(tiny_model, tiny_images):
    kw = dict(FAST, n_iter=2)
    full = i_gos(tiny_model, tiny_images, **kw, batch_size=6)
    alone = torch.cat([i_gos(tiny_model, tiny_images[i:i + 1], **kw) for i in range(3)])
    torch.testing.assert_close(full, alone, rtol=0, atol=1e-5)


def test_seed():
    model, x = SpotModel(), spot_images(2)
    a = i_gos(model, x, 0, **FAST, seed=3)
    assert torch.equal(a, i_gos(model, x, 0, **FAST, seed=3))
    assert not torch.equal(a, i_gos(model, x, 0, **FAST, seed=4))
    quiet = i_gos(model, x, 0, **FAST, noise=0.0, seed=3)            # no noise: the seed is irrelevant
    assert torch.equal(quiet, i_gos(model, x, 0, **FAST, noise=0.0, seed=4))
    g = torch.random.get_rng_state()
    i_gos(model, x, 0, **FAST)
    assert torch.equal(g, torch.random.get_rng_state())             # the global RNG is untouched


def test_contract_on_tiny_cnn(tiny_model, tiny_images):
    before = [(p.requires_grad, p.grad) for p in tiny_model.parameters()]
    sal = igos.i_gos(tiny_model, tiny_images, resolution=4, n_iter=2, n_steps=3)
    assert sal.shape == (3, 4, 4) and sal.dtype == torch.float32 and torch.isfinite(sal).all()
    assert igos.METHODS["i_gos"] is i_gos
    assert [(p.requires_grad, p.grad) for p in tiny_model.parameters()] == before
    assert not tiny_model.training


# ----------------------------------------------------------------------------- ablations, precision
def test_ablations():
    model, x = SpotModel(), spot_images(2)
    sal, h = i_gos(model, x, 0, **FAST, return_history=True)
    torch.testing.assert_close(h["objective"][-1] - h["prob"][-1], regularizer(1 - sal, 0.5, 2.0))
    sal_tv, h_tv = i_gos(model, x, 0, **FAST, tv=False, return_history=True)    # no TV term in F
    torch.testing.assert_close(h_tv["objective"][-1] - h_tv["prob"][-1], 0.5 * sal_tv.flatten(1).mean(1))
    _, h_fixed = i_gos(model, x, 0, **FAST, step_rule="fixed", step_size=3.0, return_history=True)
    assert (h_fixed["step"] == 3.0).all() and (h_fixed["n_trials"] == 0).all()


def test_adapt_lambda1_only_for_stuck_images():
    class Frozen(nn.Module):                      # the score cannot move: the original code's rescue fires
        def forward(self, x):
            return torch.tensor([[1.0, 0.0]]).expand(x.shape[0], 2) + 0 * x.mean()

    kw = dict(resolution=4, n_iter=5, n_steps=2, lambda1=0.5, lambda2=2.0, adapt_lambda1=True, return_history=True)
    with pytest.raises(ValueError, match="tol"):
        i_gos(Frozen(), spot_images(2), 0, **kw, tol=1e-3)
    _, h = i_gos(Frozen(), spot_images(2), 0, **kw)
    # checks after iteration int(5 / 2) = 2 (moved <= 0.001: / 10) and int(5 / 1.25) = 4 (<= 0.01: / 5)
    assert h["lambda1"][:, 0].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.05, 0.05, 0.01])
    sal, h = i_gos(SpotModel(), spot_images(2), 0, **kw)
    assert (h["lambda1"] == 0.5).all()                                      # it moved: lambda1 kept
    torch.testing.assert_close(h["objective"][-1], objective(SpotModel(), spot_images(2), 1 - sal, 0,
                                                             lambda1=0.5, lambda2=2.0))


def test_bf16_close_to_fp32():
    model, x = SpotModel(), spot_images(2)
    s32, h32 = i_gos(model, x, 0, **FAST, return_history=True)
    s16, h16 = i_gos(model, x, 0, **FAST, precision="bf16", return_history=True)
    assert (s32 - s16).abs().mean() < 0.05
    assert (h32["objective"][-1] - h16["objective"][-1]).abs().max() < 0.02


# ----------------------------------------------------------------------------- errors and warnings
def test_bad_inputs(tiny_model, tiny_images):
    for r in (0, -3, 33):
        with pytest.raises(ValueError, match="resolution"):
            i_gos(tiny_model, tiny_images, resolution=r)
    with pytest.raises(TypeError, match="resolution"):
        i_gos(tiny_model, tiny_images, resolution=7.5)
    with pytest.raises(ValueError, match="lambda1"):
        i_gos(tiny_model, tiny_images, lambda1=-1)
    with pytest.raises(ValueError, match="lambda2"):
        i_gos(tiny_model, tiny_images, lambda2=-0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        i_gos(tiny_model, tiny_images * 2 - 1)
    for kwargs in (dict(step_rule="wolfe"), dict(line_search_loss="noisy"), dict(precision="fp16"), dict(decay=1.5),
                   dict(step_min=0.0), dict(n_steps=0), dict(noise=-0.1), dict(n_iter=-1)):
        with pytest.raises(ValueError):
            i_gos(tiny_model, tiny_images, **kwargs)


def test_warns_when_target_probability_is_about_zero():
    model, x = SpotModel(), spot_images(2)
    with pytest.warns(RuntimeWarning, match="probability"):
        i_gos(model, x, 3, resolution=4, n_iter=1, n_steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        i_gos(model, x, 0, resolution=4, n_iter=1, n_steps=2)


def test_default_lambdas():
    assert default_lambdas(28, "paper") == (1.0, 20.0) and default_lambdas(14, "paper") == (1.0, 20.0)
    assert default_lambdas(30) == default_lambdas(28) and default_lambdas(28) != default_lambdas(28, "paper")
    with pytest.raises(ValueError, match="preset"):
        default_lambdas(28, "vgg")
    assert all(v[0] >= 0 and v[1] >= 0 for v in map(default_lambdas, (1, 7, 56, 112, 224, 500)))


# ----------------------------------------------------------------------------- the embedded model
def test_embedded_photo_objective_drops(lite0, embedded):
    x = embedded.images[[embedded.names.index("motorcycle")]]
    sal, hist = i_gos(lite0, x, resolution=28, n_iter=2, n_steps=8, batch_size=8, return_history=True)
    obj = hist["objective"][:, 0]
    assert (hist["step"] > 1e-5).all() and hist["armijo"].all()
    assert (obj[1:] < obj[:-1]).all() and obj[-1] < obj[0] - 1e-3, obj
    assert sal.shape == (1, 28, 28) and math.isfinite(float(sal.sum()))


# ----------------------------------------------------------------------------- presets, stop, batching
def test_presets_and_explicit_overrides():
    model, x = SpotModel(), spot_images(2)
    _, h = i_gos(model, x, 0, resolution=8, n_iter=2, n_steps=2, return_history=True)
    assert (h["settings"]["lambda1"], h["settings"]["lambda2"]) == default_lambdas(8)
    assert h["settings"]["noise"] == 0.09 and h["settings"]["tol"] == 1e-3 and h["settings"]["preset"] == "default"
    _, h = i_gos(model, x, 0, resolution=8, n_iter=2, n_steps=2, preset="paper", noise=0.0, return_history=True)
    assert (h["settings"]["lambda1"], h["settings"]["lambda2"]) == default_lambdas(8, "paper")
    assert h["settings"]["noise"] == 0.0 and h["settings"]["tol"] is None
    with pytest.raises(ValueError, match="preset"):
        i_gos(model, x, 0, resolution=8, preset="fast")
    with pytest.raises(ValueError, match="tol"):
        i_gos(model, x, 0, resolution=8, tol=-1.0)


def test_convergence_stop_freezes_each_image_and_matches_a_run_cut_there():
    """With tol, an image stops after two iterations that lowered F by < tol; its mask is the one it had then."""
    model, x = SpotModel(), spot_images(3)
    kw = dict(resolution=8, n_steps=5, lambda1=0.5, lambda2=2.0, noise=0.0, return_history=True)
    _, full = i_gos(model, x, 0, n_iter=12, tol=None, **kw)
    sal, hist = i_gos(model, x, 0, n_iter=12, tol=0.01, **kw)
    obj = full["objective"]                                       # [13, N]
    for i in range(3):
        dec = (obj[:-1, i] - obj[1:, i]) < 0.01
        k = next((j + 1 for j in range(1, 12) if dec[j] and dec[j - 1]), 12)   # iterations until the stop
        assert int(hist["iterations"][i]) == k
        assert float(hist["objective"][-1, i]) == pytest.approx(float(obj[k, i]), abs=1e-6)
    assert (hist["iterations"] < 12).any()


def test_default_batch_size_is_bounded_on_cpu(monkeypatch):
    from igos import batching

    seen = []
    model, x = SpotModel(), spot_images(3)
    original = model.forward
    monkeypatch.setattr(model, "forward", lambda z: seen.append(z.shape[0]) or original(z))
    i_gos(model, x, 0, resolution=4, n_iter=1, n_steps=20)
    assert max(seen) <= batching.CPU_BATCH_SIZE and batching.auto_batch_size(x) == batching.CPU_BATCH_SIZE
