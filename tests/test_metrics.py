"""Deletion, insertion and the pointing game against independent references.

* A model whose target probability is the mean of its input pixels has deletion and
  insertion curves known in closed form, including through the bilinear upsampling of
  a low-resolution keep-mask (built here from the align_corners=True formula).
* The authors' last-chunk defect (theory brief 8.8) would move the AUC of a linear curve
  away from its exact value; ours is exact.
* The batched implementation equals a plain loop: one image, one step, one forward pass.
* The pointing game agrees with a dense re-implementation of TorchRay's test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import igos
from igos import metrics
from helpers.toymodels import MeanModel, _gen


# ----------------------------------------------------------------------------- closed form
def test_deletion_curve_closed_form_full_resolution():
    # Distinct pixel values; the saliency is the pixel value, so the cells go in decreasing order.
    x = torch.rand(2, 3, 8, 8, generator=_gen(), dtype=torch.float64)
    sal = x.mean(1)
    fr, probs = igos.deletion_curve(MeanModel(), x, sal, target=0, baseline="black", n_steps=10)
    counts = np.arange(11) * 64 // 10                           # floor(j * 64 / 10)
    assert np.allclose(fr.numpy(), counts / 64)
    for i in range(2):
        v = np.sort(sal[i].flatten().numpy())[::-1]
        total = v.sum()
        expected = [(total - v[:c].sum()) / 64 for c in counts]
        assert np.allclose(probs[i].numpy(), expected, atol=1e-12)
        assert metrics.auc(fr, probs)[i].item() == pytest.approx(np.trapezoid(expected, counts / 64), abs=1e-12)


def test_insertion_curve_closed_form_blur_baseline():
    x = torch.rand(1, 3, 8, 8, generator=_gen(1), dtype=torch.float64)
    sal = torch.rand(1, 8, 8, generator=_gen(2), dtype=torch.float64)
    blurred = igos.blur(x).mean(1)[0].flatten().numpy()
    v = x.mean(1)[0].flatten().numpy()
    order = np.argsort(-sal[0].flatten().numpy(), kind="stable")
    fr, probs = igos.insertion_curve(MeanModel(), x, sal, target=0, n_steps=64)   # default baseline: blur
    expected = [(blurred.sum() - blurred[order[:c]].sum() + v[order[:c]].sum()) / 64 for c in range(65)]
    assert np.allclose(probs[0].numpy(), expected, atol=1e-12)
    ins = igos.insertion(MeanModel(), x, sal, target=0, n_steps=64)
    assert ins.item() == pytest.approx(np.trapezoid(expected, np.arange(65) / 64), abs=1e-12)


def _interp_weights(h: int, size: int) -> np.ndarray:
    """1-D bilinear weights ``[size, h]`` of align_corners=True: tent of source cell a at y * (h-1)/(size-1)."""
    pos = np.arange(size) * (h - 1) / (size - 1)
    return np.maximum(0.0, 1.0 - np.abs(pos[:, None] - np.arange(h)[None, :]))


def test_low_resolution_mask_is_upsampled_with_align_corners_true():
    # Image of ones, black baseline: p = mean(up(keep)) = sum_ab keep_ab * cw_a * cw_b / (H W).
    h, size = 4, 16
    x = torch.ones(1, 3, size, size, dtype=torch.float64)
    sal = torch.rand(1, h, h, generator=_gen(3), dtype=torch.float64)
    col = _interp_weights(h, size).sum(0)                       # total weight of each source row/column
    cell_weight = np.outer(col, col).flatten() / size ** 2
    order = np.argsort(-sal[0].flatten().numpy(), kind="stable")
    fr, probs = igos.deletion_curve(MeanModel(), x, sal, target=0, baseline="black", n_steps=100)
    assert len(fr) == h * h + 1                                 # n_steps is capped at the number of cells
    expected = [1 - cell_weight[order[:c]].sum() for c in range(h * h + 1)]
    assert np.allclose(probs[0].numpy(), expected, atol=1e-12)
    # The align_corners=False convention gives other weights, so the test tells the two apart.
    col_false = F.interpolate(torch.eye(h, dtype=torch.float64)[:, None], size=size, mode="linear",
                              align_corners=False)[:, 0].sum(-1).numpy()
    other = [1 - (np.outer(col_false, col_false).flatten() / size ** 2)[order[:c]].sum() for c in range(h * h + 1)]
    assert not np.allclose(probs[0].numpy(), other, atol=1e-3)


def test_ties_row_major_without_seed_and_seeded_random_with_one():
    x = torch.rand(1, 3, 6, 6, generator=_gen(4), dtype=torch.float64)
    v = x.mean(1)[0].flatten().numpy()
    flat = torch.zeros(1, 6, 6, dtype=torch.float64)                # every cell ties
    kw = dict(target=0, baseline="black", n_steps=36)
    _, probs = igos.deletion_curve(MeanModel(), x, flat, seed=None, **kw)
    expected = [(v.sum() - v[:c].sum()) / 36 for c in range(37)]  # cell 0 first, then 1, ...
    assert np.allclose(probs[0].numpy(), expected, atol=1e-12)
    # seeded: the cells go in the order of a permutation drawn from a generator seeded with seed
    order = torch.randperm(36, generator=torch.Generator().manual_seed(5)).numpy()
    _, seeded = igos.deletion_curve(MeanModel(), x, flat, seed=5, **kw)
    expected = [(v.sum() - v[order[:c]].sum()) / 36 for c in range(37)]
    assert np.allclose(seeded[0].numpy(), expected, atol=1e-12)
    assert torch.equal(seeded, igos.deletion_curve(MeanModel(), x, flat, seed=5, **kw).probs)   # reproducible
    assert not torch.allclose(seeded, igos.deletion_curve(MeanModel(), x, flat, seed=6, **kw).probs)
    # distinct values are never reordered by the tie rule; ties only among themselves
    sal = torch.tensor([[3.0, 1.0, 1.0], [1.0, 2.0, 0.0], [1.0, 0.5, 0.5]])[None]
    for seed in range(5):
        r = metrics.cell_ranks(sal, seed)[0].tolist()
        assert r[0] == 0 and r[4] == 1 and r[5] == 8
        assert sorted(r[i] for i in (1, 2, 3, 6)) == [2, 3, 4, 5] and sorted(r[i] for i in (7, 8)) == [6, 7]


def test_tied_share():
    sal = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0], [3.0, 4.0]], [[5.0, 5.0], [5.0, 5.0]]])
    assert metrics.tied_share(sal).tolist() == [0.0, 0.5, 1.0]


def test_stalled():
    assert metrics.stalled(0.9, 0.85) and not metrics.stalled(0.9, 0.5)
    assert metrics.stalled(torch.tensor([0.9, 0.9]), torch.tensor([0.89, 0.1])).tolist() == [True, False]


def _authors_deletion_score(curve_after_each_step, n_cells):
    """IGOS_pp ``metric()`` on a given curve, including its precedence defect on the last chunk."""
    step = max(1, n_cells // 50)
    score, pixels, k = 0.0, 0, 0
    while pixels < n_cells:
        outputs = curve_after_each_step(min(pixels + step, n_cells))
        score += outputs * step if pixels + step < n_cells else n_cells - pixels   # sic, as in their code
        pixels += step
        k += 1
    return score / n_cells


@pytest.mark.parametrize("n_steps", [10, 64])
def test_last_chunk_defect_is_absent(n_steps):
    # Constant image c, black baseline: deleting a fraction f leaves p = c (1 - f), a straight line.
    # The trapezoid rule is exact for it: deletion = insertion = c / 2 for any step layout.
    c, r = 0.6, 8
    x = torch.full((1, 3, r, r), c, dtype=torch.float64)
    sal = torch.rand(1, r, r, generator=_gen(5), dtype=torch.float64)
    dele = igos.deletion(MeanModel(), x, sal, target=0, baseline="black", n_steps=n_steps).item()
    ins = igos.insertion(MeanModel(), x, sal, target=0, baseline="black", n_steps=n_steps).item()
    assert dele == pytest.approx(c / 2, abs=1e-12)
    assert ins == pytest.approx(c / 2, abs=1e-12)
    # The defective formula adds the last chunk's cell count (1 cell here) instead of count x probability.
    authors = _authors_deletion_score(lambda cells: c * (1 - cells / r ** 2), r ** 2)
    right_riemann = sum(c * (1 - k / r ** 2) for k in range(1, r ** 2 + 1)) / r ** 2
    assert authors == pytest.approx(right_riemann + 1 / r ** 2, abs=1e-12)
    assert abs(authors - dele) > 0.5 / r ** 2


def test_curve_end_points_are_the_image_and_the_baseline(tiny_model, tiny_images):
    sal = torch.rand(3, 4, 4, generator=_gen(6))
    p_img = tiny_model(tiny_images).softmax(1)
    p_blur = tiny_model(igos.blur(tiny_images)).softmax(1)
    target = p_img.argmax(1)
    rows = torch.arange(3)
    fr, dele = igos.deletion_curve(tiny_model, tiny_images, sal)
    _, ins = igos.insertion_curve(tiny_model, tiny_images, sal)
    assert fr[0] == 0 and fr[-1] == 1 and len(fr) == 17
    assert torch.allclose(dele[:, 0], p_img[rows, target], atol=1e-6)
    assert torch.allclose(dele[:, -1], p_blur[rows, target], atol=1e-6)
    assert torch.allclose(ins[:, 0], p_blur[rows, target], atol=1e-6)
    assert torch.allclose(ins[:, -1], p_img[rows, target], atol=1e-6)


# ----------------------------------------------------------------------------- batched vs reference
from igos.testing import reference_curve  # noqa: E402  (one image, one step at a time)


@pytest.mark.parametrize("insertion", [False, True])
def test_batched_equals_one_at_a_time_reference(tiny_model, tiny_images, insertion):
    sal = torch.rand(3, 8, 8, generator=_gen(7))
    sal[1, :2] = 0.5                                            # some ties
    target = torch.tensor([1, 4, 7])
    ref = reference_curve(tiny_model, tiny_images, sal, target, insertion=insertion, baseline="blur", n_steps=20)
    fn = igos.insertion_curve if insertion else igos.deletion_curve
    for batch_size in (None, 1, 7, 1000):
        _, probs = fn(tiny_model, tiny_images, sal, target, n_steps=20, batch_size=batch_size)
        assert torch.allclose(probs, ref, atol=1e-6), batch_size
    one = torch.cat([fn(tiny_model, tiny_images[i:i + 1], sal[i:i + 1], target[i:i + 1], n_steps=20).probs
                     for i in range(3)])
    assert torch.allclose(one, ref, atol=1e-6)


def test_insertion_of_a_map_is_deletion_of_its_negative(tiny_model, tiny_images):
    # Without ties and with n_steps dividing h*w, inserting cells in the order of s shows
    # the same images as deleting them in the order of -s, read backwards.
    sal = torch.rand(3, 4, 4, generator=_gen(12))
    fr, ins = igos.insertion_curve(tiny_model, tiny_images, sal, n_steps=8)
    _, dele = igos.deletion_curve(tiny_model, tiny_images, -sal, n_steps=8)
    assert torch.allclose(ins, dele.flip(1), atol=1e-6)
    assert torch.allclose(metrics.auc(fr, ins), metrics.auc(fr, dele), atol=1e-6)


def test_objective_is_the_perturbation_objective():
    import igos.perturbation

    assert metrics.objective is igos.perturbation.objective   # one definition of the I-GOS / Mask loss


def test_baselines_black_grey_and_tensor(tiny_model, tiny_images):
    sal = torch.rand(3, 4, 4, generator=_gen(8))
    black = igos.deletion(tiny_model, tiny_images, sal, 2, baseline="black")
    zeros = igos.deletion(tiny_model, tiny_images, sal, 2, baseline=torch.zeros(3, 32, 32))
    grey = igos.deletion(tiny_model, tiny_images, sal, 2, baseline="grey")
    half = igos.deletion(tiny_model, tiny_images, sal, 2, baseline=0.5)
    assert torch.allclose(black, zeros) and torch.allclose(grey, half)
    assert not torch.allclose(black, grey)


# ----------------------------------------------------------------------------- ordering on a real model
def occlusion_oracle(model, images, target, resolution):
    """Probability drop when one cell alone is blurred (with the metrics' own soft keep-mask).

    A per-cell occlusion oracle: cheap at 4 x 4 (16 forward passes per image) and
    independent of every attribution method in the package.
    """
    n, c = images.shape[0], resolution ** 2
    keep = 1 - torch.eye(c).view(c, 1, resolution, resolution)
    keep = F.interpolate(keep, size=images.shape[-2:], mode="bilinear", align_corners=True)
    base = igos.blur(images)
    with torch.no_grad():
        p0 = model(images).softmax(1)[torch.arange(n), target]
        drops = [p0[i] - model(torch.lerp(base[i:i + 1], images[i:i + 1], keep)).softmax(1)[:, target[i]]
                 for i in range(n)]
    return torch.stack(drops).view(n, resolution, resolution)


def test_perfect_beats_random_beats_inverted_on_the_embedded_model(lite0, embedded):
    # Two photos whose object the model recognises with confidence (coffee mug p = 0.95,
    # motorcycle p = 0.49 at 224 x 224); 4 x 4 maps and 4 steps keep this CPU test short.
    data = embedded[["coffee", "motorcycle"]]
    images, target = data.images, data.labels
    oracle = occlusion_oracle(lite0, images, target, 4)
    random = torch.rand(2, 4, 4, generator=_gen(0))
    stacked = torch.cat([oracle, random, -oracle])              # rows: oracle x2, random x2, inverted x2
    imgs, tgt = images.repeat(3, 1, 1, 1), target.repeat(3)
    dele = igos.deletion(lite0, imgs, stacked, tgt, n_steps=4, batch_size=64).view(3, 2)
    ins = igos.insertion(lite0, imgs, stacked, tgt, n_steps=4, batch_size=64).view(3, 2)
    assert (dele[0] < dele[1]).all() and (dele[1] < dele[2]).all(), dele
    assert (ins[0] > ins[1]).all() and (ins[1] > ins[2]).all(), ins


# ----------------------------------------------------------------------------- pointing game
def torchray_pointing(saliency, boxes, size, tolerance):
    """Dense re-implementation of TorchRay's PointingGame.evaluate on box masks."""
    hits = []
    for s, b in zip(saliency, boxes):
        up = F.interpolate(s[None, None].float(), size=(size, size), mode="bilinear", align_corners=False)[0, 0]
        v, u = divmod(int(torch.argmax(up.flatten())), size)
        ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
        mask = (xs >= b[0]) & (xs <= b[2]) & (ys >= b[1]) & (ys <= b[3])
        rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        accept = ((rows - v) ** 2 + (cols - u) ** 2) < tolerance ** 2
        hits.append(bool((mask & accept).any()) or bool(mask[v, u]))
    return torch.tensor(hits)


def test_pointing_game_hand_made_maps():
    sal = torch.zeros(5, 100, 100)
    sal[0, 50, 50] = 1          # inside the box
    sal[1, 50, 79] = 1          # 10 px right of the box (columns 40..69 are inside)
    sal[2, 50, 85] = 1          # 16 px right
    sal[3, 82, 82] = 1          # 13 px right and below: distance 18.4 > 15
    sal[4, 10, 10] = 1          # far away
    boxes = torch.tensor([[40.0, 40.0, 70.0, 70.0]]).repeat(5, 1)
    hits = igos.pointing_game(sal, boxes, image_size=100)
    assert hits.tolist() == [True, True, False, False, False]
    assert igos.pointing_game(sal, boxes, image_size=100, tolerance=5).tolist() == [True, False, False, False, False]
    assert igos.pointing_game(sal[:1], boxes[:1], image_size=100, tolerance=0).tolist() == [True]
    # Several boxes: a hit on any instance counts.
    several = [torch.tensor([[40.0, 40.0, 70.0, 70.0]])] * 4 + [torch.tensor([[40.0, 40, 70, 70], [0, 0, 20, 20]])]
    assert igos.pointing_game(sal, several, image_size=100)[4]


def test_pointing_game_low_resolution_map_and_ties():
    sal = torch.zeros(1, 7, 7)
    sal[0, 6, 6] = 1                      # bottom-right cell -> bottom-right corner of the 224 image
    assert igos.pointing_game(sal, torch.tensor([[200.0, 200.0, 224.0, 224.0]])).tolist() == [True]
    assert igos.pointing_game(sal, torch.tensor([[0.0, 0.0, 150.0, 150.0]])).tolist() == [False]
    flat = torch.ones(1, 7, 7)            # all tied: the first pixel (0, 0) is the maximum
    assert igos.pointing_game(flat, torch.tensor([[0.0, 0.0, 5.0, 5.0]])).tolist() == [True]
    assert igos.pointing_game(flat, torch.tensor([[100.0, 100.0, 120.0, 120.0]])).tolist() == [False]


def test_pointing_game_matches_dense_torchray_reference():
    g = _gen(10)
    sal = torch.rand(40, 7, 7, generator=g)
    xy = torch.rand(40, 2, generator=g) * 60
    wh = torch.rand(40, 2, generator=g) * 30
    boxes = torch.cat([xy, (xy + wh).clamp(max=64)], 1)
    for tol in (1, 4, 15):
        ours = igos.pointing_game(sal, boxes, image_size=64, tolerance=tol)
        assert torch.equal(ours, torchray_pointing(sal, boxes, 64, tol)), tol


def test_pointing_accuracy_is_a_mean_over_classes():
    score = metrics.pointing_accuracy([True, False, True, True], [1, 1, 2, 2])
    assert score.per_class == {1: 0.5, 2: 1.0}
    assert score.accuracy == pytest.approx(0.75)
    assert score.overall == pytest.approx(0.75) and score.hits == 3 and score.total == 4
    score = metrics.pointing_accuracy([True, False, False], [1, 1, 2])
    assert score.accuracy == pytest.approx(0.25) and score.overall == pytest.approx(1 / 3)


# ----------------------------------------------------------------------------- bad input
def test_errors(tiny_model, tiny_images):
    with pytest.raises(ValueError, match=r"shape \[N, h, w\]"):
        igos.deletion(tiny_model, tiny_images, torch.rand(3, 8))
    with pytest.raises(ValueError, match="2 maps but there are 3 images"):
        igos.insertion(tiny_model, tiny_images, torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="larger than the images"):
        igos.deletion(tiny_model, tiny_images, torch.rand(3, 64, 64))
    bad = torch.rand(3, 8, 8)
    bad[1, 2, 3] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        igos.deletion(tiny_model, tiny_images, bad)
    with pytest.raises(ValueError, match="NaN"):
        igos.pointing_game(bad, torch.tensor([[0.0, 0, 10, 10]] * 3), image_size=32)
    with pytest.raises(ValueError, match="n_steps"):
        igos.deletion(tiny_model, tiny_images, torch.rand(3, 8, 8), n_steps=0)
    with pytest.raises(ValueError, match="baseline"):
        igos.deletion(tiny_model, tiny_images, torch.rand(3, 8, 8), baseline="purple")
    with pytest.raises(ValueError, match="outside"):
        igos.pointing_game(torch.rand(1, 7, 7), torch.tensor([[10.0, 10.0, 230.0, 100.0]]))
    with pytest.raises(ValueError, match="outside"):
        igos.pointing_game(torch.rand(1, 7, 7), torch.tensor([[-3.0, 10.0, 30.0, 100.0]]))
    with pytest.raises(ValueError, match="x1 < x0"):
        igos.pointing_game(torch.rand(1, 7, 7), torch.tensor([[50.0, 10.0, 30.0, 100.0]]))
    with pytest.raises(ValueError, match="no known box"):
        igos.pointing_game(torch.rand(1, 7, 7), torch.full((1, 4), math.nan))
    with pytest.raises(ValueError, match="2 entries but there are 1"):
        igos.pointing_game(torch.rand(1, 7, 7), torch.tensor([[0.0, 0, 5, 5], [0, 0, 5, 5]]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(tiny_model, tiny_images):
    sal = torch.rand(3, 8, 8, generator=_gen(11))
    cpu = igos.deletion_curve(tiny_model, tiny_images, sal, n_steps=16).probs
    gpu = igos.deletion_curve(tiny_model.cuda(), tiny_images.cuda(), sal.cuda(), n_steps=16).probs
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)
