"""The shared config of the reproduction chapters and the helpers they call (igos.book.reproduction)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import igos
from igos import experiment as ex
from igos.book import reproduction as R
from igos.experiment import presets
from igos.methods.i_gos import default_lambdas
from igos.perturbation import objective

from helpers.experiment import synthetic_rows


def labels(config):
    return [m.get("label", m["name"]) for m in config["methods"]]


def spec(config, label):
    return next(m for m in config["methods"] if m.get("label", m["name"]) == label)


# ----------------------------------------------------------------------------- config
def test_fast_config():
    c = presets.paper_config(True)
    assert c["n_images"] == 2 and c["resolutions"] == [28] and c["images"] == "imagenet-samples"
    assert c["model"] == "efficientnet_lite0" and c["metrics"]["baseline"] == "blur"
    assert set(labels(c)) == {"gradient", "excitation_backprop", "excitation_backprop_mwp", "grad_cam",
                              "integrated_gradients", "rise", "mask",
                              "i_gos", "i_gos_no_tv", "i_gos_no_noise", "i_gos_fixed_step", "i_gos@A", "i_gos@C",
                              "mask@A", "mask@B", "mask@C"}
    assert spec(c, "i_gos")["options"]["n_iter"] <= 5 and spec(c, "mask")["options"]["n_iter"] <= 30
    assert spec(c, "rise")["options"]["n_masks"] <= 200 and c["metrics"]["n_steps"] <= 20
    # results outside git, in the top-level results/ folder, named after the scale
    assert presets.results_dir() == Path(presets.__file__).resolve().parents[2] / "results"   # in a clone: its results/
    assert c["results"].startswith(str(presets.results_dir())) and "paper-fast-" in c["results"]
    cfg = ex.normalize_config(c)
    assert len(ex.plan(cfg, 2)) == 2 * 16      # 4 native methods + 12 rows at 28 per image (EBP c-MWP and MWP)
    assert presets.paper_config(True) == c           # deterministic, so every chapter finds the same file


def test_full_configs():
    cpu, paper = presets.paper_config(scale="cpu"), presets.paper_config(scale="paper")
    assert cpu["n_images"] == paper["n_images"] == 20 and cpu["images"] == "imagenet-samples"
    assert cpu["metrics"]["n_steps"] == 100 and paper["metrics"]["n_steps"] == 200   # the authors' ~200 on a GPU
    assert spec(paper, "rise")["options"]["n_masks"] == 4000
    assert spec(presets.paper_config(scale="paper", model="vgg19"), "rise")["options"]["n_masks"] == 8000
    sub = presets.SCALES["cpu"]["subset_images"]
    assert spec(cpu, "mask")["n_images"] == {112: sub, 14: sub} and "n_images" not in spec(paper, "mask")
    assert spec(cpu, "i_gos_no_tv")["n_images"] == sub and spec(cpu, "mask@A")["n_images"] == sub
    assert spec(cpu, "excitation_backprop")["name"] == "igos.experiment.presets:excitation_backprop_at"
    for c in (cpu, paper):
        assert c["resolutions"] == [224, 112, 28, 14, 7]
        assert spec(c, "i_gos")["resolutions"] == spec(c, "mask")["resolutions"] == [224, 112, 28, 14, 7]
        for label, opts in presets.ABLATIONS.items():
            assert spec(c, label)["resolutions"] == [224, 28] and opts.items() <= spec(c, label)["options"].items()
        for s, (l1, l2) in presets.TABLE5_LAMBDAS.items():
            m = spec(c, f"mask@{s}")
            assert (m["options"]["lambda1"], m["options"]["lambda2"], m["options"]["tv_beta"]) == (l1, l2, 2)
            assert m["resolutions"] == [28] and m["name"] == "igos.experiment.presets:mask_objective"
            if s != "B":
                assert (spec(c, f"i_gos@{s}")["options"]["lambda1"], spec(c, f"i_gos@{s}")["options"]["lambda2"]) == (l1, l2)
        assert "i_gos@B" not in labels(c)      # the main I-GOS row at 28 has the default (0.1, 2)
        assert default_lambdas(28) == presets.TABLE5_LAMBDAS["B"]
        assert "resolutions" not in spec(c, "rise") and "resolutions" not in spec(c, "integrated_gradients")
        assert spec(c, "integrated_gradients")["options"]["baseline"] == "grey"     # as in the figures
        assert R.settings_table(c).loc["ig_baseline", "this run"].startswith("grey")
    assert presets.settings_of(paper)["i_gos_iter"] == 15 and presets.settings_of(paper)["i_gos_steps"] == 20
    assert presets.settings_of(paper)["mask_iter"] == 500 and presets.settings_of(paper)["rise_masks"] == 4000
    assert presets.settings_of(cpu)["i_gos_iter"] < 15 and cpu["results"] != paper["results"]
    assert "paper-cpu-efficientnet_lite0-20-" in cpu["results"]
    # every photo: 4 native methods + EBP, Mask and I-GOS at 224, 28, 7; the first `sub`: 112 and 14 of those
    # three, the plain MWP at 5 resolutions, 3 ablations x 2 resolutions and Table 5's 2 + 3 settings
    assert len(ex.plan(ex.normalize_config(cpu), 7)) == 7 * (4 + 3 * 3) + sub * (3 * 2 + 5 + 3 * 2 + 2 + 3)
    table = R.describe(cpu)
    assert table.loc["rise", "resolutions"] == "native" and table.loc["mask@B", "tables"] == "5"
    # a folder is sampled over all its classes (seeded), the built-in sets keep their order
    assert cpu["image_seed"] is None and presets.paper_config(scale="cpu", images="imagenet-samples")["image_seed"] is None
    assert presets.paper_config(scale="paper", images="/data/imagenet/val")["image_seed"] == 0
    # RISE: 8000 masks for VGG, 4000 for ResNet50 at paper scale (the RISE protocol)
    assert spec(presets.paper_config(scale="paper", model="vgg19"), "rise")["options"]["n_masks"] == 8000
    assert spec(presets.paper_config(scale="paper", model="resnet50"), "rise")["options"]["n_masks"] == 4000


def test_config_options_and_errors():
    c = presets.paper_config(scale="cpu", model="resnet50", images="/data/val", n_images=50, resolutions=[14],
                       i_gos_iter=15, device="cpu")
    assert c["model"] == "resnet50" and c["n_images"] == 50 and spec(c, "i_gos")["resolutions"] == [14]
    assert spec(c, "i_gos_no_tv")["resolutions"] == [14] and spec(c, "i_gos")["options"]["n_iter"] == 15
    assert "paper-cpu-resnet50-50-" in c["results"]
    assert presets.paper_config(True, resolutions=[28, 14])["results"] != presets.paper_config(True)["results"]
    assert presets.scale_for(True) == "fast" and presets.scale_for(False, "cpu") == "cpu"
    with pytest.raises(ValueError, match="unknown setting"):
        presets.paper_config(True, n_iter=3)
    with pytest.raises(ValueError, match="scale"):
        presets.paper_config(scale="huge")
    with pytest.raises(ValueError, match="at least one"):
        presets.paper_config(True, resolutions=[])


def test_yaml_round_trip_keeps_the_hash(tmp_path):
    c = presets.paper_config(True)
    path = presets.write_config(c, tmp_path / "paper.yaml")
    loaded = ex.load_config(path)
    assert ex.config_hash(loaded) == ex.config_hash(ex.normalize_config(c))
    assert loaded["results"] == c["results"]


def test_mask_objective_reports_the_final_noiseless_objective(tiny_model, tiny_images):
    calls = []
    sal = presets.mask_objective(tiny_model, tiny_images[:1], 3, resolution=8, n_iter=6, lambda1=0.1, lambda2=2.0,
                           tv_beta=2, callback=lambda k, loss, mask: calls.append((k, float(loss.mean()))))
    assert [k for k, _ in calls] == list(range(6))
    expected = objective(tiny_model, tiny_images[:1], 1 - sal, 3, lambda1=0.1, lambda2=2.0, tv_beta=2)
    assert calls[-1][1] == pytest.approx(float(expected), abs=1e-5)
    assert torch.equal(sal, igos.meaningful_perturbation(tiny_model, tiny_images[:1], 3, resolution=8, n_iter=6, lambda1=0.1,
                                      lambda2=2.0, tv_beta=2))


# ----------------------------------------------------------------------------- tables from synthetic rows
def test_tables_orderings_and_summaries():
    config = presets.paper_config(scale="cpu")
    rows = synthetic_rows(config)
    t4 = igos.tables.table_rows(rows, 4)
    assert set(t4["method"]) == {"i_gos", *presets.ABLATIONS} and set(t4["res"]) == {224, 28}
    assert set(igos.tables.table_rows(rows, 5)["method"]) == {"i_gos", "i_gos@A", "i_gos@C", "mask@A", "mask@B", "mask@C"}
    assert set(igos.tables.table_rows(rows, 1)["method"]) == set(presets.MAIN) | {"excitation_backprop_mwp"}
    t1 = igos.tables.compare(rows, 1)
    assert ("Excitation BP", "ours") in t1.index and ("I-GOS", "paper") in t1.index
    assert not any("@" in name or "no " in name for name, _ in t1.index)
    o1 = R.orderings(rows, 1)
    assert list(o1.columns) == ["paper T1 (VGG19)", "paper T2 (ResNet50)", "ours"]
    assert o1.loc["I-GOS has the lowest deletion at 28x28", "ours"] is True
    assert o1.loc["I-GOS has the lowest deletion at 28x28", "paper T1 (VGG19)"] is True
    assert o1.loc["I-GOS has the highest insertion at 7x7", "paper T1 (VGG19)"] is None    # no 7x7 column
    assert o1.loc["Integrated Gradients has the lowest insertion at 224x224", "ours"] is True
    assert o1.loc["Excitation BP has the highest deletion at its resolution", "ours"] is True
    assert o1.loc["I-GOS insertion is higher at 7x7 than at 224x224", "ours"] is True
    o4 = R.orderings(rows, 4)
    assert o4.loc["224x224: without TV, insertion drops"].tolist() == [True, True]
    assert o4.loc["28x28: without noise, deletion rises", "paper"] is False   # 0.0872 < 0.0899 in the paper
    assert o4.loc["28x28: with a fixed step, insertion drops", "ours"] is False
    o5 = R.orderings(rows, 5)
    assert o5.loc["A: I-GOS reaches a lower objective than Mask"].tolist() == [True, True]
    assert o5.loc["C: I-GOS reaches a lower objective than Mask"].tolist() == [True, False]
    assert o5.loc["I-GOS: the objective grows from A to B to C", "ours"] is True
    o3 = R.orderings(rows, 3)
    assert o3.loc["I-GOS is faster than Mask at 28x28"].tolist() == [True, True]
    assert o3.loc["Grad-CAM takes under 1 s"].tolist() == [True, False]
    t6 = igos.tables.compare(rows, 6)
    for name in ("AM (gradient)", "RISE", "Excitation BP (c-MWP)", "I-GOS 28x28", "Mask 14x14", "Grad-CAM"):
        assert (name, "ours") in t6.index, name          # native methods carry no resolution suffix
    o6 = R.orderings(rows, 6)
    assert set(o6.columns) == {"paper", "ours"} and o6["paper"].tolist() == [True, True]
    nums = R.key_numbers(rows, 5)
    assert nums.loc["total loss", ("A", "I-GOS")] == "0.20"
    hits = R.pointing_hits(rows)
    assert hits.shape == (3, 4 + 5 * 3) and "I-GOS 28x28" in hits.columns and "Excitation BP 28x28" in hits.columns
    timing = R.timing(rows)
    assert timing.loc[("I-GOS", 28), "s / iteration"] == pytest.approx(2 / 3)
    cost = R.cost_estimate(rows, config, n_images=3600)
    assert cost.loc["i_gos", "s / image"] == pytest.approx(5 * 2.5)
    cpu = presets.SCALES["cpu"]
    assert cost.loc["i_gos", "paper-size s / image"] == pytest.approx(5 * (2 * 15 / cpu["i_gos_iter"] + 0.5 * presets.PAPER_SETTINGS["metric_steps"] / cpu["metric_steps"]))
    assert cost.loc["total", "hours for 3600 images"] == pytest.approx(cost.loc["total", "s / image"])
    with pytest.raises(ValueError):
        R.orderings(rows, 7)


def test_end_to_end_with_a_tiny_model(tmp_path):
    """The whole chain, runner to every table, on one photo with the seeded tiny CNN and tiny sizes."""
    config = presets.paper_config(scale="fast", model="tiny_cnn", n_images=1, resolutions=[7], results=tmp_path / "r.jsonl",
                            device="cpu", i_gos_iter=1, i_gos_steps=2, mask_iter=2, rise_masks=4, ig_steps=2,
                            metric_steps=4)
    config["target"] = "predicted"          # tiny_cnn has 10 classes, the photos ImageNet labels
    path = ex.run(config, progress=False)
    rows = ex.read_results(path)
    assert len(rows) == 4 + 12          # native: gradient, Grad-CAM, IG, RISE; at 7: EBP (2), Mask, I-GOS, 3 + 5 Table 4/5
    for n in range(1, 7):
        assert isinstance(igos.tables.compare(path, n), pd.DataFrame)
        assert isinstance(R.orderings(path, n), pd.DataFrame)
    loss = {r["method"]: r["loss"] for r in rows}
    assert all(loss[k] is not None for k in ("i_gos", "mask@A", "mask@C", "i_gos@C"))
    model = igos.load_model("tiny_cnn", device="cpu")
    for label, res in (("i_gos", 7), ("mask@C", 28), ("i_gos_no_tv", 7)):   # same process and threads: all agree
        r = R.recompute_objective(path, config, label, 0, model, resolution=res)
        assert r["row"] == pytest.approx(r["rerun"], abs=1e-6) and r["rerun"] == pytest.approx(r["F"], abs=1e-5)


# ----------------------------------------------------------------------------- VOC
def _fake_voc(root, objects_per_image):
    base = root / "VOCdevkit" / "VOC2007"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (base / sub).mkdir(parents=True)
    names = []
    for k, objects in enumerate(objects_per_image):
        name = f"00000{k}"
        names.append(name)
        Image.fromarray((np.random.default_rng(k).random((200, 300, 3)) * 255).astype(np.uint8)).save(
            base / "JPEGImages" / f"{name}.jpg")
        ann = ET.Element("annotation")
        ET.SubElement(ann, "filename").text = f"{name}.jpg"
        for cls, (x0, y0, x1, y1) in objects:
            obj = ET.SubElement(ann, "object")
            ET.SubElement(obj, "name").text = cls
            box = ET.SubElement(obj, "bndbox")
            for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), (x0, y0, x1, y1)):
                ET.SubElement(box, tag).text = str(v)
        ET.ElementTree(ann).write(base / "Annotations" / f"{name}.xml")
    (base / "ImageSets" / "Main" / "test.txt").write_text("\n".join(names) + "\n")


def _fake_coco(root, images):
    """``images``: [(file name, width, height, [(category, [x, y, w, h], iscrowd)])]."""
    (root / "annotations").mkdir(parents=True)
    (root / "val2014").mkdir()
    cats = sorted({c for _, _, _, objs in images for c, _, _ in objs})
    ann = {"categories": [{"id": k + 1, "name": c} for k, c in enumerate(cats)], "images": [], "annotations": []}
    for k, (name, w, h, objs) in enumerate(images):
        Image.fromarray((np.random.default_rng(k).random((h, w, 3)) * 255).astype(np.uint8)).save(root / "val2014" / name)
        ann["images"].append({"id": 100 + k, "file_name": name, "width": w, "height": h})
        for c, box, crowd in objs:
            ann["annotations"].append({"id": len(ann["annotations"]) + 1, "image_id": 100 + k,
                                       "category_id": cats.index(c) + 1, "bbox": box, "iscrowd": crowd})
    (root / "annotations" / "instances_val2014.json").write_text(json.dumps(ann))


def test_voc_entries_keep_every_object_and_resize_the_whole_image(tmp_path):
    # image 0: a cat and two dogs, one of them at the right edge (a centre crop would cut it away);
    # image 1: a bird; image 2: only an object without an ImageNet counterpart (dropped)
    _fake_voc(tmp_path, [[("cat", (100, 50, 200, 150)), ("dog", (70, 20, 130, 90)), ("dog", (250, 100, 300, 200))],
                         [("bird", (1, 10, 20, 50))], [("unicorn", (1, 1, 50, 50))]])
    source = f"voc07:{tmp_path}"
    entries = igos.data.pointing_entries(source)
    assert [e["name"] for e in entries] == ["000000/cat", "000000/dog", "000001/bird"]
    dog = entries[1]
    assert dog["object_class"] == "dog" and dog["dataset"] == "voc07" and len(dog["boxes"]) == 2
    assert igos.data.image_entries(source) == entries
    # the whole 300 x 200 image goes to 224 x 224: x * 224/300, y * 224/200 (VOC's 1-based xmin/ymin - 1)
    x, name, label, boxes = ex.ImageSource(source).load(1)
    assert tuple(x.shape) == (3, 224, 224) and name == "000000/dog" and label == -1
    expected = [[69 * 224 / 300, 19 * 224 / 200, 130 * 224 / 300, 90 * 224 / 200], [249 * 224 / 300, 99 * 224 / 200, 224, 224]]
    assert torch.allclose(boxes, torch.tensor(expected), atol=1e-4)
    # a seeded subset of images (not of entries): every class of a chosen image comes along
    one = igos.data.pointing_entries(source, n=1, seed=1)
    assert len({e["path"] for e in one}) == 1 and one == igos.data.pointing_entries(source, n=1, seed=1)
    with pytest.raises(ValueError, match="experiment runner"):
        igos.load_images(source)
    with pytest.raises(FileNotFoundError, match="VOC 2007"):
        igos.data.pointing_entries(f"voc07:{tmp_path / 'nowhere'}")
    with pytest.raises(ValueError, match="folder after the colon"):
        igos.data.pointing_entries("voc07:")


def test_coco_entries_skip_crowds_and_categories_without_an_imagenet_class(tmp_path):
    _fake_coco(tmp_path, [("b.jpg", 64, 48, [("cat", [1, 2, 10, 20], 0), ("cat", [30, 5, 10, 10], 0),
                                             ("dog", [0, 0, 64, 48], 1)]),
                          ("a.jpg", 40, 40, [("giraffe", [0, 0, 10, 10], 0)])])
    entries = igos.data.pointing_entries(f"coco:{tmp_path}")
    assert [e["name"] for e in entries] == ["100/cat"]                 # the crowd dog and the giraffe-only image go
    assert entries[0]["boxes"] == [[1, 2, 11, 22], [30, 5, 40, 15]]
    names = igos.imagenet_classes()
    for cls, classes in igos.data.IMAGENET_FOR_COCO.items():
        assert igos.data.imagenet_indices(classes), cls                 # every name is an ImageNet class
    assert names[igos.data.imagenet_indices(igos.data.IMAGENET_FOR_COCO["zebra"])[0]] == "zebra"
    with pytest.raises(ValueError, match="neither a class index nor an ImageNet class name"):
        igos.data.imagenet_indices(["giraffe"])


def test_pointing_game_on_voc_through_the_runner(tmp_path, lite0, monkeypatch):
    """Table 6 on a VOC copy: one resumable row per image, object class and method, in the runner's results file."""
    _fake_voc(tmp_path / "voc", [[("cat", (100, 50, 200, 150)), ("dog", (70, 20, 130, 90)), ("dog", (250, 100, 300, 200))],
                                 [("bird", (1, 10, 20, 50))], [("cat", (0, 0, 300, 200))]])
    config = presets.pointing_config(scale="fast", images=f"voc07:{tmp_path / 'voc'}")
    config.update(methods=[{"name": "gradient"}], device="cpu", results=str(tmp_path / "pointing.jsonl"))
    assert config["image_seed"] == 0 and config["n_images"] == presets.POINTING_DATASET_IMAGES["fast"]
    rows = ex.read_results(ex.run(config, progress=False))
    assert [(r["image"], r["object_class"], r["target_source"]) for r in rows] == [
        ("000000/cat", "cat", "object class"), ("000000/dog", "dog", "object class"),
        ("000001/bird", "bird", "object class"), ("000002/cat", "cat", "object class")]
    assert rows[-1]["pointing_hit"] is True                              # the box is the whole image
    for r in rows:
        assert r["target"] in igos.data.IMAGENET_FOR_VOC[r["object_class"]] and isinstance(r["pointing_hit"], bool)
        assert r["deletion"] is None                                      # maps only: no curves
    table = igos.tables.compare(rows, 6)
    column = "VOC07 (ImageNet model, not the paper's VGG16)"
    assert ("AM (gradient)", "ours") in table.index and column in table.columns.get_level_values(0)
    # the score is a mean over classes of per-class accuracy (cat: two entries), not a mean over entries
    per_class = pd.DataFrame(rows).groupby("object_class")["pointing_hit"].mean()
    mean = igos.tables.compare(rows, 6, formatted=False).loc[("AM (gradient)", "ours"), (column, "mean")]
    assert mean == pytest.approx(100 * per_class.mean())
    for r, hit in zip(rows, (True, False, False, True)):                   # cat 2/2, dog 0/1, bird 0/1: 33 % != 50 %
        r["pointing_hit"] = hit
    per_class = pd.DataFrame(rows).groupby("object_class")["pointing_hit"].mean()
    assert 100 * per_class.mean() != pytest.approx(100 * np.mean([r["pointing_hit"] for r in rows]))
    assert igos.tables.compare(rows, 6, formatted=False).loc[("AM (gradient)", "ours"), (column, "mean")] == pytest.approx(
        100 * per_class.mean())
    def no_rerun(*args, **kwargs):
        raise AssertionError("a resumed run recomputed a row")
    monkeypatch.setattr(ex.runner, "evaluate", no_rerun)
    assert len(ex.read_results(ex.run(config, progress=False))) == 4         # resumes: nothing recomputed


