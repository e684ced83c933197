"""What the reproduction chapters show of the shared experiment: settings, orderings, timing, plots.

Every table chapter of the book (``book/40``-``book/45``) starts from a config of
:mod:`igos.experiment.presets` (:func:`~igos.experiment.presets.chapter_config`,
:func:`~igos.experiment.presets.pointing_config`) and runs it with :func:`igos.experiment.run`.
The runner resumes, so only the first run computes (``igos paper``, the first step of ``make
book``); the others read the same results file. :func:`igos.tables.compare` lays the rows out as
the paper's tables.

This module turns those rows into what the chapters show: the settings of a run beside the
paper's (:func:`settings_table`, :func:`describe`), the paper's orderings checked on both the
paper's and our numbers (:func:`orderings`, :func:`paired_orderings`), timings
(:func:`timing`), cost extrapolation (:func:`cost_estimate`), per-image values and mean curves,
the tables' plots, and per-image pointing hits (:func:`pointing_hits`).

Explained in ``book/40_running_the_experiments.ipynb``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch

from .. import tables
from ..experiment.presets import (ABLATIONS, MAIN, PAPER_RESOLUTIONS, PAPER_SETTINGS, TABLE5_LAMBDAS, TABLE5_RESOLUTION,
                                  settings_of)
from ..paper_tables import paper_table
from ..tables import TABLE_LABELS, compare, table_rows


#: Registry name -> the paper's row name (Tables 1-3).
NAMES = dict(tables.PAPER_NAMES)


# ----------------------------------------------------------------------------- the config


def describe(config: dict) -> pd.DataFrame:
    """The plan of a config: one row per method label with its table, resolutions and options."""
    from ..experiment import resolve_method

    out = []
    for m in config["methods"]:
        label = m.get("label", m["name"])
        native = not resolve_method(m["name"]).takes_resolution
        res = "native" if native else ", ".join(map(str, m.get("resolutions") or config["resolutions"]))
        opts = ", ".join(f"{k}={v}" for k, v in (m.get("options") or {}).items() if k != "batch_size")
        out.append({"label": label, "method": m["name"].rpartition(":")[2], "tables": _tables_of(label),
                    "resolutions": res, "options": opts})
    return pd.DataFrame(out).set_index("label")


def _tables_of(label: str) -> str:
    t = [str(n) for n in (1, 2, 3, 4, 5, 6) if label in TABLE_LABELS[n] or (n == 5 and "@" in label)]
    return ", ".join(t)


def run_summary(results) -> str:
    """One line naming what a results file holds: model, images, image count, device, file."""
    frame = tables.results_frame(results)
    devices = ", ".join(sorted(set(frame["device_name"].dropna()))) if "device_name" in frame else "?"
    name = Path(results).name if isinstance(results, (str, os.PathLike)) else "rows"
    return (f"model {frame['model'].iloc[0]}, images {frame['images'].iloc[0]!r} "
            f"({frame['image_index'].nunique()} images), {len(frame)} rows, measured on {devices}; {name}")


def _mask_lambdas(resolution: int, preset: str = "default"):
    from ..masking import nearest_setting
    from ..methods.meaningful_perturbation import MASK_LAMBDAS

    return nearest_setting(MASK_LAMBDAS[preset], resolution)


def _subset_text(config: dict) -> str:
    """``"; the first 4 photos: ..."``: the rows of a config that use a subset of its photos."""
    parts, n = [], None
    for m in config["methods"]:
        k, label = m.get("n_images"), m.get("label", m["name"])
        if k is None:
            continue
        n = k if not isinstance(k, dict) else min(k.values())
        name = ("Table 4" if label in ABLATIONS else "Table 5" if "@" in label
                else tables.PAPER_NAMES.get(label, label))
        part = name if not isinstance(k, dict) else f"{name} at {', '.join(map(str, k))}"
        if part not in parts:
            parts.append(part)
    return f"; the first {n} photos only: {', '.join(parts)}" if parts else ""


def settings_table(config: dict) -> pd.DataFrame:
    """The sizes of a config beside the paper's."""
    s = settings_of(config)
    paper = {"model": "VGG19 (Table 1), ResNet50 (Tables 2, 3)", "images": "ImageNet val", "n_images": 5000,
             "resolutions": list(PAPER_RESOLUTIONS), "i_gos_iter": "at most 15", "i_gos_steps": 20,
             "mask_iter": "at most 500", "rise_masks": "8000 for VGG, 4000 for ResNet50 (the RISE protocol)",
             "ig_steps": "not stated",
             "metric_steps": "not stated (the authors' code: floor(h w / 200) cells per step, about 200 steps)"}
    ours = {"model": config["model"], "images": config["images"], **s}
    ours["metric_steps"] = (f"min({s['metric_steps']}, h w) steps of floor(j h w / S) cells"
                            + ("" if s["metric_steps"] >= 200 else
                               " (fewer than the authors' ~200 to fit the CPU budget; chapter 40 measures the difference)"))
    ours["images"] = (f"{config['images']} (reported; the hyperparameters were calibrated on the embedded photos)"
                      if config["images"] != "embedded" else "embedded (the calibration photos themselves)")
    ours["n_images"] = f"{s['n_images']}" + _subset_text(config)
    from ..methods.i_gos import DEFAULT_FIXED_STEP, PRESETS, default_lambdas

    specs = {m.get("label", m["name"]): m.get("options", {}) for m in config["methods"]}
    preset = specs.get("i_gos", {}).get("preset", "default")
    d = PRESETS[preset]
    res = [r for r in PAPER_RESOLUTIONS if r in (config.get("resolutions") or [])]
    lam = lambda which: "; ".join(f"{r}: {default_lambdas(r, which)}" for r in res)  # noqa: E731
    paper.update({
        "i_gos_lambdas": f"(1, 20) at 28 (none given at other resolutions; ours: {lam('paper')})",
        "i_gos_noise": "0.2 in the normalised input space (0.045 in pixels for VGG)",
        "i_gos_stop": "at most 15 iterations, 'usually fewer' (no rule given)",
        "i_gos_line_search": "Armijo (8), a_u 1000 (IGOS++), a_l 1e-5, eta 0.2, beta 1e-4",
        "mask_lambdas": "(0.01, 0.2), TV exponent 3, Adam lr 0.1",
        "tie_rule": "not stated (the authors' code: numpy's argsort order)",
        "ig_baseline": "a grey zero image (stated for Fig. 1 and 3; tables: not stated)",
        "ebp_layers": "layers with grids 224, 112, 28, 14 of VGG (Table 1); c-MWP",
        "mask_budget": "500 iterations, settings of Fong & Vedaldi (not tuned for the paper's models)",
        "fixed_step": "25 in the text (Sec. 5.3); 40 in the authors' code",
        "pointing_game": "VOC07 test and COCO val2014, VGG16 fine-tuned on each (Zhang et al.)",
    })
    ours.update({
        "i_gos_lambdas": f"preset {preset!r}: {lam(preset)} (calibrated on the embedded photos)"
                         if preset == "default" else f"preset 'paper': {lam('paper')}",
        "i_gos_noise": f"{d['noise']} in the normalised input space ({d['noise'] * 0.5:g} in pixels for Lite0)",
        "i_gos_stop": f"at most {s['i_gos_iter']} iterations" + (f"; stop when F falls by < {d['tol']:g} twice running"
                                                                if d["tol"] is not None else ""),
        "i_gos_line_search": f"Armijo (8), a_u {d['step_max']:g}, a_l {d['step_min']:g}, eta 0.2, beta 1e-4",
        "mask_lambdas": "preset 'default': " + "; ".join(f"{r}: {_mask_lambdas(r)}" for r in res)
                        + " (calibrated with I-GOS's budget), TV exponent 3, Adam lr 0.1",
        "tie_rule": "seeded random order (seed 0)",
        "ig_baseline": str(specs.get("integrated_gradients", {}).get("baseline", "black"))
                       + " (tables and figures alike: the paper's stated choice; chapter 13 compares baselines)",
        "ebp_layers": "the deepest convolution whose grid is closest to each resolution (224 -> the 112 grid on "
                      "Lite0); c-MWP in the tables, plain MWP beside it",
        "mask_budget": f"{s['mask_iter']} Adam iterations, one gradient each (I-GOS: {s['i_gos_iter']} x "
                       f"{s['i_gos_steps']} gradients, plus its line search's forward passes); its lambdas "
                       "calibrated on the same photos and budget as I-GOS's",
        "fixed_step": f"{DEFAULT_FIXED_STEP:g} (the authors' code)",
        "pointing_game": "the hand-drawn boxes of the embedded photos, ImageNet model (not comparable to the paper); "
                         "VOC07 / COCO from a local copy: whole images, ImageNet classes standing in for theirs",
    })
    return pd.DataFrame({"paper": {k: str(v) for k, v in paper.items()},
                         "this run": {k: str(ours.get(k)) for k in paper}})


