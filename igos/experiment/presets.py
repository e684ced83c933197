"""The paper's experiments as configs for :func:`igos.experiment.run`: Tables 1-5 and Table 6's pointing game.

:func:`paper_config` builds the config of Tables 1-5:

* the methods of Tables 1 and 2: Grad-CAM at its layer's grid, RISE and Integrated Gradients
  at the input grid (224), Mask, I-GOS and Excitation BP (c-MWP, and the plain MWP beside it)
  at every requested resolution (Excitation BP at the layer whose grid is closest,
  :func:`excitation_backprop_at`), plus the input gradient ("AM" in Table 6);
* the Table 4 ablations of I-GOS (no TV term, no noise, fixed step) at 224 and 28;
* Table 5: I-GOS and Mask at 28 x 28 under three ``(lambda1, lambda2)`` settings,
  :data:`TABLE5_LAMBDAS`. The main I-GOS row at 28 stands for the setting whose lambdas are
  I-GOS's defaults there (B = (0.1, 2) for the default preset); the other settings get their
  own ``i_gos@<setting>`` rows (Mask's through :func:`mask_objective`).
* the metrics: deletion and insertion against the blurred image.

Table 6's pointing game needs object boxes, which the ImageNet samples lack: it has a config
of its own (:func:`pointing_config`), on the embedded photos or on a local copy of VOC07 or COCO
(``"voc07:<folder>"``, ``"coco:<folder>"``; maps only, no curves).

Sizes come in three scales (:data:`SCALES`): ``"fast"`` (CI: 2 photos, 28 x 28, a few
iterations), ``"cpu"`` (the book's default build on a 2-core CPU: the 20 ImageNet validation
photos of ``foolbox``, Table 1 on all of them, the ablations, Table 5 and the 112/14 columns on
the first 4, fewer iterations than the paper) and ``"paper"`` (the paper's iteration counts on
every photo; picked when a GPU is detected). The results file lives in :func:`results_dir`, with
the scale, model, image count and config hash in its name, so changing a parameter never mixes
rows of two configs. ``igos config paper`` writes such a config; ``igos paper`` runs the book's
(:func:`chapter_config`, then :func:`pointing_config`).

Explained in ``book/40_running_the_experiments.ipynb``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..data import BUILT_IN_SOURCES, split_pointing_source

#: The paper's mask resolutions (Tables 1 and 2).
PAPER_RESOLUTIONS = (224, 112, 28, 14, 7)


#: Resolutions of the Table 4 ablation.
ABLATION_RESOLUTIONS = (224, 28)


#: Resolution of Table 5.
TABLE5_RESOLUTION = 28


#: Table 5's three ``(lambda1, lambda2)`` settings, shared by I-GOS and Mask. The paper does not
#: name them, but its Table 5 prints I-GOS's Table 1 numbers at 28 x 28 in column C and Mask's in
#: column A, so A is Mask's best setting (0.01, 0.2) and C is I-GOS's best (1, 20). For B we take
#: the geometric midpoint (0.1, 2), which keeps lambda2 / lambda1 = 20 as in A and C.
TABLE5_LAMBDAS = {"A": (0.01, 0.2), "B": (0.1, 2.0), "C": (1.0, 20.0)}


#: Table 4 variants: label -> options of :func:`igos.i_gos`.
ABLATIONS = {"i_gos_no_tv": {"tv": False}, "i_gos_no_noise": {"noise": 0.0}, "i_gos_fixed_step": {"step_rule": "fixed"}}


#: Sizes of the three scales. ``*_batch``: inputs per forward pass (small batches are fastest on
#: a CPU, where large ones spill out of the caches; results do not depend on them).
#: ``subset_images``: the first photos of the run that the Table 4 ablations, Table 5's settings
#: and the ``subset_resolutions`` of I-GOS and Mask use (``None``: every photo); every other row
#: of Tables 1 and 2 is computed on every photo. ``metric_steps``: deletion and insertion steps
#: (the authors' code deletes ``floor(h w / 200)`` cells per step, about 200 steps; the CPU build
#: takes 100, whose areas chapter 40 compares with 200 steps).
SCALES = {
    "fast": dict(n_images=2, resolutions=[28], i_gos_iter=3, i_gos_steps=10, mask_iter=25, rise_masks=200,
                 ig_steps=16, metric_steps=20, method_batch=4, rise_batch=8, metric_batch=4,
                 subset_images=None, subset_resolutions=[]),
    "cpu": dict(n_images=20, resolutions=list(PAPER_RESOLUTIONS), i_gos_iter=8, i_gos_steps=20, mask_iter=160,
                rise_masks=500, ig_steps=50, metric_steps=100, method_batch=4, rise_batch=8, metric_batch=4,
                subset_images=4, subset_resolutions=[112, 14]),
    "paper": dict(n_images=20, resolutions=list(PAPER_RESOLUTIONS), i_gos_iter=15, i_gos_steps=20, mask_iter=500,
                  rise_masks=4000, ig_steps=50, metric_steps=200, method_batch=None, rise_batch=256,
                  metric_batch=64, subset_images=None, subset_resolutions=[]),
}


#: The paper's settings, for cost extrapolation (RISE: 4000 masks for ResNet50 in the RISE paper).
PAPER_SETTINGS = {"i_gos_iter": 15, "i_gos_steps": 20, "mask_iter": 500, "rise_masks": 4000, "metric_steps": 200}


#: Methods of Tables 1-3 and 6 (labels in the config).
MAIN = ("excitation_backprop", "mask", "grad_cam", "rise", "integrated_gradients", "i_gos")


POINTING = ("gradient",) + MAIN


def results_dir() -> Path:
    """Where results files go: ``$IGOS_RESULTS``; else, in a clone of the book's repository, its
    top-level ``results/`` (ignored by git; the same from ``book/`` and ``tests/``); else ``./results``."""
    env = os.environ.get("IGOS_RESULTS")
    if env:
        return Path(env).expanduser().resolve()
    clone = Path(__file__).resolve().parents[2]
    if (clone / "pyproject.toml").is_file() and (clone / "book").is_dir():
        return clone / "results"
    return Path.cwd() / "results"


def scale_for(fast: bool, device="auto") -> str:
    """``"fast"`` when ``fast``; else ``"paper"`` on a GPU and ``"cpu"`` elsewhere."""
    from ..devices import resolve_device

    if fast:
        return "fast"
    return "paper" if resolve_device(device).type == "cuda" else "cpu"


def paper_config(fast: bool = False, *, model: str = "efficientnet_lite0", images: str = "imagenet-samples",
                 n_images: int | None = None, resolutions: Sequence[int] | None = None, device="auto",
                 scale: str | None = None, results: str | os.PathLike | None = None, **overrides) -> dict:
    """The config of the paper's experiments (Tables 1-6) for :func:`igos.experiment.run`.

    Args:
        fast: CI sizes (scale ``"fast"``).
        model: a name of :data:`igos.MODELS`.
        images: ``"imagenet-samples"`` (the default: foolbox's 20 ImageNet validation photos),
            ``"embedded"`` (the calibration photos) or an ImageNet-val style folder. From a
            folder the ``n_images`` images are a random sample (``image_seed`` 0) of the whole
            folder, not its first classes; the two built-in sets keep their order.
        n_images: images to use (default: the scale's, 2 or 20; ``None`` keeps it).
        resolutions: mask resolutions of I-GOS and Mask (default: the scale's).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...; it picks the scale when ``scale`` is
            ``None`` and is not part of the config hash.
        scale: ``"fast"``, ``"cpu"`` or ``"paper"`` (see :data:`SCALES`); default
            :func:`scale_for`.
        results: the results file; default ``results/paper-<scale>-<model>-<n>-<hash>.jsonl``.
        **overrides: entries of :data:`SCALES` to change (``i_gos_iter=15``...).

    Returns:
        A plain dict (YAML-friendly) with the runner's config keys only (see
        :mod:`igos.experiment`); :func:`settings_of` reads the sizes back from it.
    """
    scale = scale or scale_for(fast, device)
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    unknown = set(overrides) - set(SCALES[scale])
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {', '.join(SCALES[scale])}")
    s = {**SCALES[scale], **overrides}
    if scale == "paper" and "rise_masks" not in overrides and str(model).startswith("vgg"):
        s["rise_masks"] = 8000      # the RISE protocol: 8000 masks for VGG, 4000 for ResNet50
    if n_images is not None:
        s["n_images"] = n_images
    if resolutions is not None:
        s["resolutions"] = [int(r) for r in resolutions]
    res = list(s["resolutions"])
    if not res:
        raise ValueError("resolutions must name at least one mask resolution")
    ablation = [r for r in ABLATION_RESOLUTIONS if r in res] or res[:1]
    sub = s["subset_images"]
    if sub is not None and (s["n_images"] is None or sub < s["n_images"]):
        subset = {"n_images": sub}                                        # ablations and Table 5
        per_res = {r: sub for r in s["subset_resolutions"] if r in res}
        table1 = {"n_images": per_res} if per_res else {}
    else:
        subset, table1 = {}, {}
    bs, i_gos = s["method_batch"], {"n_iter": s["i_gos_iter"], "n_steps": s["i_gos_steps"]}
    if bs is not None:
        i_gos["batch_size"] = bs
    mask = {"n_iter": s["mask_iter"]}
    methods = [
        {"name": "gradient"},
        {"name": "igos.experiment.presets:excitation_backprop_at", "label": "excitation_backprop",
         "resolutions": res, **table1},
        # the plain MWP beside the contrastive one (the paper's Excitation BP is c-MWP), on the subset
        {"name": "igos.experiment.presets:excitation_backprop_at", "label": "excitation_backprop_mwp",
         "options": {"contrastive": False}, "resolutions": res, **subset},
        {"name": "grad_cam"},
        # the paper's IG uses "a grey zero image" as baseline (its Fig. 1 and 3); the same in tables and figures
        {"name": "integrated_gradients", "options": {"n_steps": s["ig_steps"], "batch_size": bs, "baseline": "grey"}},
        {"name": "rise", "options": {"n_masks": s["rise_masks"], "batch_size": s["rise_batch"]}},
        {"name": "mask", "options": dict(mask), "resolutions": res, **table1},
        {"name": "i_gos", "options": dict(i_gos), "resolutions": res, **table1},
    ]
    methods += [{"name": "i_gos", "label": label, "options": {**i_gos, **opts}, "resolutions": ablation, **subset}
                for label, opts in ABLATIONS.items()]
    from ..methods.i_gos import default_lambdas

    for setting, (l1, l2) in TABLE5_LAMBDAS.items():
        if default_lambdas(TABLE5_RESOLUTION) != (l1, l2):   # else the main I-GOS row at 28 is this setting
            methods.append({"name": "i_gos", "label": f"i_gos@{setting}",
                            "options": {**i_gos, "lambda1": l1, "lambda2": l2}, "resolutions": [TABLE5_RESOLUTION],
                            **subset})
    for setting, (l1, l2) in TABLE5_LAMBDAS.items():
        methods.append({"name": "igos.experiment.presets:mask_objective", "label": f"mask@{setting}",
                        "options": {**mask, "lambda1": l1, "lambda2": l2, "tv_beta": 2},
                        "resolutions": [TABLE5_RESOLUTION], **subset})
    config = {
        "model": model, "images": str(images), "n_images": s["n_images"], "image_size": 224, "seed": 0,
        # a folder (ImageNet val) is sampled at random over all its classes; the built-in sets keep their order
        "image_seed": None if str(images) in BUILT_IN_SOURCES else 0,
        "device": device if isinstance(device, str) else str(device), "target": "label", "resolutions": res,
        "methods": methods,
        "metrics": {"n_steps": s["metric_steps"], "baseline": "blur", "batch_size": s["metric_batch"],
                    "tolerance": 15, "curves": True, "pointing_game": True},
    }
    config["results"] = str(results if results is not None else _results_path("paper", scale, config))
    return config


def _results_path(prefix: str, scale: str, config: dict) -> Path:
    """``results/<prefix>-<scale>-<model>-<n images>-<hash>.jsonl``: a file per config, never shared by two."""
    from .config import config_hash, normalize_config

    digest = config_hash(normalize_config({**config, "results": None}))
    n = "all" if config["n_images"] is None else config["n_images"]
    return results_dir() / f"{prefix}-{scale}-{config['model']}-{n}-{digest[:8]}.jsonl"


#: The sizes of the shared experiment of chapters 00 and 40-45 (their parameters cells use the same).
CHAPTER_N_IMAGES = {True: 2, False: 20}


CHAPTER_RESOLUTIONS = {True: [28], False: list(PAPER_RESOLUTIONS)}


#: The pointing game (Table 6) needs object boxes: it runs on the embedded photos, which carry them,
#: or on a local copy of VOC07 / COCO (``images="voc07:<folder>"``, a seeded random subset of images).
POINTING_N_IMAGES = {True: 2, False: 7}


POINTING_DATASET_IMAGES = {"fast": 4, "cpu": 100, "paper": None}     # None: the whole test set


POINTING_RESOLUTIONS = {"fast": [28], "cpu": [28], "paper": [28, 14]}


def chapter_config(fast: bool = False, *, model: str = "efficientnet_lite0", images: str = "imagenet-samples",
                   device="auto") -> dict:
    """The config the reproduction chapters run by default (``python -m igos paper`` runs it first in ``make book``).

    :func:`paper_config` with the chapters' default photo count and resolutions, so that the
    results file is the one the chapters read.
    """
    return paper_config(fast, model=model, images=images, n_images=CHAPTER_N_IMAGES[bool(fast)],
                        resolutions=CHAPTER_RESOLUTIONS[bool(fast)], device=device)


def excitation_backprop_at(model, images, target=None, *, resolution: int, contrastive: bool = True,
                           batch_size: int | None = None) -> torch.Tensor:
    """Excitation Backprop (c-MWP, or MWP with ``contrastive=False``) at the layer whose grid is ``resolution``.

    The paper reports Excitation BP at 224, 112, 28 and 14 (its Table 1), i.e. at layers of VGG
    with those grids. Here the layer is the deepest convolution whose output grid is closest to
    ``resolution`` (:func:`igos.layers.layer_for_grid`); EfficientNet-Lite0 has no 224 grid, so
    its 224 row uses the 112 grid of the stem (the row's ``map_size`` says so), and at 7 the
    model's last convolution. Returns ``[N, h, w]`` on that layer's grid.
    """
    from ..layers import layer_for_grid
    from ..methods import excitation_backprop

    layer, _ = layer_for_grid(model, int(resolution), int(images.shape[-1]))   # one probing forward pass
    return excitation_backprop(model, images, target, layer=layer, contrastive=contrastive, batch_size=batch_size)


def pointing_config(fast: bool = False, *, model: str = "efficientnet_lite0", images: str = "embedded",
                    n_images: int | None = None, device="auto", scale: str | None = None) -> dict:
    """The config of Table 6's pointing game on photos with object boxes (chapter 45).

    The methods of :data:`POINTING` with the sizes of :func:`paper_config`, I-GOS and Mask at
    :data:`POINTING_RESOLUTIONS`, and no deletion or insertion curves (only the maps' maxima
    count), so the run costs the maps only. ``images``: ``"embedded"`` (one hand-drawn box per
    photo), or ``"voc07:<folder>"`` / ``"coco:<folder>"`` for the paper's datasets: one row per
    image, object class and method, the whole image resized, a seeded random subset of
    ``n_images`` images (default :data:`POINTING_DATASET_IMAGES`; ``None`` at paper scale: all). ``python -m igos paper`` runs it after the shared
    experiment. ``scale``: as in :func:`paper_config`.
    """
    scale = scale or scale_for(fast, device)
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    dataset = split_pointing_source(images) is not None
    if n_images is None:
        n_images = POINTING_DATASET_IMAGES[scale] if dataset else POINTING_N_IMAGES[scale == "fast"]
    base = paper_config(model=model, images=images, resolutions=POINTING_RESOLUTIONS[scale], device=device,
                        n_images=n_images, scale=scale)
    base["n_images"] = n_images                      # None (a whole dataset at paper scale) stays None
    # Excitation BP at its usual layer (the model's last convolution), as in the pointing games of its paper
    methods = [{"name": "excitation_backprop"} if m.get("label") == "excitation_backprop" else m
               for m in base["methods"] if m.get("label", m["name"]) in POINTING]
    config = {**base, "methods": methods, "metrics": {**base["metrics"], "deletion_insertion": False,
                                                        "curves": False, "pointing_game": True}}
    config["results"] = str(_results_path("pointing", scale, config))
    return config


def settings_of(config: dict) -> dict:
    """The sizes of a :func:`paper_config` config, read back from its methods and metrics."""
    specs = {m.get("label", m["name"]): m.get("options", {}) for m in config["methods"]}
    get = lambda label, key: specs.get(label, {}).get(key)  # noqa: E731
    return {"n_images": config.get("n_images"), "resolutions": config.get("resolutions"),
            "i_gos_iter": get("i_gos", "n_iter"), "i_gos_steps": get("i_gos", "n_steps"),
            "mask_iter": get("mask", "n_iter"), "rise_masks": get("rise", "n_masks"),
            "ig_steps": get("integrated_gradients", "n_steps"), "metric_steps": config["metrics"]["n_steps"]}


def write_config(config: dict, path: str | os.PathLike | None = None) -> Path:
    """Write ``config`` as YAML (default: beside its results file, ``.yaml``) for ``python -m igos run``."""
    import yaml

    path = Path(path) if path is not None else Path(config["results"]).with_suffix(".yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    class _Dumper(yaml.SafeDumper):   # no &id001 anchors for lists that appear twice
        def ignore_aliases(self, data):
            return True

    path.write_text(yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=110))
    return path


def mask_objective(model, images, target=None, *, resolution: int = 28, callback: Callable | None = None,
                   return_history: bool = False, **options):
    """:func:`igos.meaningful_perturbation`, reporting the noiseless objective ``F`` at its final mask as the last loss.

    Mask's own callback reports the *noisy* loss at the mask each Adam step started from.
    Table 5 compares objectives after convergence, so the runner must record ``F(M_final)``
    (the same function :func:`igos.perturbation.objective` computes). This wrapper forwards
    Mask's per-step losses to ``callback`` and replaces the last one by ``F(M_final)``; the
    iteration count is unchanged.
    """
    from ..methods.meaningful_perturbation import meaningful_perturbation

    saliency, history = meaningful_perturbation(model, images, target, resolution=resolution, return_history=True, **options)
    if callback is not None:
        losses = history["loss"]
        for k in range(losses.shape[0] - 1):
            callback(k, losses[k], None)
        callback(max(losses.shape[0] - 1, 0), history["objective"][-1], None)
    return (saliency, history) if return_history else saliency