def test_object_target_needs_an_imagenet_or_voc_model(tiny_model, lite0, embedded):
    x = embedded.images[:1]
    with pytest.raises(ValueError, match="1000-class"):
        igos.targets.object_target(tiny_model, torch.rand(1, 3, 32, 32), "voc07", "cat")
    i = embedded.names.index("chelsea")                                # a cat photo
    t = igos.targets.object_target(lite0, embedded.images[i:i + 1], "voc07", "cat")
    assert t in range(281, 286)
    with pytest.raises(KeyError, match="no ImageNet counterpart"):
        igos.targets.object_target(lite0, x, "coco", "giraffe")


def test_imagenet_classes_for_voc():
    names = igos.imagenet_classes()
    assert set(igos.data.IMAGENET_FOR_VOC) == set(igos.data.VOC_CLASSES)
    assert all(0 <= i < 1000 for idx in igos.data.IMAGENET_FOR_VOC.values() for i in idx)
    assert names[igos.data.IMAGENET_FOR_VOC["diningtable"][0]] == "dining table"
    assert [names[i] for i in igos.data.IMAGENET_FOR_VOC["person"]] == ["ballplayer", "groom", "scuba diver"]


def test_table5_gets_its_own_i_gos_row_when_the_defaults_move(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules["igos.methods.i_gos"].DEFAULT_LAMBDAS, 28, (2.0, 10.0))
    config = presets.paper_config(scale="cpu")
    assert spec(config, "i_gos@C")["options"]["lambda1"] == 1.0 and spec(config, "i_gos@C")["resolutions"] == [28]
    rows = synthetic_rows(config)
    for r in rows:
        if r["method"] == "i_gos@C":
            r["loss"] = 0.123
    t5 = igos.tables.compare(rows, 5, formatted=False)
    assert t5.loc[("total loss", "ours"), ("C", "I-GOS", "mean")] == pytest.approx(0.123)


