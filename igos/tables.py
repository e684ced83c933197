"""Results -> tables: mean and 95% interval per cell, beside the paper's numbers.

* :func:`results_frame` turns rows from :mod:`igos.experiment` (a path, a list of dicts,
  or a DataFrame) into a DataFrame. The column ``res`` is the requested resolution, or
  the native map height for methods without one, so Grad-CAM's 7x7 map lands in the
  7 column, as in the paper.
* :func:`summarize` gives long-form statistics (mean, lo, hi, n) per method and res.
* :func:`compare` lays our numbers out as the paper's Table N (:func:`layout` on the rows that
  feed it, :func:`table_rows`). Each row appears twice, as ``(name, "paper")`` (the paper's
  numbers from :mod:`igos.paper_tables`) and ``(name, "ours")``, so the two are never confused.

**Intervals.** The default ``ci="t"`` is the Student-t interval
``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)`` over images (over classes for the pointing
game, whose score is a mean of per-class accuracies). The t quantile is computed here,
without scipy. ``ci="bootstrap"`` gives the percentile bootstrap of the mean with
``n_boot`` resamples drawn from ``numpy.random.default_rng(seed)``. A cell with fewer
than two values has no interval (NaN). An interval is clipped to the range the quantity can
take (an AUC to [0, 1], a pointing accuracy to [0, 100] %, a time to [0, inf)).

Explained in ``book/40_running_the_experiments.ipynb``.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .experiment.presets import ABLATIONS, MAIN, POINTING, TABLE5_LAMBDAS, TABLE5_RESOLUTION
from .paper_tables import TABLES, paper_table

#: Registry name -> the paper's name for the method.
PAPER_NAMES = {
    "i_gos": "I-GOS",
    "mask": "Mask",
    "meaningful_perturbation": "Mask",
    "grad_cam": "Grad-CAM",
    "rise": "RISE",
    "integrated_gradients": "Integrated Gradients",
    "excitation_backprop": "Excitation BP",
    "excitation_backprop_mwp": "Excitation BP (MWP)",
    "gradient": "AM (gradient)",
}
#: Method label -> Table 4 variant (give your own with ``names=``).
ABLATION_NAMES = {"i_gos": "I-GOS", "i_gos_no_tv": "no TV term", "i_gos_no_noise": "no noise",
                  "i_gos_fixed_step": "fixed step size"}
#: Table 6 names of the methods without a resolution.
POINTING_NAMES = {"gradient": "AM (gradient)", "excitation_backprop": "Excitation BP (c-MWP)", "rise": "RISE"}


# ----------------------------------------------------------------------------- statistics
def _t_cdf_upper(x: float, df: int) -> float:
    """P(0 <= T <= x) for Student's t with ``df`` degrees of freedom (Simpson's rule, x >= 0)."""
    grid = np.linspace(0.0, x, 4001)
    logc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    dens = np.exp(logc - (df + 1) / 2 * np.log1p(grid ** 2 / df))
    h = x / 4000
    return float(h / 3 * (dens[0] + dens[-1] + 4 * dens[1:-1:2].sum() + 2 * dens[2:-1:2].sum()))


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (``0.5 <= p < 1``) of Student's t with ``df`` degrees of freedom, by bisection."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"need 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while 0.5 + _t_cdf_upper(hi, df) < p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 + _t_cdf_upper(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def interval(values: Iterable[float], *, ci: str = "t", level: float = 0.95, n_boot: int = 10000,
             seed: int = 0, bounds: tuple[float, float] | None = None) -> tuple[float, float, float, int]:
    """``(mean, lo, hi, n)`` of ``values`` (NaN and None dropped); see the module docstring.

    ``bounds``: the range the quantity can take (``(0, 1)`` for an AUC); the t interval is
    clipped to it.
    """
    lo, hi = -math.inf, math.inf
    if bounds is not None:
        lo, hi = bounds
    mean, a, b, n = _interval(values, ci=ci, level=level, n_boot=n_boot, seed=seed)
    return mean, (a if math.isnan(a) else max(a, lo)), (b if math.isnan(b) else min(b, hi)), n


#: The range of each quantity, used to clip intervals.
BOUNDS = {"deletion": (0.0, 1.0), "insertion": (0.0, 1.0), "seconds": (0.0, math.inf),
          "metric_seconds": (0.0, math.inf), "pointing": (0.0, 100.0)}


def _interval(values, *, ci, level, n_boot, seed):
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    if ci == "t":
        half = t_quantile((1 + level) / 2, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
        return mean, mean - half, mean + half, n
    if ci == "bootstrap":
        rng = np.random.default_rng(seed)
        means = x[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        return mean, float(lo), float(hi), n
    raise ValueError(f"ci must be 't' or 'bootstrap', got {ci!r}")


# ----------------------------------------------------------------------------- results
def results_frame(results) -> pd.DataFrame:
    """Rows of :mod:`igos.experiment` (a JSONL path, a list of dicts or a DataFrame) as a DataFrame.

    Adds ``res``: the requested resolution, else the native map height.
    """
    if isinstance(results, (str, os.PathLike)):
        from .experiment import read_results

        results = read_results(results)
    frame = results.copy() if isinstance(results, pd.DataFrame) else pd.DataFrame(list(results))
    if frame.empty:
        raise ValueError("no results to tabulate")
    res = frame["resolution"] if "resolution" in frame else pd.Series([None] * len(frame), index=frame.index)
    native = frame["map_size"].map(lambda s: int(s[0])) if "map_size" in frame else res
    frame["res"] = [int(r) if r is not None and not (isinstance(r, float) and math.isnan(r)) else int(m)
                    for r, m in zip(res, native)]
    return frame


def summarize(results, by: Sequence[str] = ("method", "res"),
              values: Sequence[str] = ("deletion", "insertion", "seconds"), *, ci: str = "t",
              level: float = 0.95, n_boot: int = 10000, seed: int = 0) -> pd.DataFrame:
    """Mean, interval bounds and count of each of ``values`` per group of ``by``.

    Returns a DataFrame indexed by ``by`` with columns ``(value, stat)``, where ``stat`` is
    one of ``mean, lo, hi, n``.
    """
    frame = results_frame(results)
    values = [v for v in values if v in frame]
    out = {}
    for key, group in frame.groupby(list(by), sort=False):
        out[key] = {(v, s): x for v in values
                    for s, x in zip(("mean", "lo", "hi", "n"),
                                    interval(group[v], ci=ci, level=level, n_boot=n_boot, seed=seed,
                                             bounds=BOUNDS.get(v)))}
    summary = pd.DataFrame.from_dict(out, orient="index")
    summary.index.names = list(by)
    summary.columns = pd.MultiIndex.from_tuples(summary.columns, names=("value", "stat"))
    summary.attrs["ci"] = _ci_text(ci, level, n_boot, seed)
    return summary


# ----------------------------------------------------------------------------- paired statistics
def binomial_tail(k: int, n: int) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, 1/2)``: the one-sided exact sign test of ``k`` wins in ``n``."""
    return sum(math.comb(n, j) for j in range(k, n + 1)) / 2.0 ** n


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: P(a split at least this uneven) under a fair coin, ties dropped."""
    n = wins + losses
    if n == 0:
        return 1.0
    return min(1.0, 2 * binomial_tail(max(wins, losses), n))


def wilcoxon_signed_rank(d: np.ndarray) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test of the differences ``d`` (zeros dropped).

    Average ranks for tied ``|d|``. Exact (the distribution of the positive rank sum over all
    ``2^n`` sign patterns, by dynamic programming on doubled ranks) for ``n <= 60``, else the
    normal approximation with the tie correction of the variance.
    """
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 1.0
    ranks = pd.Series(np.abs(d)).rank(method="average").to_numpy()
    t_plus = ranks[d > 0].sum()
    mean = n * (n + 1) / 4
    if n <= 60:
        r2 = np.rint(2 * ranks).astype(int)              # average ranks are multiples of 1/2
        counts = np.zeros(r2.sum() + 1)
        counts[0] = 1.0
        for r in r2:                                     # each rank enters T+ or not, with probability 1/2
            shifted = np.zeros_like(counts)
            shifted[r:] = counts[:-r]
            counts = counts + shifted
        probs = counts / counts.sum()
        t2 = int(round(2 * t_plus))
        dev = abs(t2 - 2 * mean)
        values = np.arange(len(probs))
        return float(min(1.0, probs[np.abs(values - 2 * mean) >= dev - 1e-9].sum()))
    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (tie_counts ** 3 - tie_counts).sum() / 48
    z = (t_plus - mean) / math.sqrt(var)
    return float(math.erfc(abs(z) / math.sqrt(2)))