def best_image(results) -> int:
    """Index of the image whose target the model is most confident about (first point of a deletion curve)."""
    frame = tables.results_frame(results)
    p = frame.groupby("image_index")["deletion_curve"].first().map(lambda c: c[0])
    return int(p.idxmax())


def recompute_objective(results, config: dict, label: str, image_index: int, model=None, *,
                        resolution: int = TABLE5_RESOLUTION) -> dict:
    """Rerun an I-GOS or Mask row (at 28 x 28 by default) and recompute its objective from the map.

    Reruns the row's method on its image with the row's options and seed, recording the loss
    it reports to the runner's callback, and evaluates the noiseless objective
    :func:`igos.perturbation.objective` at the mask ``M = 1 - saliency`` with the row's lambdas
    and TV exponent (I-GOS: the per-resolution defaults unless set; Mask: its own defaults
    unless set).

    Returns ``{"row": loss stored in the results row, "rerun": loss the rerun reported,
    "F": objective recomputed from the rerun's map}``. ``rerun`` and ``F`` agree to float
    precision; ``row`` agrees with them when the row was computed with the same float
    arithmetic (Mask's Adam steps amplify the rounding differences between, for example,
    different numbers of CPU threads).
    """
    from ..experiment import ImageSource, LossRecorder, normalize_config, resolve_method, row_key
    from ..methods.i_gos import default_lambdas
    from ..models import load_model
    from ..perturbation import objective

    cfg = normalize_config(config)
    row = next(r for r in tables.results_frame(results).to_dict("records")
               if r["key"] == row_key(image_index, label, resolution))
    spec = next(m for m in cfg["methods"] if m["label"] == label)
    model = model if model is not None else load_model(cfg["model"], cfg["device"])
    x, *_ = ImageSource(cfg["images_path"], cfg["n_images"], cfg["image_seed"], cfg["image_size"]).load(image_index)
    x = x[None].to(next(model.parameters()).device)
    opts = dict(spec["options"])
    recorder = LossRecorder()
    saliency = resolve_method(spec["name"])(model, x, row["target"], resolution=resolution,
                                            seed=cfg["seed"], callback=recorder, **opts)
    if spec["name"] == "i_gos":
        l1, l2 = default_lambdas(resolution)
        lambdas, tv_beta = (opts.get("lambda1", l1), opts.get("lambda2", 0.0 if opts.get("tv") is False else l2)), 2
    else:
        l1, l2 = _mask_lambdas(resolution, opts.get("preset", "default"))
        lambdas, tv_beta = (opts.get("lambda1", l1), opts.get("lambda2", l2)), opts.get("tv_beta", 3)
    with torch.no_grad():
        f = objective(model, x, 1 - saliency.to(x.dtype), row["target"], lambda1=lambdas[0], lambda2=lambdas[1],
                      tv_beta=tv_beta)
    return {"row": float(row["loss"]), "rerun": float(recorder.loss), "F": float(f[0])}