def test_table_command_lays_out_only_the_rows_of_that_table(tmp_path, capsys):
    """``python -m igos table RESULTS --paper 1`` (the README's command) shows the Table 1 rows only."""
    import json

    config = presets.paper_config(scale="cpu")
    rows = synthetic_rows(config)
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert ex.main(["table", str(path), "--paper", "1"]) == 0
    out = capsys.readouterr().out
    assert igos.tables.compare(path, 1).to_string() in out          # exactly what chapter 41 computes (t1 = igos.tables.compare(results, 1))
    assert "Excitation BP" in out and "I-GOS" in out
    for stray in ("excitation_backprop", "mask@", "i_gos@", "no TV", "no noise", "fixed step"):
        assert stray not in out, stray
    assert ex.main(["table", str(path), "--paper", "4"]) == 0
    assert "no TV term" in capsys.readouterr().out


def test_paired_orderings_judge_each_claim_per_image():
    config = presets.paper_config(scale="cpu")
    rows = synthetic_rows(config, n_images=8)
    p1 = R.paired_orderings(rows, 1)
    assert {"paper T1 (VGG19)", "ours", "wins", "p sign", "p Wilcoxon", "paired verdict"} <= set(p1.columns)
    assert "I-GOS has the lowest deletion at 28x28" in p1.index
    assert set(p1["paired verdict"]) <= {"holds", "contradicted", "not significant"}
    # with every image on the claimed side against every rival the verdict is "holds"
    frame = pd.DataFrame(rows)
    better = frame.copy()
    better.loc[better["method"] == "i_gos", "deletion"] = -1.0
    row = R.paired_orderings(better, 1).loc["I-GOS has the lowest deletion at 28x28"]
    assert row["paired verdict"] == "holds" and row["wins"] == "8/8"
    worse = frame.copy()
    worse.loc[worse["method"] == "i_gos", "deletion"] = 2.0
    assert R.paired_orderings(worse, 1).loc["I-GOS has the lowest deletion at 28x28", "paired verdict"] == "contradicted"
    p4 = R.paired_orderings(rows, 4)
    assert "28x28: with a fixed step, deletion rises" in p4.index
    with pytest.raises(ValueError, match="Tables 1, 2 and 4"):
        R.paired_orderings(rows, 5)