def paired(results, a: str, b: str, value: str = "deletion", *, res: int | None = None, level: float = 0.95,
           n_boot: int = 10000, seed: int = 0) -> dict:
    """Per-image paired comparison of method label ``a`` against ``b`` on ``value``.

    The rows of both methods (at resolution ``res`` when given, compared by the column ``res``
    of :func:`results_frame`) are matched by ``image_index``; ``d = a - b`` per image.

    Returns ``{"n", "mean_diff", "lo", "hi", "a_lower", "b_lower", "ties", "p_sign",
    "p_wilcoxon"}``: the number of images both have, the mean of ``d`` with its percentile
    bootstrap interval (``n_boot`` resamples, ``numpy.random.default_rng(seed)``), how often
    each is lower, and the two-sided p-values of the exact sign test and of the Wilcoxon
    signed-rank test (:func:`wilcoxon_signed_rank`).
    """
    frame = results_frame(results)
    if value not in frame:
        raise ValueError(f"no column {value!r} in the results")

    def side(label):
        rows = frame[frame["method"] == label]
        if res is not None:
            rows = rows[rows["res"] == res]
        if rows.empty:
            raise ValueError(f"no rows of method {label!r}" + (f" at resolution {res}" if res is not None else ""))
        return rows.groupby("image_index")[value].mean()

    both = pd.concat([side(a).rename("a"), side(b).rename("b")], axis=1).dropna()
    d = (both["a"] - both["b"]).to_numpy(dtype=float)
    n = len(d)
    out = {"n": n, "mean_diff": float(d.mean()) if n else math.nan, "lo": math.nan, "hi": math.nan,
           "a_lower": int((d < 0).sum()), "b_lower": int((d > 0).sum()), "ties": int((d == 0).sum()),
           "p_sign": sign_test(int((d < 0).sum()), int((d > 0).sum())), "p_wilcoxon": wilcoxon_signed_rank(d)}
    _, out["lo"], out["hi"], _ = _interval(d, ci="bootstrap", level=level, n_boot=n_boot, seed=seed)
    return out


