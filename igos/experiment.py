"""The experiment runner: methods x resolutions x images -> one JSON line per result.

Run it from the shell::

    python -m igos run experiment.yaml                    # one process
    python -m igos run experiment.yaml --workers auto     # on a CPU: one process per core
    torchrun --nproc-per-node 4 -m igos run experiment.yaml  # 4 processes (GPUs or CPU)

or from Python with :func:`run`. A config (YAML or JSON) looks like::

    model: efficientnet_lite0        # a name of igos.MODELS
    images: embedded                 # imagenet-samples, or a folder / file (relative to the config file)
    n_images: 50                     # null: all; the first n in sorted order ...
    image_size: 224                  # centre crop (after resizing the shorter side to 256/224 of it)
    image_seed: null                 # ... or a random subset drawn with this seed
    seed: 0                          # passed to every method that takes `seed`
    device: auto                     # not part of the config hash
    target: label                    # "label": the true class (the prediction when it is unknown; a
                                     # label outside the model's classes raises), "predicted", or an int
    resolutions: [224, 112, 28, 14]  # for methods that take `resolution` (i_gos, mask, ...)
    methods:                         # a list of names / specs, or {name: options}
      - gradient
      - {name: i_gos, label: i_gos_no_tv, options: {tv: 0}, resolutions: [28], n_images: 5}
      - {name: mask, resolutions: [224, 112, 28], n_images: {112: 5}}
                                     # n_images on a method: only the run's first n images (an int,
                                     # or per resolution: those not named use every image)
    metrics: {n_steps: 100, baseline: blur, batch_size: 64, tolerance: 15, curves: false}
                                     # deletion_insertion: false skips both curves (a pointing-game run)
    results: results/exp.jsonl       # default: <config name>.jsonl beside the config

Each (image, method, resolution) gives one row. The row is appended to the results
file as soon as it is computed, and the file is flushed and fsynced. A row holds the
deletion and insertion AUCs, the pointing game hit (when the image has a box), the
method's seconds, its iterations and final loss (when the method reports them through
``callback``), the device, the package and torch versions, and the config hash.
Methods without a ``resolution`` argument give one row at their native map size, with
``resolution: null``.

**Resuming.** A rerun reads every finished row and skips it. A row counts as finished
only when its line is complete (it ends with a newline and parses). A process killed
with ``kill -9`` can leave half a line at the end of its file; the process that owns the
file cuts it off before appending again, so the row is recomputed once. A results file
written by a different config (another hash) is refused. Delete it, pass ``--fresh``, or
choose another ``--results`` path.

**Scaling.** Under ``torchrun`` (``WORLD_SIZE > 1``), image ``i`` goes to rank
``i % WORLD_SIZE``. Every rank appends to its own part file ``<results>.parts/rank-R.jsonl``.
After a barrier, rank 0 merges the parts and any earlier rows into ``<results>``: it
deduplicates by key, sorts in plan order, writes a temporary file, renames it into place,
and only then deletes the parts. torch.distributed is used for the barriers only, with
the ``gloo`` backend even on GPUs. A barrier needs no tensors on the device, and gloo
avoids NCCL's device binding and watchdog for processes that wait a long time for a
slower rank. With several nodes, the results path must be on a shared file system. A
one-process run appends to ``<results>`` directly and rewrites it sorted at the end.

**CPU workers.** ``--workers N`` (``run`` and ``paper``) starts the same thing on one machine:
``N`` processes under ``torch.distributed.run``, each with ``cores // N`` threads. On a CPU
this is faster than one process with every thread: a small batch through a small CNN keeps
one core busy far better than it spreads over several (on 2 cores, 2 workers of 1 thread ran
the shared experiment's rows 1.4 times faster than 1 process of 2 threads). ``auto`` is one
worker per core (at most :data:`MAX_WORKERS`) on a CPU, and 1 on a GPU. The numbers of a row
depend on the thread count only through float rounding, which an optimiser (I-GOS's line
search) can amplify; the row records its ``world_size`` and ``device_name`` (with threads).

Explained in ``book/40_running_the_experiments.ipynb``.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib
import inspect
import json
import math
import os
import platform
import shutil
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch

from .data import BUILT_IN_SOURCES, split_pointing_source

CONFIG_KEYS = ("model", "images", "n_images", "image_seed", "image_size", "seed", "device", "target",
               "resolutions", "methods", "metrics", "results")
METRIC_KEYS = ("n_steps", "baseline", "batch_size", "tolerance", "curves", "pointing_game", "deletion_insertion")
#: Keys that do not change the numbers in a row; they are left out of the config hash.
UNHASHED = ("device", "results", "images_path")
UNHASHED_METRICS = ("batch_size",)
#: Row fields that differ between two runs of the same config (timings, placement).
VOLATILE = ("seconds", "metric_seconds", "time", "rank", "world_size", "host", "device", "device_name")
DIST_TIMEOUT = datetime.timedelta(days=7)
#: Most processes ``--workers auto`` starts on a CPU.
MAX_WORKERS = 8


# ----------------------------------------------------------------------------- config
def load_config(config: str | os.PathLike | dict) -> dict:
    """Read a YAML/JSON config file (or take a dict) and return it normalised (see :func:`normalize_config`)."""
    if isinstance(config, dict):
        return normalize_config(config)
    path = Path(config)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as err:  # pragma: no cover - pyyaml ships with the environment
            raise ImportError("reading a YAML config needs pyyaml (pip install pyyaml); or write it as JSON") from err
        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a mapping of keys to values")
    return normalize_config(raw, base_dir=path.parent, default_results=path.with_suffix(".jsonl"))


def _method_specs(methods) -> list[dict]:
    if methods is None:
        raise ValueError("the config needs 'methods': a list of method names or specs, e.g. methods: [gradient]")
    if isinstance(methods, (str, dict)) and not (isinstance(methods, dict) and "name" in methods):
        items = [methods] if isinstance(methods, str) else [{"name": k, "options": v or {}}
                                                            for k, v in methods.items()]
    else:
        items = methods if isinstance(methods, list) else [methods]
    specs = []
    for item in items:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise ValueError(f"a method must be a name or a mapping with 'name', got {item!r}")
        unknown = set(item) - {"name", "label", "options", "resolutions", "n_images"}
        if unknown:
            raise ValueError(f"method {item['name']!r}: unknown key(s) {sorted(unknown)}; "
                             f"use name, label, options, resolutions, n_images")
        n_images = _method_n_images(item)
        options = dict(item.get("options") or {})
        for bad in ("resolution", "callback"):
            if bad in options:
                raise ValueError(f"method {item['name']!r}: set '{bad}' through the runner "
                                 f"({'resolutions' if bad == 'resolution' else 'it records iterations itself'})")
        res = item.get("resolutions")
        spec = {"name": str(item["name"]), "label": str(item.get("label", item["name"])),
                "options": options, "resolutions": None if res is None else _resolutions(res)}
        if n_images is not None:    # absent when unset, so the hash of older configs is unchanged
            spec["n_images"] = n_images
        specs.append(spec)
    labels = [s["label"] for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"method labels must be unique, got {labels}; give repeated methods a 'label'")
    return specs


def _method_n_images(item: dict):
    """A method's ``n_images``: ``None``, a positive int, or ``{resolution: positive int}``."""
    n = item.get("n_images")
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1  # noqa: E731
    if n is None or ok(n):
        return n
    if isinstance(n, dict):
        try:
            out = {int(r): v for r, v in n.items()}   # JSON keys are strings
        except (TypeError, ValueError):
            out = None
        if out is not None and all(ok(v) for v in out.values()):
            return dict(sorted(out.items()))
    raise ValueError(f"method {item['name']!r}: n_images must be a positive int, a mapping "
                     f"{{resolution: positive int}} or null, got {n!r}")


