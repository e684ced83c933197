"""Shared fixtures: small seeded models and images; nothing is downloaded."""
from __future__ import annotations

import pytest
import torch

import igos


@pytest.fixture
def tiny_model():
    """The seeded ``tiny_cnn`` (10 classes, conv-ReLU-pool-conv-ReLU-GAP-linear) on CPU."""
    return igos.load_model("tiny_cnn", device="cpu", seed=0)


@pytest.fixture
def tiny_images():
    """Three seeded random images ``[3, 3, 32, 32]`` in [0, 1]."""
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="session")
def lite0():
    """The embedded default model (EfficientNet-Lite0), loaded once per session."""
    return igos.load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def embedded():
    """The embedded photos as an :class:`igos.ImageSet`."""
    return igos.load_images("embedded")


@pytest.fixture(scope="session")
def imagenet_samples():
    """The 20 ImageNet validation photos shipped by foolbox (``load_images("imagenet-samples")``)."""
    return igos.load_images("imagenet-samples")


# ----------------------------------------------------------------- executed chapters for the fast book
# `make test` executes every chapter once: nbval runs the golden copies in tests/notebooks and
# compares their check cells. With IGOS_EXECUTED=<folder> set, the outputs nbval received are
# also written, per chapter, into <folder>/<chapter>.ipynb (the chapter's own cells from book/,
# the outputs of this run), and book/_tools/assemble_book.py builds the fast HTML book from them
# instead of executing every chapter a second time. A chapter is written only when every one of
# its code cells ran and passed with the chapter's own code.
_EXECUTED: dict = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not __import__("os").environ.get("IGOS_EXECUTED") or not hasattr(item, "test_outputs"):
        return
    report = outcome.get_result()
    runs = _EXECUTED.setdefault(str(item.parent.path), {})
    # the golden cell's code beside its outputs: they go to the chapter only if its code is the same
    runs[item.cell_num] = ((item.cell.source, item.test_outputs)
                           if report.passed and item.test_outputs is not None else None)


def pytest_sessionfinish(session, exitstatus):
    import os
    from pathlib import Path

    import nbformat

    folder = os.environ.get("IGOS_EXECUTED")
    if not folder or not _EXECUTED:
        return
    root = Path(__file__).resolve().parents[1]
    Path(folder).mkdir(parents=True, exist_ok=True)
    for golden, runs in _EXECUTED.items():
        chapter = root / "book" / Path(golden).name
        if not chapter.exists():
            continue
        nb = nbformat.read(chapter, 4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if len(runs) != len(code) or any(v is None for v in runs.values()):
            continue                                   # a cell failed or did not run: leave it to the book build
        if any(runs[k][0] != cell.source for k, cell in enumerate(code)):
            continue                                   # a stale golden copy: its outputs belong to other code
        for k, cell in enumerate(code):
            cell.outputs = [nbformat.from_dict(dict(o)) for o in runs[k][1]]
            for o in cell.outputs:
                if o.get("output_type") == "execute_result":
                    o["execution_count"] = k + 1
            cell.execution_count = k + 1
        nbformat.write(nb, Path(folder) / chapter.name)
    from igos.book.ledger import package_hash

    (Path(folder) / "igos.hash").write_text(package_hash() + "\n")     # book/_tools/assemble_book.py reuses runs of this igos only


# ----------------------------------------------------------------- the fast tier (make test-fast)
# `make test-fast` deselects the tests marked slow: the pretrained model, the ImageNet samples,
# the peer libraries, subprocesses and whole notebooks. A test is marked when it (or a fixture it
# uses) is listed here, or when its own source names one of SLOW_WORDS; a few more carry an
# explicit @pytest.mark.slow.
SLOW_FIXTURES = {"lite0", "imagenet_samples", "reference"}
SLOW_WORDS = ("efficientnet_lite0", "imagenet-samples", "subprocess", "multiprocessing", "torch.distributed", "captum",
              "pytorch_grad_cam", "torchattacks", "vgg16", "vgg19", "resnet50")


def pytest_collection_modifyitems(config, items):
    import inspect

    for item in items:
        fn = getattr(item, "function", None)
        if fn is None:                                   # a notebook cell (nbval) or a doctest
            if ".ipynb" in item.nodeid:
                item.add_marker(pytest.mark.slow)
            continue
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = ""
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or any(w in source for w in SLOW_WORDS):
            item.add_marker(pytest.mark.slow)