def _ci_text(ci: str, level: float, n_boot: int, seed: int) -> str:
    if ci == "t":
        return f"mean [{level:.0%} Student-t interval]"
    return f"mean [{level:.0%} percentile bootstrap, {n_boot} resamples, seed {seed}]"


def _name(row, names: dict, default: dict):
    for key in (row.get("method"), row.get("method_name")):
        if key in names:
            return names[key]
    return default.get(row.get("method_name"), row.get("method"))


def _our_cells(frame: pd.DataFrame, number: int, names: dict | None) -> dict:
    """``{(row name, column): values}`` of our results in the layout of the paper's Table ``number``."""
    names = names or {}
    cells: dict = {}

    def add(key, value):
        cells.setdefault(key, []).append(value)

    records = frame.to_dict("records")
    if number in (1, 2, 4):
        default = ABLATION_NAMES if number == 4 else PAPER_NAMES
        for r in records:
            for metric in ("deletion", "insertion"):
                add((_name(r, names, default), (r["res"], metric)), r.get(metric))
    elif number == 3:
        for r in records:
            add((_name(r, names, PAPER_NAMES), r["res"]), r.get("seconds"))
    elif number == 5:
        for r in records:
            if r["res"] != 28:
                continue
            label = r.get("method")
            if label in names:
                setting, method = names[label]
            elif "@" in str(label):
                base, _, setting = str(label).partition("@")
                method = PAPER_NAMES.get(base, base)
            else:
                continue
            for quantity, field in (("total loss", "loss"), ("deletion", "deletion"), ("insertion", "insertion")):
                add((quantity, (setting, method)), r.get(field))
    elif number == 6:
        hits = [r for r in records if r.get("pointing_hit") is not None]
        groups: dict = {}
        for r in hits:
            base = _name(r, names, {**PAPER_NAMES, **POINTING_NAMES})
            if r.get("resolution") is not None and r.get("method") not in names:
                base = f"{base} {r['res']}x{r['res']}"
            groups.setdefault((base, pointing_column(r.get("images", "ours"))), {}).setdefault(
                r.get("object_class", r.get("label")), []).append(float(r["pointing_hit"]))
        for key, per_class in groups.items():  # the score is a mean over classes of per-class accuracy (%)
            cells[key] = [100 * float(np.mean(v)) for v in per_class.values()]
    else:
        raise ValueError(f"the paper has Tables 1-6, got {number!r}")
    return cells


