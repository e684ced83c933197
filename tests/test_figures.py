"""The figure helpers: perturbed_at, igos.book.figures and the comparison / panels plots.

* ``perturbed_at`` gives exactly the image and probability of a point of the deletion /
  insertion curve, and the closed form on a model whose probability is the pixel mean.
* ``compare`` runs each method once and its curves; ``select`` / ``concat`` / ``rows`` keep
  images and methods aligned; ``lowest`` finds the failure row.
* The map statistics of Figures 10-11 on hand-made maps.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import igos  # noqa: E402
import igos.book.figures as fig_  # noqa: E402
from igos import metrics  # noqa: E402
from helpers.toymodels import MeanModel, _gen  # noqa: E402


# ----------------------------------------------------------------------------- perturbed_at
@pytest.mark.parametrize("insertion", [False, True])
@pytest.mark.parametrize("res", [32, 8, 5])
def test_perturbed_at_equals_curve_points(tiny_model, tiny_images, insertion, res):
    sal = torch.rand(3, res, res, generator=_gen(res))
    steps = 10
    curve = (igos.insertion_curve if insertion else igos.deletion_curve)(tiny_model, tiny_images, sal, n_steps=steps)
    s = min(steps, res * res)
    for j in range(s + 1):
        out = metrics.perturbed_at(tiny_model, tiny_images, sal, j / s, insertion=insertion)
        assert out.fraction == pytest.approx(float(curve.fractions[j]))
        assert torch.allclose(out.probs, curve.probs[:, j], atol=1e-6)
        assert out.images.shape == tiny_images.shape


def test_perturbed_at_closed_form_and_ends():
    x = torch.rand(2, 3, 8, 8, generator=_gen(3), dtype=torch.float64)
    sal = x.mean(1)                                           # most salient = brightest cell
    out = metrics.perturbed_at(MeanModel(), x, sal, 0.25, target=0, baseline="black")
    for i in range(2):
        v = np.sort(sal[i].flatten().numpy())[::-1]
        assert out.probs[i].item() == pytest.approx(v[16:].sum() / 64, abs=1e-12)   # 16 brightest removed
    ins = metrics.perturbed_at(MeanModel(), x, sal, 0.25, target=0, baseline="black", insertion=True)
    assert torch.allclose(ins.probs + out.probs, x.mean(dim=(1, 2, 3)))
    # fraction 0: deletion is the image, insertion the baseline; fraction 1 the opposite
    assert torch.equal(metrics.perturbed_at(MeanModel(), x, sal, 0.0, target=0).images, x)
    assert torch.equal(metrics.perturbed_at(MeanModel(), x, sal, 1.0, target=0, insertion=True).images, x)
    assert torch.allclose(metrics.perturbed_at(MeanModel(), x, sal, 1.0, target=0, baseline="black").images,
                          torch.zeros_like(x))
    with pytest.raises(ValueError):
        metrics.perturbed_at(MeanModel(), x, sal, 1.5, target=0)


# ----------------------------------------------------------------------------- compare
def _methods():
    return {"grad": ("gradient", {}),
            "I-GOS 4": ("i_gos", {"resolution": 4, "n_iter": 2, "n_steps": 3}),
            "Mask 4": ("mask", {"resolution": 4, "n_iter": 3})}


def test_figure_methods_labels():
    specs = fig_.figure_methods((224, 7), i_gos={"n_iter": 3}, mask={"n_iter": 5}, rise={"n_masks": 10},
                                no_noise=(224,))
    assert list(specs) == ["IG", "Grad-CAM", "Excitation BP", "RISE", "Mask 224", "I-GOS 224", "Mask 7", "I-GOS 7",
                           "I-GOS 224 no noise"]
    assert specs["I-GOS 224 no noise"] == ("i_gos", {"resolution": 224, "n_iter": 3, "noise": 0.0})
    assert specs["Mask 7"] == ("meaningful_perturbation", {"resolution": 7, "n_iter": 5})
    assert specs["IG"][1]["baseline"] == "grey"
    assert set(n for n, _ in specs.values()) <= set(igos.METHODS)


def test_compare_matches_direct_calls(tiny_model, tiny_images):
    comp = fig_.side_by_side(tiny_model, tiny_images, None, _methods(), names=["a", "b", "c"], n_steps=8)
    target = igos.predict(tiny_model, tiny_images)
    assert torch.equal(comp.target, target)
    direct = igos.i_gos(tiny_model, tiny_images, target, resolution=4, n_iter=2, n_steps=3)
    assert torch.allclose(comp.maps["I-GOS 4"], direct)
    ins = igos.insertion(tiny_model, tiny_images, direct, target, n_steps=8)
    assert torch.allclose(comp.auc("I-GOS 4", "insertion"), ins, atol=1e-6)
    rows = comp.rows()
    assert len(rows) == 9
    row = [r for r in rows if r["image"] == "b" and r["method"] == "Mask 4"][0]
    assert row["resolution"] == 4 and row["method_name"] == "mask" and row["map_size"] == [4, 4]
    assert row["deletion"] == pytest.approx(comp.auc("Mask 4", "deletion")[1].item())
    assert [r["resolution"] for r in rows if r["method"] == "grad"] == [None] * 3
    table = comp.table()
    assert list(table.columns) == ["image", "method", "map_size", "deletion", "insertion", "seconds"]

    sub = comp.select(["Mask 4", "grad"], images=[2, 0])
    assert sub.names == ["c", "a"] and list(sub.maps) == ["Mask 4", "grad"]
    assert torch.equal(sub.maps["grad"], comp.maps["grad"][[2, 0]])
    assert torch.equal(sub.insertion["grad"].probs, comp.insertion["grad"].probs[[2, 0]])
    assert torch.equal(sub.p_target, comp.p_target[[2, 0]])
    with pytest.raises(KeyError):
        comp.select(["nope"])

    both = fig_.concat([comp.select(images=[0]), comp.select(images=[1, 2])])
    assert both.names == comp.names
    for k in comp.maps:
        assert torch.equal(both.maps[k], comp.maps[k])
        assert torch.equal(both.deletion[k].probs, comp.deletion[k].probs)
    with pytest.raises(ValueError):
        fig_.concat([comp, comp.select(["grad"])])

    fig = comp.plot(["grad", "I-GOS 4"], images=[0, 1])
    assert len(fig.axes) == 2 * 2 * 3 + 2 * 2          # + a colour bar (the raw value range) per map panel
    legends = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("deletion") for t in legends) and any(t.startswith("insertion") for t in legends)
    plt.close(fig)


def test_lowest():
    rows = [{"method": "i_gos", "resolution": 28, "insertion": 0.4, "image": "a"},
            {"method": "i_gos", "resolution": 224, "insertion": 0.2, "image": "b"},
            {"method": "i_gos", "resolution": 28, "insertion": None, "image": "c"},
            {"method": "mask", "resolution": 28, "insertion": 0.1, "image": "d"}]
    assert fig_.lowest(rows, method="i_gos")["image"] == "b"
    assert fig_.lowest(rows, method="i_gos", resolution=28)["image"] == "a"
    assert fig_.lowest(rows)["image"] == "d"
    with pytest.raises(ValueError):
        fig_.lowest(rows, method="rise")


# ----------------------------------------------------------------------------- panels
def test_ratio_panels(tiny_model, tiny_images):
    sal = torch.rand(3, 4, 4, generator=_gen(5))
    rows = fig_.ratio_panels(tiny_model, tiny_images, sal, deletion=(0.25,), insertion=(0.25, 0.5))
    assert len(rows) == 3 and all(len(r) == 4 for r in rows)
    want = metrics.perturbed_at(tiny_model, tiny_images, sal, 0.5, insertion=True)
    image, caption = rows[1][3]
    assert torch.equal(image, want.images[1]) and caption == f"insertion 50%\np={want.probs[1].item():.2f}"
    assert rows[0][1][1].startswith("deletion 25%")
    assert len(fig_.ratio_panels(tiny_model, tiny_images, sal, insertion=(0.1,), original=False)[0]) == 1
    fig = igos.plotting.panels(rows, row_labels=["a", "b", "c"])
    assert len(fig.axes) == 12
    plt.close(fig)


# ----------------------------------------------------------------------------- map statistics
def test_border_share_and_peak():
    s = torch.zeros(2, 7, 7)
    s[0, 3, 3] = 1.0              # centre peak
    s[1, 0, 6] = 1.0              # corner peak
    s[1, 3, 3] = 0.5
    assert fig_.border_share(s).tolist() == pytest.approx([0.0, 1 / 1.5])
    assert fig_.peak_on_border(s).tolist() == [False, True]


def test_border_share_uniform_is_area():
    s = torch.ones(1, 7, 7)
    s[0, 0, 0] = 0.0                            # min 0, the rest 1: share = (24 - 1) / 48
    assert fig_.border_share(s).item() == pytest.approx(23 / 48)


def test_box_share():
    s = torch.zeros(2, 4, 4)
    s[:, 0, 0] = 1.0                           # top-left cell
    boxes = torch.tensor([[0.0, 0.0, 56.0, 56.0], [112.0, 112.0, 224.0, 224.0]])
    share = fig_.box_share(s, boxes, top=0.01)
    assert share.tolist() == [1.0, 0.0]
    nan = fig_.box_share(s, torch.tensor([[float("nan")] * 4, [0.0, 0.0, 224.0, 224.0]]))
    assert np.isnan(nan[0].item()) and nan[1].item() == 1.0


def test_correlation():
    a = torch.rand(2, 7, 7, generator=_gen(1))
    assert fig_.correlation(a, a).tolist() == pytest.approx([1.0, 1.0])
    assert fig_.correlation(a, -3 * a + 1).tolist() == pytest.approx([-1.0, -1.0])
    big = torch.nn.functional.interpolate(a[:, None], size=(14, 14), mode="nearest")[:, 0]
    assert fig_.correlation(a, big).shape == (2,)


# ----------------------------------------------------------------------------- attack
def test_attack(tiny_model, tiny_images):
    out = fig_.attack(tiny_model, tiny_images, eps=0.1, n_iter=3)
    assert (out.images - tiny_images).abs().max() <= 0.1 + 1e-6
    assert torch.equal(out.before, igos.predict(tiny_model, tiny_images))
    assert torch.equal(out.after, igos.predict(tiny_model, out.images))
    probs = tiny_model(out.images).softmax(1)
    assert torch.allclose(out.p_label_after, probs.gather(1, out.before[:, None])[:, 0])
    assert torch.allclose(out.p_after, probs.max(1).values)


def test_select_not_strict(tiny_model, tiny_images):
    comp = fig_.side_by_side(tiny_model, tiny_images[:1], None, {"grad": ("gradient", {})}, n_steps=4)
    assert list(comp.select(["I-GOS 7", "grad"], strict=False).maps) == ["grad"]
    with pytest.raises(KeyError):
        comp.select(["I-GOS 7", "grad"])


def test_most_confident(tiny_model, tiny_images):
    data = igos.ImageSet(images=tiny_images, names=["a", "b", "c"], labels=torch.tensor([1, -1, 3]),
                         boxes=torch.full((3, 4), float("nan")))
    probs = tiny_model(tiny_images).softmax(1)
    p = torch.stack([probs[0, 1], probs[1].max(), probs[2, 3]])
    sub, got = fig_.most_confident(tiny_model, data, 2)
    order = torch.argsort(p, descending=True)[:2]
    assert sub.names == [data.names[i] for i in order.tolist()]
    assert torch.allclose(got, p[order])
    assert len(fig_.most_confident(tiny_model, data)[0]) == 3


def test_display_map():
    s = torch.zeros(2, 20, 20)
    s[0] = torch.linspace(-1, 1, 400).view(20, 20)
    s[0, 0, 0] = 100.0                                   # one extreme pixel
    s[1, :2] = 3.0
    d = igos.plotting.display_map(s, clip=0.99)
    assert d.min() >= 0 and d.max() <= 1
    assert (d[0][s[0] <= 0] == 0).all()                  # non-positive part shows as 0
    assert d[0, 0, 0] == 1 and (d[0] == 1).sum() >= 4     # the outlier is clipped to the 99% quantile
    assert torch.equal(d[1], (s[1] / 3.0))
    small = torch.rand(1, 7, 7, generator=_gen(4)) + 2.0
    lo, hi = small.min(), small.max()
    assert torch.allclose(igos.plotting.display_map(small), (small - lo) / (hi - lo))  # min-max, not clipped
    order = torch.argsort(s[0].flatten(), descending=True)
    assert (d[0].flatten()[order].diff() <= 0).all()      # monotone: same order as the metrics' ranking


def test_ranking_map_stats_variant_rows(tiny_model, tiny_images):
    methods = {"grad": ("gradient", {}), "gxi": ("gradient_x_input", {}),
               "I-GOS 4": ("i_gos", {"resolution": 4, "n_iter": 1, "n_steps": 2})}
    comp = fig_.side_by_side(tiny_model, tiny_images[:2], None, methods, names=["a", "b"], n_steps=6)
    rank = fig_.ranking(comp, {"full": ["grad", "gxi", "missing"], "low": ["I-GOS 4"], "none": ["missing"]})
    assert list(rank["group"]) == ["full", "full", "low", "low"]
    for i in range(2):
        dele = {k: comp.auc(k, "deletion")[i].item() for k in ("grad", "gxi")}
        ins = {k: comp.auc(k, "insertion")[i].item() for k in ("grad", "gxi")}
        assert rank.loc[i, "lowest deletion"] == min(dele, key=dele.get)
        assert rank.loc[i, "highest insertion"] == max(ins, key=ins.get)
        assert rank.loc[i, "gxi ins"] == pytest.approx(ins["gxi"])
    assert (rank.loc[2:, "lowest deletion"] == "I-GOS 4").all()

    boxes = torch.tensor([[0.0, 0.0, 16.0, 32.0], [float("nan")] * 4])
    stats = fig_.map_stats(comp, boxes)
    assert len(stats) == 6 and set(stats["method"]) == set(methods)
    row = stats[(stats.image == "a") & (stats.method == "I-GOS 4")].iloc[0]
    assert row["map"] == "4x4" and row["box area"] == pytest.approx(0.5) and row["border area"] == pytest.approx(12 / 16)
    assert row["top in box"] == pytest.approx(fig_.box_share(comp.maps["I-GOS 4"], boxes, image_size=32)[0].item())
    assert np.isnan(stats[stats.image == "b"]["top in box"]).all()

    rows, labels = fig_.variant_rows(tiny_model, comp.images, {"x": comp.maps["grad"], "y": comp.maps["gxi"]},
                                     comp.target, names=comp.names, insertion=(0.5,))
    assert labels == ["a: x", "a: y", "b: x", "b: y"] and all(len(r) == 1 for r in rows)
    want = metrics.perturbed_at(tiny_model, comp.images, comp.maps["gxi"], 0.5, comp.target, insertion=True)
    assert torch.equal(rows[3][0][0], want.images[1])


def test_merge(tiny_model, tiny_images):
    a = fig_.side_by_side(tiny_model, tiny_images[:2], None, {"grad": ("gradient", {})}, names=["a", "b"], n_steps=4)
    b = fig_.side_by_side(tiny_model, tiny_images[:2], None, {"gxi": ("gradient_x_input", {}), "grad": ("gradient_x_input", {})},
                     names=["a", "b"], n_steps=4)
    m = fig_.merge([a, b])
    assert list(m.maps) == ["grad", "gxi"]
    assert torch.equal(m.maps["grad"], a.maps["grad"]) and torch.equal(m.maps["gxi"], b.maps["gxi"])
    assert torch.equal(m.insertion["gxi"].probs, b.insertion["gxi"].probs)
    assert list(a.maps) == ["grad"]                                   # inputs untouched
    with pytest.raises(ValueError):
        fig_.merge([a, a.select(images=[1])])


def test_ratio_table(tiny_model, tiny_images):
    sal = torch.rand(3, 4, 4, generator=_gen(6))
    table = fig_.ratio_table(tiny_model, tiny_images, sal, ratios=(0.25, 0.5), names=["a", "b", "c"])
    assert list(table.columns) == ["p", "deletion 0.25", "deletion 0.5", "insertion 0.25", "insertion 0.5"]
    want = metrics.perturbed_at(tiny_model, tiny_images, sal, 0.5, insertion=True).probs
    assert table["insertion 0.5"].tolist() == pytest.approx(want.tolist())
    assert table.loc["b", "p"] == pytest.approx(tiny_model(tiny_images).softmax(1).max(1).values[1].item())


def test_reach():
    curve = metrics.Curve(torch.linspace(0, 1, 5), torch.tensor([[0.0, 0.1, 0.3, 0.5, 0.6], [0.0, 0.9, 0.2, 0.1, 0.4],
                                                                 [0.0, 0.0, 0.0, 0.0, 0.0]]))
    assert fig_.reach(curve, 0.5).tolist() == pytest.approx([0.5, 0.25, 0.0])


def test_confidence_table_and_attack_table(tiny_model, tiny_images):
    data = igos.ImageSet(images=tiny_images, names=["a", "b", "c"], labels=torch.tensor([1, 2, 3]),
                         boxes=torch.full((3, 4), float("nan")))
    rows = [{"image": "a", "method": "i_gos", "resolution": 28, "insertion": 0.3, "deletion": 0.1},
            {"image": "a", "method": "i_gos", "resolution": 14, "insertion": 0.5, "deletion": 0.2},
            {"image": "b", "method": "mask", "resolution": 28, "insertion": 0.9, "deletion": 0.0}]
    t = fig_.confidence_table(tiny_model, data, rows, resolution=28)
    probs = tiny_model(tiny_images).softmax(1)
    assert t.loc["a", "insertion"] == 0.3 and np.isnan(t.loc["b", "insertion"])
    assert t.loc["c", "p(label)"] == pytest.approx(probs[2, 3].item())
    assert t.loc["b", "correct"] == (probs[1].argmax().item() == 2)
    assert fig_.confidence_table(tiny_model, data, rows, resolution=14).loc["a", "insertion"] == 0.5

    out = fig_.attack(tiny_model, tiny_images, eps=8 / 255, n_iter=2)
    table = fig_.attack_table(out, tiny_images, out.before, names=data.names)
    assert table["max |change| x 255"].max() <= 8 + 1e-3
    assert table["fooled"].tolist() == (out.after != out.before).tolist()


def test_shared_rows(tmp_path):
    import json

    path = tmp_path / "r.jsonl"
    config = {"results": str(path), "n_images": 2, "resolutions": [28, 7],
              "methods": [{"name": "i_gos", "resolutions": [28]}, {"name": "mask"}]}
    assert fig_.shared_rows(config) is None                                   # no file
    def row(i, method, ins):
        return {"key": f"{i}/{method}/28", "image_index": i, "method": method, "resolution": 28, "insertion": ins}

    rows = [row(0, "i_gos", 0.5), row(0, "mask", 0.1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert fig_.shared_rows(config) is None                                   # image 1 missing
    with path.open("a") as f:
        f.write(json.dumps(row(1, "i_gos", 0.2)) + "\n")
    got = fig_.shared_rows(config)
    assert [r["insertion"] for r in got] == [0.5, 0.2]
    assert fig_.shared_rows(config, "mask") is None                           # mask: 2 x 2 rows expected
    assert fig_.shared_rows(config, "rise") is None                           # not in the config
