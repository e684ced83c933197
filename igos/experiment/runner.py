"""Running an experiment: images, one row per (image, method, resolution), resuming (see :mod:`igos.experiment`)."""
from __future__ import annotations

import datetime
import math
import os
import platform
import shutil
import socket
import time
import warnings
from pathlib import Path

import torch

from .config import config_hash, load_config, plan, resolve_method, row_key
from .dist import Dist, device_for_rank
from .results import RowWriter, check_hash, merge, parts_dir, read_results, repair


class ImageSource:
    """The images of a config, decoded one at a time (a large folder never sits in memory).

    Selection, decoding and boxes are those of :func:`igos.load_images`, which a test
    checks; a pointing-game dataset (``"voc07:<folder>"``, ``"coco:<folder>"``), which
    ``load_images`` refuses, gives one entry per image and object class
    (:func:`igos.data.pointing_entries`), the whole image resized.
    """

    def __init__(self, source: str, n: int | None = None, seed: int | None = None, size: int = 224,
                 resize: int | None = None):
        from .. import data

        self._data = data
        self.entries = data.image_entries(source, n=n, seed=seed)
        # Shorter side 256 for a 224 crop, and the same ratio for other sizes.
        self.size, self.resize = size, resize if resize is not None else round(size * 256 / 224)

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int) -> tuple[torch.Tensor, str, int, torch.Tensor]:
        """``(image [3, S, S], name, label, box)``: ``box`` is ``[4]`` (NaN where unknown), or ``[K, 4]``
        for an entry of a pointing-game dataset (all objects of its class; the whole image resized)."""
        e = self.entries[index]
        if e.get("boxes") is not None:
            x, geometry = self._data.resize_whole(self._data.read_image(e["path"]), self.size)
            boxes = [self._data.map_box(b, geometry, self.size) for b in e["boxes"]]
            return x, e["name"], int(e.get("label", -1)), torch.tensor(boxes, dtype=torch.float32)
        x, geometry = self._data.resize_crop(self._data.read_image(e["path"]), self.size, self.resize)
        box = self._data.map_box(e["box"], geometry, self.size) if e.get("box") else [math.nan] * 4
        return x, e["name"], int(e.get("label", -1)), torch.tensor(box, dtype=torch.float32)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class LossRecorder:
    """The ``callback(iteration, loss, mask)`` given to optimisation methods: counts calls, keeps the last loss."""

    def __init__(self) -> None:
        self.calls, self.loss = 0, None

    def __call__(self, iteration=None, loss=None, mask=None, *args, **kwargs) -> None:
        self.calls += 1
        if loss is not None:
            self.loss = torch.as_tensor(loss).detach().float().mean().item()