def pointing_column(images: str) -> str:
    """The Table 6 column of a run on ``images``: the paper's dataset name for a VOC07 or COCO run
    (with our ImageNet model, not the paper's fine-tuned VGG16), else the source marked as not comparable."""
    from .data import split_pointing_source

    split = split_pointing_source(images)
    if split is not None:
        name = {"voc07": "VOC07", "coco": "MSCOCO"}[split[0]]
        return f"{name} (ImageNet model, not the paper's VGG16)"
    return f"{images} (not comparable to the paper)"      # other photos, model and boxes


def _format(value, digits: int) -> str:
    if isinstance(value, str):
        return value
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def layout(results, table: int, *, names: dict | None = None, ci: str = "t", level: float = 0.95,
           n_boot: int = 10000, seed: int = 0, formatted: bool = True, digits: int | None = None) -> pd.DataFrame:
    """Our results in the layout of the paper's Table ``table``, beside the paper's numbers.

    Args:
        results: rows of :mod:`igos.experiment` (path, list of dicts or DataFrame).
        table: 1-6.
        names: method label (or registry name) -> the paper's row name. For Table 5,
            label -> ``(setting, method)``; by default a label ``"i_gos@A"`` means
            setting A of I-GOS. For Table 4 the defaults are in :data:`ABLATION_NAMES`.
        ci, level, n_boot, seed: the interval (see :func:`interval`).
        formatted: strings ``"mean [lo, hi]"`` (for the book) or numbers with a
            ``stat`` column level (``mean, lo, hi, n``).
        digits: decimals of the formatted cells (4, or 2 for Tables 3 and 6).

    Returns:
        A DataFrame with rows ``(name, source)``, where ``source`` is ``"paper"`` or
        ``"ours"``, and the paper's columns plus any column that only we have.
        ``attrs["title"]`` and ``attrs["ci"]`` describe it.
    """
    paper = paper_table(table)
    frame = results_frame(results)
    def bounds(row_name, column):
        if table == 6:
            return BOUNDS["pointing"]
        if table == 3:
            return BOUNDS["seconds"]
        metric = row_name if table == 5 else column[1]
        return BOUNDS.get(metric)

    cells = {k: interval(v, ci=ci, level=level, n_boot=n_boot, seed=seed, bounds=bounds(*k))
             for k, v in _our_cells(frame, table, names).items()}
    columns = list(paper.columns)
    extra = sorted({c for _, c in cells if c not in columns}, key=lambda c: (str(type(c)), c), reverse=True)
    columns += extra
    ours = list(dict.fromkeys(n for n, _ in cells))
    order = list(paper.index) + [n for n in ours if n not in paper.index]
    digits = digits if digits is not None else (2 if table in (3, 6) else 4)
    spec = TABLES[table]

    index, data = [], []
    for name in order:
        if name in paper.index:
            index.append((name, "paper"))
            raw = dict(zip(spec["columns"], spec["rows"][name]))
            data.append({c: raw.get(c) for c in columns})
        if name in ours:
            index.append((name, "ours"))
            data.append({c: cells.get((name, c)) for c in columns})
    if formatted:
        def cell(v):
            if isinstance(v, tuple):
                mean, lo, hi, _ = v
                return _format(mean, digits) + ("" if math.isnan(lo) else f" [{_format(lo, digits)}, "
                                                                         f"{_format(hi, digits)}]")
            return _format(v, digits)
        body = [[cell(row[c]) for c in columns] for row in data]
        cols = (pd.MultiIndex.from_tuples(columns, names=paper.columns.names) if paper.columns.nlevels > 1
                else pd.Index(columns, name=paper.columns.name))
    else:
        stats = ("mean", "lo", "hi", "n")

        def numbers(v):
            if isinstance(v, tuple):
                return list(v)
            return [v if isinstance(v, (int, float)) else math.nan, math.nan, math.nan, math.nan]
        body = [[x for c in columns for x in numbers(row[c])] for row in data]
        flat = [(*(c if isinstance(c, tuple) else (c,)), s) for c in columns for s in stats]
        cols = pd.MultiIndex.from_tuples(flat, names=[*paper.columns.names, "stat"])
    out = pd.DataFrame(body, index=pd.MultiIndex.from_tuples(index, names=[paper.index.name, "source"]),
                       columns=cols)
    out.attrs.update(title=spec["title"] + " - paper vs ours", paper_model=spec["model"],
                     ci="ours: " + _ci_text(ci, level, n_boot, seed) + "; paper: as printed; " + TIE_RULE)
    return out


