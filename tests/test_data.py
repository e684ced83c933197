"""igos.data: embedded photos, user folders, odd image formats, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import igos
from igos.data import read_image


def test_embedded_photos(embedded):
    n = len(embedded)
    assert n == 7 and embedded.images.shape == (n, 3, 224, 224) and embedded.images.dtype == torch.float32
    assert 0 <= embedded.images.min() and embedded.images.max() <= 1
    assert embedded.labels.shape == (n,) and (embedded.labels >= 0).all()
    b = embedded.boxes
    assert b.shape == (n, 4) and torch.isfinite(b).all()
    assert (b[:, 0] < b[:, 2]).all() and (b[:, 1] < b[:, 3]).all() and (b >= 0).all() and (b <= 224).all()
    for info in embedded.info:
        assert info["licence"] and info["attribution"] and info["origin"]


def test_imageset_selection(embedded):
    sub = embedded[["coffee", 0]]
    assert sub.names == ["coffee", "chelsea"] and torch.equal(sub.images[1], embedded.images[0])
    assert len(embedded[1:3]) == 2


def test_box_follows_resize_and_crop(tmp_path):
    # 400x200 image: shorter side 200 -> 256 (scale 1.28), 512x256, crop 224 at left=144, top=16
    arr = np.zeros((200, 400, 3), np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    from igos.data import map_box, resize_crop

    _, geometry = resize_crop(read_image(tmp_path / "a.png"))
    assert map_box([150, 0, 250, 100], geometry, 224) == pytest.approx([48.0, 0.0, 176.0, 112.0])


def _save(path, arr, mode=None):
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)


def test_odd_formats_are_converted(tmp_path):
    gray = np.full((40, 50), 128, np.uint8)
    _save(tmp_path / "gray.png", gray)
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :25, 3] = 255  # left half opaque red, right half transparent
    _save(tmp_path / "rgba.png", rgba)
    sixteen = np.full((40, 50), 65535 // 4, np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "gray.png")[0, 0] == pytest.approx([128 / 255] * 3)
    x = read_image(tmp_path / "rgba.png")
    assert x[0, 0] == pytest.approx([1, 0, 0]) and x[0, -1] == pytest.approx([1, 1, 1])  # over white
    assert read_image(tmp_path / "deep.png")[0, 0] == pytest.approx([0.25] * 3, abs=1e-4)
    data = igos.load_images(tmp_path)
    assert data.images.shape == (3, 3, 224, 224) and sorted(data.names) == ["deep", "gray", "rgba"]
    assert (data.labels == -1).all() and torch.isnan(data.boxes).all()


def test_class_folders_and_label_file(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
    for cls in ["281", "espresso"]:
        (tmp_path / "tree" / cls).mkdir(parents=True)
        _save(tmp_path / "tree" / cls / "x.jpg", img)
    data = igos.load_images(tmp_path / "tree")
    assert sorted(data.labels.tolist()) == [281, 967]
    flat = tmp_path / "flat"
    flat.mkdir()
    _save(flat / "a.png", img)
    _save(flat / "b.png", img)
    (flat / "labels.txt").write_text("a.png 207\nb.png golden retriever\n")
    assert igos.load_images(flat).labels.tolist() == [207, 207]
    assert len(igos.load_images(flat, n=1)) == 1
    assert igos.load_images(flat / "a.png").names == ["a"]


def test_subset_with_seed_is_reproducible(embedded):
    a = igos.load_images("embedded", n=3, seed=1)
    b = igos.load_images("embedded", n=3, seed=1)
    assert a.names == b.names and len(a) == 3


def test_errors_name_the_culprit(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        igos.load_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        igos.load_images(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    (bad / "broken.jpg").write_text("not an image either")
    with pytest.raises(ValueError, match="broken.jpg is not a readable image"):
        igos.load_images(bad)
    with pytest.raises(ValueError, match="neither a class index nor an ImageNet class"):
        flat = tmp_path / "lab"
        flat.mkdir()
        _save(flat / "a.png", np.zeros((8, 8, 3), np.uint8))
        (flat / "labels.txt").write_text("a.png unicorn\n")
        igos.load_images(flat)


def test_imagenet_samples_from_the_foolbox_wheel(imagenet_samples):
    import importlib.util
    from pathlib import Path

    assert len(imagenet_samples) == 20 and imagenet_samples.images.shape == (20, 3, 224, 224)
    folder = Path(importlib.util.find_spec("foolbox").submodule_search_locations[0]) / "data"
    for name, label, path in zip(imagenet_samples.names, imagenet_samples.labels.tolist(), imagenet_samples.paths):
        assert Path(path).parent == folder and Path(path).name == f"{name}_{label}.jpg"
    assert imagenet_samples.labels[:3].tolist() == [243, 559, 438]
    assert torch.isnan(imagenet_samples.boxes).all()                 # no boxes: no pointing game on them


def test_flat_val_folder_with_the_ilsvrc2012_devkit(tmp_path):
    """ILSVRC2012_val_<n>.JPEG files labelled by the devkit's ground truth and meta.mat (torchvision's class order)."""
    import scipy.io as scipy_io
    rng = np.random.default_rng(0)
    wnids = [f"n{v:08d}" for v in rng.choice(10**8, 1000, replace=False)]
    ids = rng.permutation(np.arange(1, 1001))                       # ILSVRC2012 ids are not the sorted order
    synsets = np.array([(int(i), w, 0) for i, w in zip(ids, wnids)] + [(1001, "n99999999", 5)],
                       dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")])
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    scipy_io.savemat(devkit / "meta.mat", {"synsets": synsets})
    truth = [int(ids[5]), int(ids[700]), int(ids[42])]
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(map(str, truth)) + "\n")
    val = tmp_path / "val"
    val.mkdir()
    for n in (1, 2, 3):
        Image.new("RGB", (40, 30), (n * 40, 0, 0)).save(val / f"ILSVRC2012_val_{n:08d}.JPEG")
    data = igos.load_images(val, size=32)
    order = sorted(wnids)
    assert data.labels.tolist() == [order.index(wnids[5]), order.index(wnids[700]), order.index(wnids[42])]
    (devkit / "meta.mat").unlink()
    with pytest.raises(FileNotFoundError, match="meta.mat"):
        igos.load_images(val, size=32)