def evaluate(model, image: torch.Tensor, target: int, spec: dict, resolution, config: dict,
             box: torch.Tensor | None = None) -> dict:
    """One method at one resolution on one image ``[1, 3, H, W]`` -> the measured fields of a row."""
    from .. import metrics as M

    fn = resolve_method(spec["name"])
    kwargs = dict(spec["options"])
    if resolution is not None:
        kwargs["resolution"] = resolution
    if fn.seeded and "seed" not in kwargs:
        kwargs["seed"] = config["seed"]
    recorder = LossRecorder() if fn.reports else None
    if recorder is not None:
        kwargs["callback"] = recorder
    optimises = fn.optimises                           # mask optimisation (I-GOS, Mask): record its effect
    if optimises:
        kwargs["return_history"] = True
    device = image.device
    _sync(device)
    t0 = time.perf_counter()
    saliency = fn(model, image, target, **kwargs)
    _sync(device)
    seconds = time.perf_counter() - t0
    history = None
    if optimises:
        saliency, history = saliency
    m = config["metrics"]
    t0 = time.perf_counter()
    measured = {}
    for key, (default, measure) in ROW_METRICS.items():        # the metrics the config switches on
        if m.get(key, default):
            measured.update(measure(model, image, saliency, target, m, config["seed"], box))
    if measured.get("p_image") is None:                        # no curves: the target's probability on the image
        from ..perturbation import target_prob

        with torch.no_grad():
            measured["p_image"] = target_prob(model, image, torch.tensor([target], device=image.device))[0].item()
    _sync(device)
    row = {
        "map_size": list(saliency.shape[-2:]),
        "deletion": None, "insertion": None, "pointing_hit": None,
        "seconds": seconds,
        "metric_seconds": time.perf_counter() - t0,
        "iterations": recorder.calls if recorder is not None and recorder.calls else None,
        "loss": _finite(recorder.loss) if recorder is not None else None,
        "tied_share": _finite(M.tied_share(saliency.detach().float().cpu())[0].item()),
        **measured,
    }
    row["p_image"] = _finite(row["p_image"])
    if history is not None:
        # the effect of the optimisation, not only its map: probabilities and objective before and after
        row.update({
            "p_masked": _finite(history["prob"][-1, 0].item()),
            "objective_start": _finite(history["objective"][0, 0].item()),
            "objective_end": _finite(history["objective"][-1, 0].item()),
            "mean_saliency": _finite(saliency.float().mean().item()),     # mean(1 - M)
            "iterations": int(history["iterations"][0]),
        })
        row["stalled"] = M.stalled(row["p_image"], row["p_masked"])
    return row


def _deletion_insertion(model, image, saliency, target, m: dict, seed: int, box) -> dict:
    """Deletion and insertion AUCs (and, with ``curves``, the curves), and ``p(x)``, where the deletion curve starts."""
    from .. import metrics as M

    opts = dict(baseline=m["baseline"], n_steps=m["n_steps"], batch_size=m["batch_size"], seed=seed)
    dele = M.deletion_curve(model, image, saliency, target, **opts)
    ins = M.insertion_curve(model, image, saliency, target, **opts)
    out = {"deletion": _finite(M.auc(*dele).item()), "insertion": _finite(M.auc(*ins).item()),   # None if NaN
           "p_image": dele.probs[0, 0].item()}
    if m["curves"]:
        out.update({"fractions": dele.fractions.tolist(), "deletion_curve": dele.probs[0].tolist(),
                    "insertion_curve": ins.probs[0].tolist()})
    return out


def _pointing_game(model, image, saliency, target, m: dict, seed: int, box) -> dict:
    """Whether the map's maximum falls in the object's box (``tolerance`` pixels); nothing without a box."""
    from .. import metrics as M

    if box is None or not torch.isfinite(box).all():
        return {}
    boxes = [box.cpu()] if box.dim() == 2 else box[None].cpu()      # [K, 4]: several objects of the class
    return {"pointing_hit": bool(M.pointing_game(saliency.cpu(), boxes, image_size=tuple(image.shape[-2:]),
                                                 tolerance=m["tolerance"])[0])}


#: The runner's metrics: the key of a config's ``metrics`` that switches each on (and its default), and
#: ``measure(model, image [1, 3, H, W], saliency [1, h, w], target, metrics options, seed, box) -> row fields``.
#: A new metric is one entry here (and its switch in :data:`igos.experiment.config.METRIC_KEYS`).
ROW_METRICS = {
    "deletion_insertion": (True, _deletion_insertion),
    "pointing_game": (True, _pointing_game),
}