#: How deletion and insertion rank cells of equal saliency (stated beside every table).
TIE_RULE = "ties among equal saliency values ranked in a seeded random order (igos.metrics.cell_ranks, seed 0)"


def effect(results, methods: Sequence[str] | None = None, *, min_p: float = 0.0) -> pd.DataFrame:
    """What each mask optimisation did, per method label and resolution: the effect, not only the map.

    For the rows that record it (I-GOS and Mask rows of :mod:`igos.experiment`): ``n``, mean
    ``p(x)``, mean ``p(masked)`` (the target's probability on the image under the final mask),
    the mean probability drop ``p(x) - p(masked)``, how many rows at least halved ``p(x)``,
    how many **stalled** (``p(masked) > 0.9 p(x)``, :func:`igos.metrics.stalled`), the mean
    ``mean(1 - M)``, the mean tied share of the map and the mean iterations. ``flag`` says
    ``"STALLED k of n"`` where any row stalled. ``methods``: labels to keep (default: all
    rows that have ``p_masked``); ``min_p``: keep only the rows whose ``p(x)`` is at least this
    (the photos the model is confident about).
    """
    frame = results_frame(results)
    if "p_masked" not in frame:
        raise ValueError("these results record no mask effect (p_masked): rerun them with this version of igos")
    frame = frame[frame["p_masked"].notna()]
    if methods is not None:
        frame = frame[frame["method"].isin(list(methods))]
    frame = frame[frame["p_image"] >= min_p]
    out = []
    for (method, res), g in frame.groupby(["method", "res"], sort=False):
        stalled = int(g["stalled"].astype(bool).sum())
        out.append({"method": method, "res": int(res), "n": len(g), "p(x)": g["p_image"].mean(),
                    "p(masked)": g["p_masked"].mean(), "drop": (g["p_image"] - g["p_masked"]).mean(),
                    "halved": int((g["p_masked"] <= 0.5 * g["p_image"]).sum()), "stalled": stalled,
                    "mean(1-M)": g["mean_saliency"].mean(), "tied share": g["tied_share"].mean(),
                    "iterations": g["iterations"].mean(),
                    "flag": f"STALLED {stalled} of {len(g)}" if stalled else ""})
    if not out:
        raise ValueError("no I-GOS or Mask rows among these results" + (f" with p(x) >= {min_p:g}" if min_p else ""))
    table = pd.DataFrame(out).sort_values(["method", "res"], ascending=[True, False]).set_index(["method", "res"])
    table.attrs["rule"] = ("stalled: p(masked) > 0.9 p(x); halved: p(masked) <= 0.5 p(x); " + TIE_RULE)
    return table


