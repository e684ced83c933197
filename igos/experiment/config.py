"""Experiment configs: reading, normalising, hashing and planning (see :mod:`igos.experiment`)."""
from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

from ..data import BUILT_IN_SOURCES, split_pointing_source

CONFIG_KEYS = ("model", "images", "n_images", "image_seed", "image_size", "seed", "device", "target",
               "resolutions", "methods", "metrics", "results")


METRIC_KEYS = ("n_steps", "baseline", "batch_size", "tolerance", "curves", "pointing_game", "deletion_insertion")


#: Keys that do not change the numbers in a row; they are left out of the config hash.
UNHASHED = ("device", "results", "images_path")


UNHASHED_METRICS = ("batch_size",)


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
    """The :class:`igos.methods.Method` of ``name``: a name of :data:`igos.methods.REGISTRY` (or an
    alias such as ``"mask"``), or ``"package.module:function"`` for your own method (its entry is
    read from its signature, :meth:`igos.methods.Method.of`)."""
    from ..methods import REGISTRY, Method, get

    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return Method.of(getattr(importlib.import_module(module), attr), name)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import method {name!r}: {err}") from err
    try:
        return get(name)
    except ValueError:
        raise ValueError(f"unknown method {name!r}; registered: {', '.join(sorted(REGISTRY))} "
                         f"(or give 'package.module:function')") from None


def plan(config: dict, n_images: int) -> list[tuple[int, str, Any]]:
    """Every ``(image index, method label, resolution)`` of the experiment, in the order rows are written.

    A method with ``n_images`` runs on the first ``n_images`` images of the run only (a stated subset,
    e.g. the ablations on a CPU).
    """
    pairs = []
    for spec in config["methods"]:
        if resolve_method(spec["name"]).takes_resolution:
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