def test_paper_command_runs_the_chapters_experiment(capsys):
    """``python -m igos paper`` (run by make book first) writes the results file the chapters read."""
    for fast in (True, False):
        assert ex.main(["paper", "--dry-run"] + (["--fast"] if fast else [])) == 0
        chapters = presets.paper_config(fast, n_images=2 if fast else 20, resolutions=[28] if fast else [224, 112, 28, 14, 7])
        assert capsys.readouterr().out.strip().splitlines() == [chapters["results"], presets.pointing_config(fast)["results"]]


def test_excitation_backprop_at_a_resolution_is_excitation_backprop_at_that_layer():
    import igos
    from igos.layers import layer_for_grid

    model = igos.load_model("tiny_cnn", device="cpu")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for r, contrastive in ((32, True), (16, False), (7, True)):
        name, grid = layer_for_grid(model, r, 32)
        got = presets.excitation_backprop_at(model, x, [1, 2], resolution=r, contrastive=contrastive)
        want = igos.excitation_backprop(model, x, [1, 2], layer=name, contrastive=contrastive)
        assert got.shape == (2, grid, grid) and torch.equal(got, want)


def test_claims_markdown_leads_with_the_paired_verdict():
    ordering = pd.DataFrame({"paper": [True, False], "ours": [True, None]}, index=["claim a", "claim b"], dtype=object)
    paired = pd.DataFrame({"closest": ["Mask"], "wins": ["9/10"], "p Wilcoxon": [0.004],
                           "mean diff [95% CI]": ["-0.010 [-0.020, -0.001]"], "paired verdict": ["holds"]},
                          index=["claim a"])
    text = R.claims_markdown(ordering, paired).splitlines()
    assert text[0].startswith("- claim a: **holds** (closest rival Mask") and "9/10" in text[0] and "paper: yes" in text[0]
    assert text[1] == "- claim b: **not testable here** (a cell is missing); in the paper's numbers: paper: no"
    assert "**does not hold in our means**" in R.claims_markdown(ordering.assign(ours=[False, False]))


