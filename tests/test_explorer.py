"""igos.book.explorer: the widget computes what igos computes, for every choice."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import igos
from igos.book import explorer
from igos.data import ImageSet

import ipywidgets  # noqa: F401  (the test extra declares it; a missing one must fail, not skip)


@pytest.fixture
def tiny_set(tiny_images):
    return ImageSet(tiny_images, ["a", "b", "c"], torch.tensor([1, -1, 3]), torch.full((3, 4), float("nan")))


def test_method_options_keep_only_accepted_arguments():
    assert explorer.method_options("grad_cam", layer="x", score="prob", resolution=28) == {"layer": "x", "score": "prob"}
    assert explorer.method_options("i_gos", layer="x", score="prob", resolution=14)["resolution"] == 14
    assert "layer" not in explorer.method_options("i_gos", layer="x")


def test_explain_one_matches_the_package(tiny_model, tiny_images):
    sal, dele, ins = explorer.explain_one(tiny_model, tiny_images[0], 2, "grad_cam", layer="features.4",
                                          score="logit", n_steps=8)
    ref = igos.grad_cam(tiny_model, tiny_images[:1], 2, layer="features.4")[0]
    assert torch.equal(sal, ref)
    ref_del = igos.metrics.deletion_curve(tiny_model, tiny_images[:1], ref[None], 2, n_steps=8)
    assert torch.equal(dele[1], ref_del.probs[0]) and dele[0][0] == 0 and ins[0][-1] == 1


def test_explorer_updates_on_every_choice(tiny_set):
    ex = explorer.Explorer(tiny_set, models=("tiny_cnn",), methods=["gradient", "grad_cam", "i_gos"], device="cpu")
    ex.show()
    assert ex.status.value.startswith("i_gos on a") and ex.last["saliency"].shape == (28, 28)
    ex.method.value = "grad_cam"
    assert "grad_cam on a" in ex.status.value and not ex.layer.disabled and ex.resolution.disabled
    ex.photo.value = "b"  # unknown label: the prediction is explained
    assert "grad_cam on b" in ex.status.value and ex.last["target"] == int(igos.predict(ex.model, tiny_set.images[1:2]))
    buf = io.BytesIO()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(buf, format="PNG")
    ex._on_upload({"new": ({"name": "x.png", "content": memoryview(buf.getvalue())},)})
    assert "on upload" in ex.status.value