def box_table(config: dict) -> pd.DataFrame:
    """The object box of each image of a config (in pixels of the 224 crop) and the share of the image it covers."""
    from ..data import class_names
    from ..experiment import ImageSource, normalize_config

    cfg = normalize_config(config)
    source = ImageSource(cfg["images_path"], cfg["n_images"], cfg["image_seed"], cfg["image_size"])
    rows = []
    for i in range(len(source)):
        e = source.entries[i]
        _, name, label, box = source.load(i)
        rows.append({"image": name, "class": e.get("class_name") or class_names([label])[0], "box": [round(v, 1) for v in box.tolist()],
                     "covers": box_fraction(box, cfg["image_size"])[0]})
    return pd.DataFrame(rows).set_index("image")


# ----------------------------------------------------------------------------- rows of each table


# ----------------------------------------------------------------------------- orderings
def _value(v):
    """A table cell as a float: NaN/None -> None; the paper's "< 1" -> 0.99."""
    if isinstance(v, str):
        v = v.strip()
        return 0.99 * float(v[1:]) if v.startswith("<") else float(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def our_means(results, table: int) -> pd.DataFrame:
    """Our mean per method (rows, the paper's names) and column of Table ``table`` (numbers, NaN where missing)."""
    full = compare(results, table, formatted=False)
    if "ours" not in full.index.get_level_values("source"):      # e.g. Table 6 on photos without boxes
        return pd.DataFrame(columns=full.xs("mean", axis=1, level="stat").columns, dtype=float)
    ours = full.xs("ours", level="source")
    return ours.xs("mean", axis=1, level="stat")


def _cell(frame: pd.DataFrame, row, col):
    if row not in frame.index or col not in frame.columns:
        return None
    return _value(frame.loc[row, col])


def _best(frame, method: str, col, lower: bool):
    """``method`` beats every other row with a value in ``col`` (None: missing, or nobody to beat)."""
    mine = _cell(frame, method, col)
    others = [_cell(frame, r, col) for r in frame.index if r != method]
    others = [v for v in others if v is not None]
    if mine is None or not others:
        return None
    return all(mine < v for v in others) if lower else all(mine > v for v in others)


def _lt(frame, a, ca, b, cb):
    x, y = _cell(frame, a, ca), _cell(frame, b, cb)
    return None if x is None or y is None else x < y


def _claims(table: int, resolutions: Iterable[int]) -> list[tuple[str, Callable]]:
    """``(claim, test(frame) -> bool | None)`` for the orderings the paper reports in Table ``table``.

    ``resolutions``: those of our run (for Tables 1, 2 and 4, those where we have I-GOS).
    """
    res = sorted(set(resolutions), reverse=True)
    if table in (1, 2):
        out = []
        for r in res:
            out.append((f"I-GOS has the lowest deletion at {r}x{r}", lambda f, r=r: _best(f, "I-GOS", (r, "deletion"), True)))
            out.append((f"I-GOS has the highest insertion at {r}x{r}",
                        lambda f, r=r: _best(f, "I-GOS", (r, "insertion"), False)))
        out.append(("Integrated Gradients has the lowest insertion at 224x224",
                    lambda f: _best(f, "Integrated Gradients", (224, "insertion"), True)))
        out.append(("Excitation BP has the highest deletion at its resolution",
                    lambda f: _ebp_worst(f)))
        if len(res) > 1:
            hi, lo = res[0], res[-1]
            out.append((f"I-GOS insertion is higher at {lo}x{lo} than at {hi}x{hi}",
                        lambda f: _lt(f, "I-GOS", (hi, "insertion"), "I-GOS", (lo, "insertion"))))
            out.append((f"I-GOS deletion is lower at {hi}x{hi} than at {lo}x{lo}",
                        lambda f: _lt(f, "I-GOS", (hi, "deletion"), "I-GOS", (lo, "deletion"))))
        return out
    if table == 3:
        out = [(f"I-GOS is faster than Mask at {r}x{r}", lambda f, r=r: _lt(f, "I-GOS", r, "Mask", r)) for r in res]
        out.append(("I-GOS at 224x224 is faster than RISE", lambda f: _lt(f, "I-GOS", 224, "RISE", 224)))
        out.append(("Grad-CAM takes under 1 s", lambda f: _under(f, "Grad-CAM", 1.0)))
        out.append(("Integrated Gradients takes under 1 s", lambda f: _under(f, "Integrated Gradients", 1.0)))
        return out
    if table == 4:
        out = []
        for r in res:
            d, i = (r, "deletion"), (r, "insertion")
            out += [(f"{r}x{r}: without TV, insertion drops", lambda f, i=i: _lt(f, "no TV term", i, "I-GOS", i)),
                    (f"{r}x{r}: without noise, insertion drops", lambda f, i=i: _lt(f, "no noise", i, "I-GOS", i)),
                    (f"{r}x{r}: without noise, deletion rises", lambda f, d=d: _lt(f, "I-GOS", d, "no noise", d)),
                    (f"{r}x{r}: with a fixed step, deletion rises",
                     lambda f, d=d: _lt(f, "I-GOS", d, "fixed step size", d)),
                    (f"{r}x{r}: with a fixed step, insertion drops",
                     lambda f, i=i: _lt(f, "fixed step size", i, "I-GOS", i))]
        return out
    if table == 5:
        out = []
        for s in TABLE5_LAMBDAS:
            out += [(f"{s}: I-GOS reaches a lower objective than Mask",
                     lambda f, s=s: _lt(f, "total loss", (s, "I-GOS"), "total loss", (s, "Mask"))),
                    (f"{s}: I-GOS has lower deletion than Mask",
                     lambda f, s=s: _lt(f, "deletion", (s, "I-GOS"), "deletion", (s, "Mask"))),
                    (f"{s}: I-GOS has higher insertion than Mask",
                     lambda f, s=s: _lt(f, "insertion", (s, "Mask"), "insertion", (s, "I-GOS")))]
        for m in ("I-GOS", "Mask"):
            out.append((f"{m}: the objective grows from A to B to C",
                        lambda f, m=m: _both(_lt(f, "total loss", ("A", m), "total loss", ("B", m)),
                                             _lt(f, "total loss", ("B", m), "total loss", ("C", m)))))
        return out
    if table == 6:
        return [(f"I-GOS {r}x{r} points at least as well as Mask {r}x{r}",
                 lambda f, r=r: _geq(f, f"I-GOS {r}x{r}", f"Mask {r}x{r}")) for r in (28, 14)]
    raise ValueError(f"the paper has Tables 1-6, got {table!r}")


def _both(a, b):
    return None if a is None or b is None else a and b


def _under(frame, row, bound):
    values = [_value(v) for v in frame.loc[row]] if row in frame.index else []
    values = [v for v in values if v is not None]
    return None if not values else all(v < bound for v in values)


def _ebp_worst(frame):
    if "Excitation BP" not in frame.index:
        return None
    cols = [c for c in frame.columns if c[1] == "deletion" and _cell(frame, "Excitation BP", c) is not None]
    verdicts = [_best(frame, "Excitation BP", c, False) for c in cols]
    verdicts = [v for v in verdicts if v is not None]
    return None if not verdicts else all(verdicts)


def _geq(frame, a, b):
    """Table 6: row ``a`` >= row ``b`` in every column where both have a value."""
    pairs = [(_cell(frame, a, c), _cell(frame, b, c)) for c in frame.columns]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    return None if not pairs else all(x >= y for x, y in pairs)


def orderings(results, table: int) -> pd.DataFrame:
    """The paper's orderings for Table ``table``: whether each holds in the paper's numbers and in ours.

    Returns a DataFrame indexed by claim with a boolean (or ``None``: a cell is missing) column
    per source: ``"paper"`` (``"paper T1 (VGG19)"`` and ``"paper T2 (ResNet50)"`` for Tables 1
    and 2, whose claims are the same) and ``"ours"``. Ours are computed from the means.
    """
    ours = our_means(results, 2 if table in (1, 2) else table)
    if table in (1, 2, 4):
        res = {c[0] for c in ours.columns if "I-GOS" in ours.index and not pd.isna(ours.loc["I-GOS", c])}
    elif table == 3:
        res = {c for c in ours.columns if not pd.isna(ours[c]).all()}
    else:
        res = set()
    papers = {"paper T1 (VGG19)": paper_table(1), "paper T2 (ResNet50)": paper_table(2)} if table in (1, 2) else \
        {"paper": paper_table(table)}
    rows = []
    for claim, test in _claims(table, res):
        rows.append({"claim": claim, **{k: test(p) for k, p in papers.items()}, "ours": test(ours)})
    columns = ["claim", *papers, "ours"]
    return pd.DataFrame(rows, columns=columns, dtype=object).set_index("claim")


def paired_orderings(results, table: int, *, alpha: float = 0.05, n_boot: int = 10000, seed: int = 0) -> pd.DataFrame:
    """The ordering claims of Table ``table`` (1, 2 or 4) judged per image, beside the paper's verdict.

    Each claim compares I-GOS with other methods (Tables 1, 2: every other method with a map at
    that resolution; Table 4: the ablated variant) on the same photos, with
    :func:`igos.tables.paired`: per comparison the wins of the claimed side, the exact sign test,
    the Wilcoxon signed-rank test and a bootstrap interval of the mean difference. A claim
    *holds* when it holds against every competitor with Wilcoxon ``p < alpha`` and an interval
    on the claimed side of 0; it is *contradicted* when that is so for the opposite side against
    some competitor; else the data do not decide (*not significant*). The row shows the
    competitor that comes closest (largest p).
    """
    if table not in (1, 2, 4):
        raise ValueError(f"paired orderings are defined for Tables 1, 2 and 4, got {table!r}")
    frame = table_rows(results, table)
    paper = orderings(results, table)
    names = {**NAMES, **tables.ABLATION_NAMES}
    comparisons = []                 # (claim, [(competitor label, value, res, lower_is_claimed)])
    igos_res = sorted(set(frame.loc[frame["method"] == "i_gos", "res"]), reverse=True)
    for r in igos_res:
        if table in (1, 2):
            rivals = [m for m in MAIN if m != "i_gos" and ((frame["method"] == m) & (frame["res"] == r)).any()]
            comparisons.append((f"I-GOS has the lowest deletion at {r}x{r}", [(m, "deletion", r, True) for m in rivals]))
            comparisons.append((f"I-GOS has the highest insertion at {r}x{r}", [(m, "insertion", r, False) for m in rivals]))
        else:
            for label, claim_d, claim_i in (("i_gos_no_tv", None, "without TV, insertion drops"),
                                            ("i_gos_no_noise", "without noise, deletion rises", "without noise, insertion drops"),
                                            ("i_gos_fixed_step", "with a fixed step, deletion rises",
                                             "with a fixed step, insertion drops")):
                if not ((frame["method"] == label) & (frame["res"] == r)).any():
                    continue
                if claim_d:
                    comparisons.append((f"{r}x{r}: {claim_d}", [(label, "deletion", r, True)]))
                comparisons.append((f"{r}x{r}: {claim_i}", [(label, "insertion", r, False)]))
    rows = []
    for claim, rivals in comparisons:
        row = {"claim": claim}
        for col in paper.columns:
            row[col] = paper.loc[claim, col] if claim in paper.index else None
        stats = []
        for label, value, r, lower in rivals:
            st = tables.paired(frame, "i_gos", label, value, res=r, n_boot=n_boot, seed=seed)
            good = st["a_lower"] if lower else st["b_lower"]       # photos on which I-GOS is on the claimed side
            sign = -1 if lower else 1                              # the claimed sign of mean(I-GOS - rival)
            side = "claimed" if sign * st["lo"] > 0 and sign * st["hi"] > 0 else \
                "opposite" if sign * st["lo"] < 0 and sign * st["hi"] < 0 else "both"
            stats.append((label, st, good, side))
        if not stats:
            continue
        label, st, good, side = max(stats, key=lambda t: (t[1]["p_wilcoxon"], -t[2]))
        if all(x[3] == "claimed" and x[1]["p_wilcoxon"] < alpha for x in stats):
            verdict = "holds"
        elif any(x[3] == "opposite" and x[1]["p_wilcoxon"] < alpha for x in stats):
            verdict = "contradicted"
        else:
            verdict = "not significant"
        row.update({"closest": names.get(label, label), "wins": f"{good}/{st['n']}", "p sign": st["p_sign"],
                    "p Wilcoxon": st["p_wilcoxon"],
                    "mean diff [95% CI]": f"{st['mean_diff']:+.3f} [{st['lo']:+.3f}, {st['hi']:+.3f}]",
                    "paired verdict": verdict})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("claim") if rows else pd.DataFrame()
    out.attrs["rule"] = (f"per image, I-GOS minus the competitor; holds: Wilcoxon p < {alpha} and the {n_boot}-resample "
                         f"bootstrap interval (seed {seed}) on the claimed side against every competitor")
    return out


def claims_markdown(ordering: pd.DataFrame, paired: pd.DataFrame | None = None) -> str:
    """The paper's claims with their verdicts as a Markdown list, for a chapter's discussion (myst-nb ``glue``).

    ``ordering``: :func:`orderings`; ``paired``: :func:`paired_orderings` of the same table, whose
    verdict then leads each line (else the verdict on our means). Each line reads
    ``claim: verdict (evidence); in the paper's numbers: yes/no``.
    """
    word = {True: "yes", False: "no", None: "n/a"}
    lines = []
    for claim, row in ordering.iterrows():
        papers = [c for c in ordering.columns if c != "ours"]
        paper = "; ".join(f"{c}: {word[ordering_verdict(row[c])]}" for c in papers)
        ours = ordering_verdict(row["ours"])
        if paired is not None and claim in paired.index:
            p = paired.loc[claim]
            verdict = {"holds": "**holds**", "contradicted": "**contradicted**",
                       "not significant": "**not decided**"}[p["paired verdict"]]
            evidence = (f"closest rival {p['closest']}: I-GOS on the claimed side on {p['wins']} photos, "
                        f"Wilcoxon p = {p['p Wilcoxon']:.2g}, mean difference {p['mean diff [95% CI]']}")
        else:
            verdict = {True: "**holds in our means**", False: "**does not hold in our means**",
                       None: "**not testable here**"}[ours]
            evidence = "means only" if ours is not None else "a cell is missing"
        lines.append(f"- {claim}: {verdict} ({evidence}); in the paper's numbers: {paper}")
    return "\n".join(lines)


def ordering_verdict(v) -> bool | None:
    """An ordering verdict as ``True``/``False``, or ``None`` where a cell is missing (None or NaN)."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v)


def verdict_counts(paired: pd.DataFrame) -> dict:
    """``{"holds": k, "contradicted": k, "not significant": k, "total": n}`` of :func:`paired_orderings`."""
    verdicts = paired["paired verdict"] if len(paired) else pd.Series(dtype=object)
    counts = {v: int((verdicts == v).sum()) for v in ("holds", "contradicted", "not significant")}
    return {**counts, "total": len(verdicts)}


def print_orderings(frame: pd.DataFrame) -> None:
    """Print :func:`orderings` as aligned text (``True``/``False``/``n/a``), for check cells."""
    show = frame.map(lambda v: "n/a" if ordering_verdict(v) is None else str(ordering_verdict(v)))
    print(show.to_string())


def key_numbers(results, table: int, digits: int = 2) -> pd.DataFrame:
    """Our mean per row and column of Table ``table``, rounded, as strings (for check cells)."""
    ours = our_means(results, table)
    ours = ours.loc[:, [c for c in ours.columns if not pd.isna(ours[c]).all()]]
    return ours.map(lambda v: "-" if v is None or pd.isna(v) else f"{float(v):.{digits}f}")


# ----------------------------------------------------------------------------- timing and cost
def timing(results, config: dict | None = None) -> pd.DataFrame:
    """Seconds per image of each method and resolution (Table 3 rows), with iterations and s/iteration.

    With the ``config`` of the run, a column ``"at paper size"`` scales the measured seconds
    to the paper's sizes (:data:`PAPER_SETTINGS`): I-GOS to 15 iterations of 20 path points,
    Mask to 500 iterations, RISE to 4000 masks; the one-pass methods are unchanged.
    """
    frame = table_rows(results, 3)
    frame["name"] = frame["method"].map(lambda m: NAMES.get(m, m))
    g = frame.groupby(["name", "res"], sort=False)
    out = pd.DataFrame({"seconds": g["seconds"].mean(), "iterations": g["iterations"].mean(),
                        "n": g["seconds"].count()})
    out["s / iteration"] = out["seconds"] / out["iterations"]
    if config is not None:
        s = settings_of(config)
        factor = {"I-GOS": PAPER_SETTINGS["i_gos_iter"] / s["i_gos_iter"] * PAPER_SETTINGS["i_gos_steps"] / s["i_gos_steps"],
                  "Mask": PAPER_SETTINGS["mask_iter"] / s["mask_iter"], "RISE": PAPER_SETTINGS["rise_masks"] / s["rise_masks"]}
        out["at paper size"] = [v * factor.get(name, 1.0) for (name, _), v in zip(out.index, out["seconds"])]
    return out


def cost_estimate(results, config: dict, n_images: int = 5000, *, paper: bool = True) -> pd.DataFrame:
    """Seconds per image of each method label (method + metrics), and hours for ``n_images`` images.

    With ``paper=True`` the measured times are also scaled to the paper's sizes
    (:data:`PAPER_SETTINGS`): I-GOS and Mask by iterations (and I-GOS by path points),
    RISE by masks, the metrics by their steps. A rough linear extrapolation: it ignores
    fixed costs and batching effects.
    """
    frame = tables.results_frame(results)
    s = settings_of(config)
    labels = {m.get("label", m["name"]): m["name"] for m in config["methods"]}
    rows = []
    for label, group in frame.groupby("method", sort=False):
        n_img = group["image_index"].nunique()
        method_s = group["seconds"].sum() / n_img
        metric_s = group["metric_seconds"].sum() / n_img
        row = {"label": label, "rows / image": len(group) / n_img, "method s / image": method_s,
               "metrics s / image": metric_s}
        if paper:
            name = labels.get(label, label).rpartition(":")[2]
            factor = 1.0
            if name == "i_gos":
                factor = PAPER_SETTINGS["i_gos_iter"] / s["i_gos_iter"] * PAPER_SETTINGS["i_gos_steps"] / s["i_gos_steps"]
            elif name in ("mask", "meaningful_perturbation", "mask_objective"):
                factor = PAPER_SETTINGS["mask_iter"] / s["mask_iter"]
            elif name == "rise":
                factor = PAPER_SETTINGS["rise_masks"] / s["rise_masks"]
            row["paper-size s / image"] = method_s * factor + metric_s * PAPER_SETTINGS["metric_steps"] / s["metric_steps"]
        rows.append(row)
    out = pd.DataFrame(rows).set_index("label")
    out["s / image"] = out["method s / image"] + out["metrics s / image"]
    total = out.sum(numeric_only=True).rename("total")
    out = pd.concat([out, total.to_frame().T])
    out[f"hours for {n_images} images"] = out["s / image"] * n_images / 3600
    if paper:
        out[f"paper-size hours for {n_images}"] = out["paper-size s / image"] * n_images / 3600
    return out


# ----------------------------------------------------------------------------- per image, curves, plots
def _column(method: str, res) -> str:
    name = NAMES.get(method, tables.ABLATION_NAMES.get(method, method))
    return name if res is None or (isinstance(res, float) and math.isnan(res)) else f"{name} {int(res)}x{int(res)}"


def per_image(results, value: str = "insertion", *, table: int = 1, res: int | None = None) -> pd.DataFrame:
    """``value`` per image (rows) and method/resolution (columns) for the rows of Table ``table``.

    ``res`` keeps one resolution (the native maps of Grad-CAM and Excitation BP are at 7,
    RISE and Integrated Gradients at 224).
    """
    frame = table_rows(results, table)
    if res is not None:
        frame = frame[frame["res"] == res]
    frame = frame.assign(column=[_column(m, r) for m, r in zip(frame["method"], frame["resolution"])])
    out = frame.pivot_table(index="image", columns="column", values=value, aggfunc="first", sort=False)
    if "deletion_curve" in frame:   # the deletion curve starts at the unperturbed image
        p = frame.groupby("image", sort=False)["deletion_curve"].first().map(lambda c: c[0] if c else math.nan)
        out.insert(0, "p(target)", p)
    return out


def mean_curves(results, res: int, *, table: int = 1) -> dict:
    """Method name -> ``(fractions, mean deletion curve, mean insertion curve)`` at ``res`` (needs ``curves: true``)."""
    frame = table_rows(results, table)
    frame = frame[(frame["res"] == res) & frame.get("fractions", pd.Series(index=frame.index)).notna()]
    out = {}
    for method, group in frame.groupby("method", sort=False):
        grid = np.asarray(group["fractions"].iloc[0], dtype=float)
        curves = {k: np.mean([np.interp(grid, f, c) for f, c in zip(group["fractions"], group[f"{k}_curve"])], 0)
                  for k in ("deletion", "insertion")}
        out[_column(method, None)] = (grid, curves["deletion"], curves["insertion"])
    return out


def plot_mean_curves(results, res: int, *, table: int = 1, size: float = 2.4):
    """Mean deletion (red) and insertion (blue) curves over images, one panel per method, at ``res``."""
    import matplotlib.pyplot as plt

    from ..plotting import curves

    found = mean_curves(results, res, table=table)
    fig, axes = plt.subplots(1, max(len(found), 1), figsize=(size * max(len(found), 1), size), squeeze=False)
    for ax, (name, (f, d, i)) in zip(axes[0], found.items()):
        curves(ax, (f, d), (f, i), title=f"{name} ({res}x{res})")
    fig.tight_layout()
    return fig


def _bars(ax, labels, series, colors, names, ylabel):
    """Grouped bars: ``series[k]`` is a list of ``(mean, lo, hi)`` per label."""
    width = 0.8 / len(series)
    x = np.arange(len(labels))
    for k, (values, color, name) in enumerate(zip(series, colors, names)):
        mean = np.array([v[0] for v in values], dtype=float)
        err = np.array([[m - v[1], v[2] - m] if not math.isnan(v[1]) else [0, 0] for m, v in zip(mean, values)]).T
        ax.bar(x + (k - (len(series) - 1) / 2) * width, mean, width, yerr=err, color=color, label=name, capsize=2,
               alpha=0.85)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)


def plot_table(results, table: int, *, size: float = 3.0):
    """Our numbers of Table ``table`` as grouped bars with 95 % intervals.

    Tables 1, 2 and 4: one panel per resolution, deletion (red) and insertion (blue) per method.
    Table 5: one panel per setting, objective (grey), deletion, insertion for I-GOS and Mask.
    """
    import matplotlib.pyplot as plt

    from ..plotting import DELETION_COLOR, INSERTION_COLOR

    full = compare(results, table, formatted=False).xs("ours", level="source")

    def stats(row, col):
        return tuple(float(full.loc[row, (*col, s)]) for s in ("mean", "lo", "hi"))

    if table in (1, 2, 4):
        groups = [r for r in dict.fromkeys(c[0] for c in full.columns)
                  if full.loc[:, (r, "deletion", "mean")].notna().any()]
        groups = sorted(groups, reverse=True)
        quantities, colors, names = ("deletion", "insertion"), (DELETION_COLOR, INSERTION_COLOR), ("deletion", "insertion")
        panels = [(f"{g}x{g}", [m for m in full.index if not math.isnan(full.loc[m, (g, "deletion", "mean")])],
                   lambda m, q, g=g: stats(m, (g, q))) for g in groups]
    elif table == 5:
        quantities, colors = ("total loss", "deletion", "insertion"), ("0.5", DELETION_COLOR, INSERTION_COLOR)
        names = quantities
        settings = [s for s in dict.fromkeys(c[0] for c in full.columns)]
        panels = [(f"setting {s} {TABLE5_LAMBDAS.get(s, '')}", ["I-GOS", "Mask"],
                   lambda m, q, s=s: stats(q, (s, m))) for s in settings]
    else:
        raise ValueError("plot_table draws Tables 1, 2, 4 and 5; see plot_timing and pointing_hits for 3 and 6")
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size), squeeze=False, sharey=True)
    for k, (ax, (title, labels, get)) in enumerate(zip(axes[0], panels)):
        ylabel = "" if k else ("objective / AUC" if table == 5 else "AUC (deletion low, insertion high)")
        _bars(ax, labels, [[get(m, q) for m in labels] for q in quantities], colors, names, ylabel)
        ax.set_title(title, fontsize=9)
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_timing(results, *, size: float = 3.0):
    """Seconds per image of each method and resolution (log scale), as measured by the runner."""
    import matplotlib.pyplot as plt

    t = timing(results)
    labels = [f"{m} {r}" for m, r in t.index]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(labels)), size))
    colors = ["tab:orange" if m == "I-GOS" else "tab:gray" if m == "Mask" else "tab:cyan" for m, _ in t.index]
    ax.bar(np.arange(len(labels)), t["seconds"], color=colors)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("seconds per image", fontsize=8)
    fig.tight_layout()
    return fig


def box_fraction(boxes, size: int = 224) -> list[float]:
    """Share of a ``size x size`` image covered by each box ``[x0, y0, x1, y1]`` (NaN rows -> NaN)."""
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    return (((b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)) / size ** 2).tolist()


# ----------------------------------------------------------------------------- pointing game
def pointing_hits(results) -> pd.DataFrame:
    """Pointing-game hits per image (rows) and method/resolution (columns), from the rows of Table 6."""
    frame = table_rows(results, 6)
    frame = frame[frame["pointing_hit"].notna()]
    col = [NAMES.get(m, m) + ("" if r is None or (isinstance(r, float) and math.isnan(r)) else f" {int(r)}x{int(r)}")
           for m, r in zip(frame["method"], frame["resolution"])]
    frame = frame.assign(column=col)
    return frame.pivot_table(index="image", columns="column", values="pointing_hit", aggfunc="first", sort=False)


__all__ = ["NAMES", "best_image", "box_fraction", "box_table", "claims_markdown", "cost_estimate", "describe",
           "key_numbers", "mean_curves", "orderings", "our_means", "per_image", "plot_mean_curves", "plot_table",
           "plot_timing", "pointing_hits", "print_orderings", "recompute_objective", "run_summary", "settings_table",
           "timing", "verdict_counts"]