def test_subset_rows_keep_tables_4_and_5_on_the_same_photos():
    """On a CPU the ablations and Table 5 run on the first photos: their I-GOS reference rows are cut to those photos."""
    config = presets.paper_config(scale="cpu", model="tiny_cnn", n_images=6, resolutions=[28, 7], results="x.jsonl")
    plan = ex.plan(ex.normalize_config(config), 6)
    subset = presets.SCALES["cpu"]["subset_images"]
    assert {i for i, label, _ in plan if label == "i_gos_no_tv"} == set(range(subset))
    assert {i for i, label, _ in plan if label == "i_gos"} == set(range(6))
    rows = [{"key": ex.row_key(i, label, r), "image_index": i, "image": f"p{i}", "method": label, "resolution": r,
             "map_size": [r, r], "deletion": 0.1, "insertion": 0.5, "seconds": 1.0, "label": 1, "target": 1}
            for i, label, r in plan if r is not None]
    t4 = igos.tables.table_rows(rows, 4)
    assert set(t4.loc[t4["method"] == "i_gos", "image_index"]) == set(range(subset))
    t5 = igos.tables.table_rows(rows, 5)
    assert set(t5["image_index"]) == set(range(subset)) and set(t5["res"]) == {28}
    assert "the first 4 photos only" in R.settings_table(config).loc["n_images", "this run"]