def run(config: str | os.PathLike | dict, results: str | os.PathLike | None = None, *, fresh: bool = False,
        device: str | None = None, progress: bool = True) -> Path:
    """Run (or resume) an experiment and return the path of the merged results file.

    Args:
        config: a YAML/JSON file or a dict (see the module docstring).
        results: the JSONL results file; overrides the config's ``results``.
        fresh: delete earlier results of this path first (instead of resuming).
        device: overrides the config's ``device``.
        progress: show a tqdm progress bar with ETA (rank 0 only).
    """
    from tqdm.auto import tqdm

    from .. import __version__
    from ..devices import device_name
    from ..models import load_model
    from ..targets import num_classes_of, object_target, predict

    cfg = load_config(config)
    if device is not None:
        cfg["device"] = device
    results = results if results is not None else cfg["results"]
    if results is None:
        raise ValueError("no results path: set 'results' in the config or pass results=... / --results")
    results = Path(results)
    digest = config_hash(cfg)
    source = ImageSource(cfg["images_path"], cfg["n_images"], cfg["image_seed"], cfg["image_size"])
    tasks = plan(cfg, len(source))
    order = {row_key(*t): pos for pos, t in enumerate(tasks)}
    specs = {s["label"]: s for s in cfg["methods"]}

    dist = Dist()
    try:
        if fresh and dist.rank == 0:
            results.unlink(missing_ok=True)
            shutil.rmtree(parts_dir(results), ignore_errors=True)
        dist.barrier()
        own = results if dist.world == 1 else parts_dir(results) / f"rank-{dist.rank:05d}.jsonl"
        if own.is_file():
            repair(own)
        existing = read_results(results)
        check_hash(existing, digest, results)
        done = {row["key"] for row in existing}
        mine = [t for t in tasks if t[0] % dist.world == dist.rank]
        todo = [t for t in mine if row_key(*t) not in done]

        dev = device_for_rank(cfg["device"], dist.local_rank, dist.world)
        base = {"config_hash": digest, "images": cfg["images"], "model": cfg["model"], "device": str(dev), "device_name": device_name(dev),
                "version": __version__, "torch": torch.__version__, "rank": dist.rank, "world_size": dist.world,
                "host": platform.node() or socket.gethostname()}
        bar = tqdm(total=len(mine), initial=len(mine) - len(todo), unit="row", dynamic_ncols=True,
                   desc=f"igos run{f' (rank 0 of {dist.world})' if dist.world > 1 else ''}",
                   disable=not progress or dist.rank != 0)
        model = load_model(cfg["model"], dev) if todo else None
        with RowWriter(own) as writer:
            current = None
            for index, label, resolution in todo:
                if current is None or current[0] != index:
                    x, name, true_label, box = source.load(index)
                    x = x[None].to(dev)
                    predicted = int(predict(model, x)[0])
                    entry = source.entries[index]
                    if entry.get("object_class") is not None:     # pointing-game dataset: the object's class
                        target, why = object_target(model, x, entry["dataset"], entry["object_class"]), "object class"
                    elif isinstance(cfg["target"], int):
                        target, why = cfg["target"], "config"
                    elif cfg["target"] == "label" and true_label >= 0:
                        if true_label >= num_classes_of(model, x):
                            raise ValueError(f"image {name!r} has the label {true_label}, outside the "
                                             f"{num_classes_of(model, x)} classes of {cfg['model']!r}: check the "
                                             "labels, or set target: predicted to explain the prediction")
                        target, why = true_label, "label"
                    else:   # target "predicted", or an unlabelled image (label -1)
                        target, why = predicted, "predicted"
                    current = (index, x, name, true_label, box, predicted, target, why)
                _, x, name, true_label, box, predicted, target, why = current
                spec = specs[label]
                measured = evaluate(model, x, target, spec, resolution, cfg, box)
                row = {"key": row_key(index, label, resolution), "image_index": index, "image": name,
                       "label": true_label, "target": target, "target_source": why, "predicted": predicted,
                       "method": label, "method_name": spec["name"], "resolution": resolution,
                       **({"object_class": entry["object_class"]} if entry.get("object_class") else {}), **measured,
                       **base, "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
                writer.write(row)
                bar.update(1)
        bar.close()
        dist.barrier()
        if dist.rank == 0:
            rows = merge(results, order, digest)
            missing = len(tasks) - sum(r["key"] in order for r in rows)
            if missing:
                warnings.warn(f"{results}: {missing} of {len(tasks)} rows are missing after the merge", stacklevel=2)
    finally:
        dist.close()
    return results