def _resolutions(res) -> list:
    res = [res] if isinstance(res, int) or res is None else list(res)
    for r in res:
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ValueError(f"resolutions must be positive ints (or null for the method's default), got {r!r}")
    return res


def normalize_config(raw: dict, *, base_dir: str | os.PathLike | None = None,
                     default_results: str | os.PathLike | None = None) -> dict:
    """Fill in defaults, check the keys and return a plain dict.

    A relative image folder and results path are taken relative to ``base_dir`` (the
    config file's folder; the current folder for a dict). The hash sees the image
    source as written, so moving the project does not invalidate its results.
    """
    unknown = set(raw) - set(CONFIG_KEYS) - {"images_path"}   # images_path: already normalised
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known keys: {', '.join(CONFIG_KEYS)}")
    metrics = dict(raw.get("metrics") or {})
    bad = set(metrics) - set(METRIC_KEYS)
    if bad:
        raise ValueError(f"unknown metrics key(s) {sorted(bad)}; known: {', '.join(METRIC_KEYS)}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    images = str(raw.get("images", "embedded"))
    pointing = split_pointing_source(images)
    if raw.get("images_path"):
        images_path = raw["images_path"]
    elif pointing is not None:    # "voc07:<folder>": the folder relative to the config's
        images_path = f"{pointing[0]}:{pointing[1] if pointing[1].is_absolute() else (base / pointing[1]).resolve()}"
    else:
        images_path = images if images in BUILT_IN_SOURCES or Path(images).is_absolute() else str((base / images).resolve())
    if raw.get("results") is not None:
        results = Path(raw["results"])
        results = results if results.is_absolute() else base / results
    else:
        results = default_results
    target = raw.get("target", "label")
    if target not in ("label", "predicted") and (isinstance(target, bool) or not isinstance(target, int)):
        raise ValueError(f"target must be 'label', 'predicted' or a class index, got {target!r}")
    n_images = raw.get("n_images")
    if n_images is not None and (isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 1):
        raise ValueError(f"n_images must be a positive int or null, got {n_images!r}")
    cfg = {
        "model": raw.get("model", "efficientnet_lite0"),
        "images": images,
        "images_path": images_path,
        "n_images": n_images,
        "image_seed": raw.get("image_seed"),
        "image_size": int(raw.get("image_size", 224)),
        "seed": int(raw.get("seed", 0)),
        "device": raw.get("device", "auto"),
        "target": target,
        "resolutions": None if raw.get("resolutions") is None else _resolutions(raw["resolutions"]),
        "methods": _method_specs(raw.get("methods")),
        "metrics": {"n_steps": 100, "baseline": "blur", "batch_size": None, "tolerance": 15, "curves": False,
                    "pointing_game": True, **metrics},
        "results": None if results is None else str(results),
    }
    return cfg


def config_hash(config: dict) -> str:
    """A 16-hex-digit hash of everything in a normalised config that changes the numbers."""
    hashed = {k: v for k, v in config.items() if k not in UNHASHED}
    hashed["metrics"] = {k: v for k, v in config["metrics"].items() if k not in UNHASHED_METRICS}
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_method(name: str):
    """A name of :data:`igos.METHODS`, or ``"package.module:function"`` for your own method."""
    from .methods import METHODS

    if name in METHODS:
        return METHODS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import method {name!r}: {err}") from err
    raise ValueError(f"unknown method {name!r}; registered: {', '.join(sorted(METHODS))} "
                     f"(or give 'package.module:function')")


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _names_param(fn, name: str) -> bool:
    """``fn`` has a parameter called ``name`` (not only ``**kwargs``)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def takes_resolution(fn) -> bool:
    """Whether a method takes a ``resolution`` (a mask grid side): it then gives one row per resolution."""
    try:
        return "resolution" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def plan(config: dict, n_images: int) -> list[tuple[int, str, Any]]:
    """Every ``(image index, method label, resolution)`` of the experiment, in the order rows are written.

    A method with ``n_images`` runs on the first ``n_images`` images of the run only (a stated subset,
    e.g. the ablations on a CPU).
    """
    pairs = []
    for spec in config["methods"]:
        fn = resolve_method(spec["name"])
        if takes_resolution(fn):
            res = spec["resolutions"] if spec["resolutions"] is not None else (config["resolutions"] or [None])
        else:
            if spec["resolutions"] not in (None, [None]):
                raise ValueError(f"method {spec['label']!r} has no 'resolution' argument; drop its 'resolutions' "
                                 f"(it is evaluated at its native map size)")
            res = [None]
        n = spec.get("n_images")
        pairs += [(spec["label"], r, n.get(r) if isinstance(n, dict) else n) for r in res]
    return [(i, label, r) for i in range(n_images) for label, r, n in pairs if n is None or i < n]


def row_key(index: int, label: str, resolution) -> str:
    """The unique key of a row: ``"<image index>/<method label>/<resolution or native>"``."""
    return f"{index}/{label}/{'native' if resolution is None else resolution}"


# ----------------------------------------------------------------------------- images
class ImageSource:
    """The images of a config, decoded one at a time (a large folder never sits in memory).

    Selection, decoding and boxes are those of :func:`igos.load_images`, which a test
    checks; a pointing-game dataset (``"voc07:<folder>"``, ``"coco:<folder>"``), which
    ``load_images`` refuses, gives one entry per image and object class
    (:func:`igos.data.pointing_entries`), the whole image resized.
    """

    def __init__(self, source: str, n: int | None = None, seed: int | None = None, size: int = 224,
                 resize: int | None = None):
        from . import data

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


# ----------------------------------------------------------------------------- files
def parts_dir(results: str | os.PathLike) -> Path:
    """The folder of the per-rank part files of ``results``."""
    results = Path(results)
    return results.with_name(results.name + ".parts")


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The complete rows of one JSONL file. A line without its newline, or that does not parse, is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    data = path.read_bytes()
    lines = data.split(b"\n")
    for lineno, line in enumerate(lines[:-1], 1):  # the last piece has no newline: unfinished or empty
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{lineno}: skipping a line that is not valid JSON", stacklevel=2)
            continue
        if isinstance(row, dict) and "key" in row:
            rows.append(row)
    return rows


def read_results(results: str | os.PathLike, *, include_parts: bool = True) -> list[dict]:
    """Rows of ``results`` plus, if asked, those of its unmerged part files, without duplicates."""
    rows = read_rows(results)
    pdir = parts_dir(results)
    if include_parts and pdir.is_dir():
        for part in sorted(pdir.glob("rank-*.jsonl")):
            rows += read_rows(part)
    seen, out = set(), []
    for row in rows:
        if row["key"] not in seen:
            seen.add(row["key"])
            out.append(row)
    return out


def _repair(path: Path) -> None:
    """Cut an unfinished last line (a process killed mid-write) off a file this process owns."""
    if not path.is_file():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())


class RowWriter:
    """Append rows to a JSONL file, one flushed and fsynced line per row."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._fh.write(json.dumps(row, allow_nan=False, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ConfigMismatch(RuntimeError):
    """The results file holds rows of another config."""


def _check_hash(rows: Iterable[dict], digest: str, results: Path) -> None:
    others = sorted({r.get("config_hash") for r in rows} - {digest}, key=str)
    if others:
        raise ConfigMismatch(
            f"{results} (or its parts in {parts_dir(results)}/) holds rows of a different config "
            f"(config hash {', '.join(map(str, others))}; this config is {digest}). Nothing was written. "
            f"To start fresh, delete {results} and {parts_dir(results)}/, or rerun with --fresh "
            f"(run(..., fresh=True)); to keep both, pass another path with --results.")


def _merge(results: Path, order: dict, digest: str) -> list[dict]:
    """Rank 0: merge ``results`` and its parts into ``results``: dedup, sort, atomic rename, remove the parts."""
    rows = read_results(results)
    _check_hash(rows, digest, results)
    before = [r["key"] for r in rows]
    rows.sort(key=lambda r: (order.get(r["key"], len(order)), r["key"]))
    if (not parts_dir(results).exists() and [r["key"] for r in rows] == before
            and results.is_file() and results.read_bytes().count(b"\n") == len(rows)):
        return rows       # already merged: a finished file is only read (chapters may read it at the same time)
    tmp = results.with_name(f"{results.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, allow_nan=False, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, results)
    shutil.rmtree(parts_dir(results), ignore_errors=True)
    return rows


# ----------------------------------------------------------------------------- distributed
class _Dist:
    """Rank, world size and barriers under torchrun; a no-op in one process."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self._owned = False
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group(backend="gloo", timeout=DIST_TIMEOUT)
                self._owned = True

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self._owned:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._owned = False


def _device_for_rank(device, local_rank: int, world: int) -> torch.device:
    from .devices import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank % torch.cuda.device_count() if world > 1 else 0)
    return dev


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class _Recorder:
    """The ``callback(step, loss, mask)`` given to optimisation methods: counts calls, keeps the last loss."""

    def __init__(self) -> None:
        self.calls, self.loss = 0, None

    def __call__(self, step=None, loss=None, mask=None, *args, **kwargs) -> None:
        self.calls += 1
        if loss is not None:
            self.loss = torch.as_tensor(loss).detach().float().mean().item()


# ----------------------------------------------------------------------------- run
def evaluate(model, image: torch.Tensor, target: int, spec: dict, resolution, config: dict,
             box: torch.Tensor | None = None) -> dict:
    """One method at one resolution on one image ``[1, 3, H, W]`` -> the measured fields of a row."""
    from . import metrics as M

    fn = resolve_method(spec["name"])
    kwargs = dict(spec["options"])
    if resolution is not None:
        kwargs["resolution"] = resolution
    if _accepts(fn, "seed") and "seed" not in kwargs:
        kwargs["seed"] = config["seed"]
    recorder = _Recorder() if _accepts(fn, "callback") else None
    if recorder is not None:
        kwargs["callback"] = recorder
    optimises = _names_param(fn, "return_history")     # mask optimisation (I-GOS, Mask): record its effect
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
    opts = dict(baseline=m["baseline"], n_steps=m["n_steps"], batch_size=m["batch_size"], seed=config["seed"])
    curves = m.get("deletion_insertion", True)
    t0 = time.perf_counter()
    if curves:
        dele = M.deletion_curve(model, image, saliency, target, **opts)
        ins = M.insertion_curve(model, image, saliency, target, **opts)
        p_image = dele.probs[0, 0].item()                  # the deletion curve starts at the image
    else:
        from .figures import probabilities

        p_image = probabilities(model, image)[0, target].item()
    _sync(device)
    row = {
        "map_size": list(saliency.shape[-2:]),
        "deletion": _finite(M.auc(*dele).item()) if curves else None,     # None if the model returned NaN
        "insertion": _finite(M.auc(*ins).item()) if curves else None,
        "pointing_hit": None,
        "seconds": seconds,
        "metric_seconds": time.perf_counter() - t0,
        "iterations": recorder.calls if recorder is not None and recorder.calls else None,
        "loss": _finite(recorder.loss) if recorder is not None else None,
        "p_image": _finite(p_image),
        "tied_share": _finite(M.tied_share(saliency.detach().float().cpu())[0].item()),
    }
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
    if m["pointing_game"] and box is not None and torch.isfinite(box).all():
        boxes = [box.cpu()] if box.dim() == 2 else box[None].cpu()      # [K, 4]: several objects of the class
        row["pointing_hit"] = bool(M.pointing_game(saliency.cpu(), boxes, image_size=tuple(image.shape[-2:]),
                                                   tolerance=m["tolerance"])[0])
    if m["curves"] and curves:
        row["fractions"] = dele.fractions.tolist()
        row["deletion_curve"] = dele.probs[0].tolist()
        row["insertion_curve"] = ins.probs[0].tolist()
    return row


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

    from . import __version__
    from .devices import device_name
    from .models import load_model
    from .targets import num_classes_of, object_target, predict

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

    dist = _Dist()
    try:
        if fresh and dist.rank == 0:
            results.unlink(missing_ok=True)
            shutil.rmtree(parts_dir(results), ignore_errors=True)
        dist.barrier()
        own = results if dist.world == 1 else parts_dir(results) / f"rank-{dist.rank:05d}.jsonl"
        if own.is_file():
            _repair(own)
        existing = read_results(results)
        _check_hash(existing, digest, results)
        done = {row["key"] for row in existing}
        mine = [t for t in tasks if t[0] % dist.world == dist.rank]
        todo = [t for t in mine if row_key(*t) not in done]

        dev = _device_for_rank(cfg["device"], dist.local_rank, dist.world)
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
            rows = _merge(results, order, digest)
            missing = len(tasks) - sum(r["key"] in order for r in rows)
            if missing:
                warnings.warn(f"{results}: {missing} of {len(tasks)} rows are missing after the merge", stacklevel=2)
    finally:
        dist.close()
    return results


def cpu_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        return os.cpu_count() or 1


def resolve_workers(workers: int | str, device="auto") -> int:
    """Processes for ``--workers``: an int >= 1, or ``"auto"`` (one per core on a CPU, at most
    :data:`MAX_WORKERS`; 1 on a GPU, where ``torchrun --nproc-per-node`` picks the GPU count)."""
    from .devices import resolve_device

    if workers == "auto":
        return 1 if resolve_device(device).type != "cpu" else max(1, min(cpu_cores(), MAX_WORKERS))
    try:
        n = int(workers)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(workers).strip() != str(n):
        raise ValueError(f"workers must be 'auto' or an integer >= 1, got {workers!r}")
    return n


def _launch_workers(n: int, argv: list[str]) -> int:
    """Rerun ``python -m igos ARGV`` as ``n`` local processes under ``torch.distributed.run``,
    each with ``cores // n`` threads; returns the launcher's exit status."""
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cpu_cores() // n))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
           "-m", "igos", *argv]
    print(f"{n} worker processes, {env['OMP_NUM_THREADS']} thread(s) each (torch.distributed.run)", flush=True)
    return subprocess.run(cmd, env=env, check=False).returncode


def _paper(args, rank0: bool) -> int:
    """``python -m igos paper``: the chapters' shared experiment, then Table 6's pointing run."""
    from . import reproduction

    config = reproduction.chapter_config(args.fast, model=args.model, images=args.images, device=args.device)
    pointing = reproduction.pointing_config(args.fast, model=args.model, device=args.device)
    if args.dry_run:
        print(config["results"])
        print(pointing["results"])
        return 0
    if rank0:
        print(f"the shared experiment of the reproduction chapters -> {config['results']}", flush=True)
    run(config, progress=True)
    if rank0:
        print(f"Table 6's pointing game on the photos with boxes -> {pointing['results']}", flush=True)
    run(pointing, progress=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m igos run CONFIG [...]``, ``python -m igos paper [--fast]``, ``python -m igos config paper [...]``,
    ``python -m igos table RESULTS [--paper N]``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m igos", description="igos experiment runner")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run or resume an experiment (also under torchrun)")
    p_run.add_argument("config", help="a YAML or JSON config file")
    p_run.add_argument("--results", help="results JSONL file (default: the config's 'results')")
    p_run.add_argument("--fresh", action="store_true", help="delete earlier results at that path first")
    p_run.add_argument("--device", help="override the config's device (auto, cpu, cuda, ...)")
    p_run.add_argument("--no-progress", action="store_true", help="no progress bar")
    workers_help = ("local processes (torch.distributed.run), each with cores / N threads; 'auto': one per core "
                    "on a CPU, 1 on a GPU (default: %(default)s)")
    p_run.add_argument("--workers", default="1", help=workers_help)
    p_pap = sub.add_parser("paper", help="run (or resume) the reproduction chapters' shared experiment, with progress")
    p_pap.add_argument("--fast", action="store_true", help="CI sizes (what IGOS_FAST=1 gives the chapters)")
    p_pap.add_argument("--model", default="efficientnet_lite0")
    p_pap.add_argument("--images", default="imagenet-samples")
    p_pap.add_argument("--device", default="auto")
    p_pap.add_argument("--dry-run", action="store_true", help="print the results path only")
    p_pap.add_argument("--workers", default="auto", help=workers_help)
    p_cfg = sub.add_parser("config", help="write a config for 'python -m igos run' (igos config paper ...)")
    p_cfg.add_argument("kind", choices=["paper", "pointing"],
                       help="paper: the experiment of Tables 1-5 (igos.reproduction.paper_config); "
                            "pointing: Table 6's pointing game on photos with boxes")
    p_cfg.add_argument("--model", default="efficientnet_lite0")
    p_cfg.add_argument("--images", help="paper: imagenet-samples (default), embedded, or an ImageNet val folder (a "
                                        "seeded random sample of it); pointing: embedded (default), "
                                        "voc07:<folder> or coco:<folder> (a local VOC 2007 / COCO val2014 copy)")
    p_cfg.add_argument("--n-images", type=int, help="images to use (default: the scale's)")
    p_cfg.add_argument("--scale", choices=["fast", "cpu", "paper"], default="paper")
    p_cfg.add_argument("--results", help="results JSONL file the config names (default: under results/)")
    p_cfg.add_argument("-o", "--output", help="YAML file to write (default: beside the results file)")
    p_tab = sub.add_parser("table", help="summarise a results file (mean and 95%% interval)")
    p_tab.add_argument("results", help="results JSONL file")
    p_tab.add_argument("--paper", type=int, choices=range(1, 7), help="lay it out as the paper's Table N")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command in ("run", "paper") and not getattr(args, "dry_run", False) and "WORLD_SIZE" not in os.environ:
        try:
            n = resolve_workers(args.workers, args.device or "auto")
        except (ValueError, RuntimeError) as err:
            parser.error(str(err))
        if n > 1:
            return _launch_workers(n, argv)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if args.command == "paper":
        dist = _Dist()          # one process group for both runs (a group torn down and set up again can hang)
        try:
            return _paper(args, rank0)
        finally:
            dist.close()
    if args.command == "run":
        try:
            path = run(args.config, args.results, fresh=args.fresh, device=args.device,
                       progress=not args.no_progress)
        except ConfigMismatch as err:
            parser.exit(2, f"error: {err}\n")
        if rank0:
            print(f"results: {path}")
        return 0
    if args.command == "config":
        from . import reproduction

        if args.kind == "paper":
            config = reproduction.paper_config(model=args.model, images=args.images or "imagenet-samples",
                                               n_images=args.n_images, scale=args.scale, results=args.results)
        else:
            config = reproduction.pointing_config(model=args.model, images=args.images or "embedded",
                                                  n_images=args.n_images, scale=args.scale)
            if args.results:
                config["results"] = args.results
        path = reproduction.write_config(config, args.output)
        print(f"wrote {path}; run it with: python -m igos run {path}")
        return 0
    from . import tables

    rows = read_results(args.results)
    if args.paper:   # only the rows that feed that table (the ablations and Table 5's settings are not Table 1's)
        from . import reproduction

        frame = reproduction.compare(rows, args.paper)
        print(frame.to_string())
        print(f"({frame.attrs.get('ci', '')})")
    else:
        print(tables.summarize(rows).to_string())
    return 0


__all__ = ["MAX_WORKERS", "ConfigMismatch", "ImageSource", "RowWriter", "config_hash", "cpu_cores", "evaluate",
           "load_config", "main", "normalize_config", "parts_dir", "plan", "read_results", "read_rows",
           "resolve_method", "resolve_workers", "row_key", "run"]