# ----------------------------------------------------------------------------- the paper's tables
#: Method labels that feed each table.
TABLE_LABELS = {
    1: MAIN + ("excitation_backprop_mwp",), 2: MAIN, 3: MAIN,
    4: ("i_gos",) + tuple(ABLATIONS),
    5: ("i_gos",) + tuple(f"{m}@{s}" for m in ("i_gos", "mask") for s in TABLE5_LAMBDAS),   # "i_gos": see table_names
    6: POINTING,
}


def table_rows(results, table: int) -> pd.DataFrame:
    """The rows of ``results`` (a path, rows or a DataFrame) that feed the paper's Table ``table``."""
    if table not in TABLE_LABELS:
        raise ValueError(f"the paper has Tables 1-6, got {table!r}")
    frame = results_frame(results)
    keep = frame["method"].isin(TABLE_LABELS[table])
    if table == 4:   # the reference I-GOS rows at the resolutions of the ablation
        ablated = set(frame.loc[frame["method"].isin(list(ABLATIONS)), "res"])
        keep &= frame["res"].isin(ablated) | ~frame["method"].eq("i_gos")
    if table == 5:
        keep &= frame["res"].eq(TABLE5_RESOLUTION)
    if table in (4, 5):   # the reference I-GOS rows on the photos of the variants only (a subset on a CPU)
        variant = frame["method"].isin([m for m in TABLE_LABELS[table] if m != "i_gos"])
        photos = set(frame.loc[keep & variant, "image_index"])
        if photos:
            keep &= frame["image_index"].isin(photos) | variant
    return frame[keep].reset_index(drop=True)


def table_names(table: int, frame: pd.DataFrame | None = None) -> dict:
    """The paper's row names of Table ``table`` for the labels of :func:`igos.experiment.presets.paper_config`."""
    if table == 5:   # the main I-GOS row stands for the setting of the default lambdas at 28, unless the run has its own row
        from .methods.i_gos import default_lambdas

        same = [k for k, v in TABLE5_LAMBDAS.items() if v == default_lambdas(TABLE5_RESOLUTION)]
        if not same or (frame is not None and frame["method"].eq(f"i_gos@{same[0]}").any()):
            return {}
        return {"i_gos": (same[0], "I-GOS")}
    if table == 6:   # native methods by name, so that no resolution suffix is added
        return {"gradient": "AM (gradient)", "excitation_backprop": "Excitation BP (c-MWP)", "rise": "RISE",
                "grad_cam": "Grad-CAM", "integrated_gradients": "Integrated Gradients"}
    if table == 4:
        return dict(ABLATION_NAMES)
    return {"excitation_backprop": "Excitation BP", "excitation_backprop_mwp": "Excitation BP (MWP)"}


def compare(results, table: int, **kwargs) -> pd.DataFrame:
    """Our results as the paper's Table ``table``, beside the paper's numbers: :func:`layout` on the
    rows that feed that table (:func:`table_rows`), with the paper's row names (:func:`table_names`).

    Columns of Tables 1, 2 and 4 are put in the paper's order (resolution descending, deletion
    before insertion), also the columns that only we have (7x7 in Table 1).
    """
    rows = table_rows(results, table)
    out = layout(rows, table, names=table_names(table, rows), **kwargs)
    if table in (1, 2, 4):
        cols = sorted(out.columns, key=lambda c: (-int(c[0]), c[1] != "deletion"))   # stable: keeps stat order
        out = out.loc[:, pd.MultiIndex.from_tuples(cols, names=out.columns.names)]
    return out


__all__ = ["ABLATION_NAMES", "PAPER_NAMES", "TABLE_LABELS", "TIE_RULE", "compare", "effect", "interval", "layout",
           "paper_table", "results_frame", "summarize", "t_quantile", "table_names", "table_rows"]