def test_verdict_counts_and_the_pointing_config_scale():
    paired = pd.DataFrame({"paired verdict": ["holds", "not significant", "holds"]})
    assert R.verdict_counts(paired) == {"holds": 2, "contradicted": 0, "not significant": 1, "total": 3}
    assert R.verdict_counts(pd.DataFrame()) == {"holds": 0, "contradicted": 0, "not significant": 0, "total": 0}
    for scale in ("cpu", "paper"):      # the scale is the caller's, not the device's
        c = presets.pointing_config(model="tiny_cnn", scale=scale)
        assert c["resolutions"] == presets.POINTING_RESOLUTIONS[scale] and f"pointing-{scale}-tiny_cnn-7-" in c["results"]
        assert c["metrics"]["n_steps"] == presets.SCALES[scale]["metric_steps"]
    with pytest.raises(ValueError, match="scale"):
        presets.pointing_config(scale="huge")


def test_results_dir_follows_igos_results(monkeypatch, tmp_path):
    monkeypatch.setenv("IGOS_RESULTS", str(tmp_path / "out"))
    assert presets.results_dir() == tmp_path / "out"
    assert presets.paper_config(True)["results"].startswith(str(tmp_path / "out"))


def test_embedded_photos_ship_inside_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("IGOS_DATA", raising=False)
    assert igos.data.data_dir() == Path(igos.__file__).resolve().parent / "assets"
    monkeypatch.setenv("IGOS_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="IGOS_DATA"):
        igos.data.data_dir()
