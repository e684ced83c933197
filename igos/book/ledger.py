"""The claims ledger: every claim of the book's seven sources, its verdict on our numbers, and where it is decided.

A claim is decided in one of three ways, and the ledger page (``book/95_claims_ledger``) shows
them side by side:

* **Table claims** (the orderings the I-GOS paper reads off its Tables 1-6) are recomputed from
  the shared results files with the functions the table chapters call
  (:func:`igos.book.reproduction.paired_orderings` where a paired test exists, else
  :func:`igos.book.reproduction.orderings` on our means): :func:`table_claims`.
* **Chapter claims** (each Lerma paper's main statement, the I-GOS paper's Proposition 1, its
  revised Armijo condition, Figure 2, its failure and adversarial readings) are decided by a
  chapter's check cell, which computes the statistic, calls :func:`record` and then asserts
  what the chapter proves. A record is a verdict, the statistic behind it and the time it was
  made, kept per mode in ``results/claims-<fast|full>.json``. The ledger lists every claim of
  :data:`CLAIMS`; one whose chapter has not run yet shows as ``not run yet``.
* **Claims not testable here** (:data:`NOT_TESTABLE`): each with the reason.

Verdicts are one of :data:`VERDICTS`. A claim *holds* or *does not hold* only on a test that can
fail: a paired test (Tables 1 and 4), an exact identity or bound checked to a stated tolerance (the
theory chapters), or, where only means exist, the means on at least :data:`MIN_PHOTOS` photos,
with the number stated. With too few photos for a test to reach its level, the verdict is
*not decided*.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

VERDICTS = ("holds", "does not hold", "not decided", "not testable here")
NOT_RUN = "not run yet"

SOURCES = {
    "I-GOS": "Qi, Khorram, Li: Visualizing deep networks by optimizing with integrated gradients (AAAI 2020)",
    "Lerma 1": "Lerma, Lucas: A vulnerability of attribution methods using pre-softmax scores (2023)",
    "Lerma 2": "Lerma, Lucas: Pre or post-softmax scores in gradient-based attribution methods (2023)",
    "Lerma 3": "Lucas, Lerma, Furst, Raicu: RSI-Grad-CAM (ISVC 2022)",
    "Lerma 4": "Lerma, Lucas: Grad-CAM++ is equivalent to Grad-CAM with positive gradients (2022)",
    "Lerma 5": "Lerma, Lucas: Baseline computation for attribution methods based on interpolated inputs (2022)",
    "Lerma 6": "Lerma, Lucas: Symmetry-preserving paths in integrated gradients (2021)",
}


@dataclass(frozen=True)
class Claim:
    """One claim of a source.

    ``key``: the ledger's name for it (also the MyST target ``claim-<key>`` in its chapter);
    ``chapter``: the notebook stem that decides it (``"10_integrated_gradients"``).
    """

    key: str
    source: str
    statement: str
    chapter: str

    @property
    def label(self) -> str:
        return f"claim-{self.key}"


CLAIMS = (
    Claim("ig-completeness", "Lerma 6", "Completeness of IG needs an absolutely continuous path profile: for a function "
          "that is only differentiable almost everywhere (Cantor's staircase) IG misses F(x) - F(x')",
          "10_integrated_gradients"),
    Claim("ig-not-unique", "Lerma 6", "IG preserves symmetry, but it is not the only path method that does "
          "(a non-straight symmetric path preserves it too)", "10_integrated_gradients"),
    Claim("post-softmax-contrast", "Lerma 2", "The post-softmax Grad-CAM weights are y_c times the weights of the "
          "probability-weighted logit contrast", "11_pre_post_softmax"),
    Claim("post-softmax-saturation", "Lerma 2", "Post-softmax gradients vanish when the output saturates "
          "(y_c rounds to 1 in float32); a stable form of the same gradient does not", "11_pre_post_softmax"),
    Claim("pre-softmax-vulnerability", "Lerma 1", "Adding one input-dependent term to every logit leaves the "
          "probabilities unchanged but moves pre-softmax attributions arbitrarily; post-softmax maps do not move",
          "12_pre_softmax_vulnerability"),
    Claim("neutral-baseline", "Lerma 5", "A baseline can be computed that brings the output close to the uniform "
          "distribution while staying near the black image", "13_choosing_the_baseline"),
    Claim("gradcampp-equals-plus", "Lerma 4", "Grad-CAM++ gives the same maps as Grad-CAM with positive "
          "gradients (on post-ReLU layers)", "20_grad_cam_plus_plus"),
    Claim("rsi-layer-completeness", "Lerma 3", "RSI-Grad-CAM's Riemann-Stieltjes sums at a layer that cuts the "
          "network add up to s(x) - s(x'), at any layer", "21_rsi_grad_cam"),
    Claim("quadratic-scaling", "I-GOS", "Proposition 1: on a quadratic with its optimum at the baseline, the "
          "integrated gradient is a fixed multiple of the gradient", "30_quadratic_scaling"),
    Claim("figure-2", "I-GOS", "Figure 2: descent along the integrated gradient escapes a local minimum where "
          "gradient descent stops", "30_quadratic_scaling"),
    Claim("revised-armijo", "I-GOS", "The revised Armijo condition (8) accepts a step along an integrated "
          "gradient that the classical condition (7) cannot, and the accepted steps lower the objective",
          "31_revised_armijo"),
    Claim("paper-settings-optimise", "I-GOS", "I-GOS with the paper's hyperparameters drives the masked "
          "probability down (on EfficientNet-Lite0)", "32_why_i_gos_stalls"),
    Claim("failure-low-confidence", "I-GOS", "Figure 7: I-GOS fails where the model is unsure or wrong "
          "(low p(label) goes with a low insertion AUC)", "47_failure_and_adversarial"),
    Claim("adversarial-insertion", "I-GOS", "Figures 8-9: for an adversarial image far more of the image must "
          "be inserted before the model predicts its class than for the original", "47_failure_and_adversarial"),
)
_BY_KEY = {c.key: c for c in CLAIMS}

# (source, claim, reason, chapter): claims that this build cannot decide, and why.
NOT_TESTABLE = (
    ("I-GOS", "Table 2: the orderings of Table 1 hold on ResNet50",
     "ResNet50's torchvision weights are not shipped; the chapters run it when MODEL = \"resnet50\" and "
     "its weights are at hand", "41_tables_1_2"),
    ("I-GOS", "Table 6: I-GOS has the best pointing accuracy on MSCOCO and VOC07",
     "the datasets are not shipped (chapter 45 plays both from a local copy, with an ImageNet model instead of the "
     "paper's fine-tuned VGG16); without them it plays on the embedded photos, not comparable",
     "45_table_6_pointing_game"),
    ("I-GOS", "Figures 1, 3-5, 10-15: I-GOS's heatmaps are more focused than the other methods'",
     "a visual judgement; chapter 46 redraws the figures from our runs and the tables give the numbers",
     "46_figures_heatmaps"),
    ("Lerma 3", "RSI-Grad-CAM's heatmaps are better focused than Grad-CAM's",
     "a visual judgement without a stated metric; chapter 21 shows the maps", "21_rsi_grad_cam"),
)

MIN_PHOTOS = 5
"""Fewer photos than this cannot decide a claim read off means: even 5 wins of 5 give a sign test p = 1/32."""

TABLE_CHAPTERS = {1: "41_tables_1_2", 3: "42_table_3_timing", 4: "43_table_4_ablation", 5: "44_table_5_objective",
                  6: "45_table_6_pointing_game"}


def package_hash() -> str:
    """A hash of the ``igos`` package's source files (which code produced a record or a run)."""
    import hashlib

    root = Path(__file__).resolve().parents[1]          # igos/
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _code_hash(chapter: str, package: str | None = None) -> str:
    """``package`` (default :func:`package_hash`) with the code cells of ``book/<chapter>.ipynb`` (when at hand)."""
    import hashlib

    digest = hashlib.sha1((package or package_hash()).encode())
    path = Path(__file__).resolve().parents[2] / "book" / f"{chapter}.ipynb"      # in a clone of the book
    if path.is_file():
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                digest.update("".join(cell["source"]).encode() + b"\0")
    return digest.hexdigest()[:16]


def claims_file(fast: bool) -> Path:
    """Where chapter records live: ``results/claims-fast.json`` or ``results/claims-full.json``."""
    from ..experiment.presets import results_dir

    return results_dir() / f"claims-{'fast' if fast else 'full'}.json"


def verdict_of(holds: bool | None) -> str:
    """``True`` -> ``"holds"``, ``False`` -> ``"does not hold"``, ``None`` -> ``"not decided"``."""
    if holds is None:
        return "not decided"
    return "holds" if bool(holds) else "does not hold"


def record(key: str, holds: bool | None, statistic: str, *, fast: bool, path: str | os.PathLike | None = None) -> str:
    """Record a chapter's verdict on claim ``key`` (one of :data:`CLAIMS`) and return the verdict.

    ``holds``: the outcome of the chapter's test (``None``: the data do not decide);
    ``statistic``: the numbers behind it, in one line. Call it before the chapter asserts, so a
    regression shows as a changed verdict as well as a failed check. The record carries a hash of
    ``igos`` and of the chapter's code: :func:`ledger` shows a record made by other code as
    ``"not run yet"``. The file is rewritten atomically; other claims' records are kept.
    """
    if key not in _BY_KEY:
        raise KeyError(f"unknown claim {key!r}; the ledger knows {sorted(_BY_KEY)}")
    if not isinstance(statistic, str) or not statistic:
        raise ValueError("statistic must be a non-empty string")
    from filelock import FileLock      # a dependency of torch

    path = Path(path) if path is not None else claims_file(fast)
    verdict = verdict_of(holds)
    entry = {"verdict": verdict, "statistic": statistic, "code": _code_hash(_BY_KEY[key].chapter),
             "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):      # chapters executed side by side (make book) record at the same time
        data = read_records(path)
        data[key] = entry
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    return verdict


def read_records(path: str | os.PathLike) -> dict:
    """The records in ``path`` (``{}`` when the file does not exist yet)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def sign_verdict(wins: int, n: int, *, alpha: float = 0.05) -> tuple[bool | None, float]:
    """A claim's outcome from ``wins`` out of ``n`` untied photos: ``(holds, p)``, ``p`` the one-sided
    exact sign test (:func:`igos.tables.binomial_tail`).

    ``holds`` is ``True`` when ``p < alpha`` for the claimed side, ``False`` when the opposite
    side is significant, else ``None`` (the sample cannot decide; with ``n < 5`` it never can).
    """
    from ..tables import binomial_tail

    if not 0 <= wins <= n:
        raise ValueError(f"need 0 <= wins <= n, got {wins}, {n}")
    if n == 0:
        return None, float("nan")
    p, p_opp = binomial_tail(wins, n), binomial_tail(n - wins, n)
    return (True if p < alpha else False if p_opp < alpha else None), p


def spearman_test(x, y, *, n_perm: int = 10000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's rank correlation of ``x`` and ``y`` with one-sided permutation p-values.

    Returns ``(rho, p_greater, p_less)``: the share of ``n_perm`` seeded permutations of ``y``
    (plus the observed one) whose correlation is at least / at most ``rho``.
    """
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"need two 1-D sequences of the same length >= 2, got {x.shape} and {y.shape}")
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        raise ValueError("a constant sequence has no rank correlation")
    rx, ry = (rx - rx.mean()) / rx.std(), (ry - ry.mean()) / ry.std()
    rho = float((rx * ry).mean())
    perms = np.random.default_rng(seed).permuted(np.tile(ry, (n_perm, 1)), axis=1)
    null = (perms * rx).mean(1)
    return rho, float(((null >= rho - 1e-12).sum() + 1) / (n_perm + 1)), float(((null <= rho + 1e-12).sum() + 1) / (n_perm + 1))


def claim_photos(frame: pd.DataFrame, claim: str) -> int:
    """The photos behind a claim read off means: the fewest photos of any cell it involves.

    ``frame``: :func:`igos.tables.table_rows` of the claim's table. The cells are those of the
    methods the claim names (by the paper's names, longest first) at the resolutions it names
    (``"28x28"``), or at every resolution when it names none; all cells when it names no method.
    """
    from .reproduction import NAMES

    text, labels = claim, set()
    for label, name in sorted(NAMES.items(), key=lambda kv: -len(kv[1])):
        if name in text:
            labels |= {k for k, v in NAMES.items() if v == name}
            text = text.replace(name, "")
    res = {int(r) for r in re.findall(r"(\d+)x\1", claim)}
    base = frame["method"].astype(str).str.partition("@")[0]
    sub = frame[base.isin(labels)] if labels else frame
    if res:
        sub = sub[sub["res"].isin(res)]
    # a pointing-game dataset has one entry per image and object class ("<image id>/<class>"): count images
    photo = sub["image"].astype(str).str.partition("/")[0] if "object_class" in sub and sub["object_class"].notna().any() \
        else sub["image_index"]
    counts = photo.groupby([sub["method"], sub["res"]], dropna=False).nunique()
    return int(counts.min()) if len(counts) else 0


def _paired_rows(results, table: int) -> list[dict]:
    from ..tables import table_rows
    from . import reproduction as repro

    paired = repro.paired_orderings(results, table)
    ordering = repro.orderings(results, table)
    frame = table_rows(results, table)
    rows = []
    for claim, row in ordering.iterrows():
        if not (len(paired) and claim in paired.index):
            rows.append(_means_row(table, claim, row["ours"], claim_photos(frame, claim)))
            continue
        p = paired.loc[claim]
        verdict = {"holds": "holds", "contradicted": "does not hold", "not significant": "not decided"}[p["paired verdict"]]
        rows.append(_table_row(table, claim, verdict, f"paired, closest rival {p['closest']}: I-GOS on the claimed side "
                               f"on {p['wins']} photos, Wilcoxon p = {p['p Wilcoxon']:.2g}, mean difference "
                               f"{p['mean diff [95% CI]']}"))
    return rows


def _table_row(table: int, claim: str, verdict: str, statistic: str) -> dict:
    return {"source": "I-GOS", "claim": f"Table {table}: {claim}", "verdict": verdict, "statistic": statistic,
            "chapter": TABLE_CHAPTERS[table], "label": f"claim-table-{table}"}


def _means_row(table: int, claim: str, ours, n: int) -> dict:
    from .reproduction import ordering_verdict

    v = ordering_verdict(ours)
    if v is None:
        verdict, stat = "not testable here", "a cell of the claim is missing from this run"
    elif n < MIN_PHOTOS:
        verdict = "not decided"
        stat = (f"our means {'agree' if v else 'disagree'}, but a cell has {n} photo(s); fewer than {MIN_PHOTOS} photos "
                f"cannot decide (a sign test needs {MIN_PHOTOS} to reach p < 0.05)")
    else:
        verdict = verdict_of(v)
        stat = f"means over at least {n} photos per cell, no paired test" + (" (seconds on this machine)" if table == 3 else "")
    return _table_row(table, claim, verdict, stat)


def table_claims(results, pointing=None) -> pd.DataFrame:
    """The orderings of Tables 1 and 3-6 with their verdicts on our runs (see the module docstring).

    ``results``: the shared experiment's rows (:func:`igos.experiment.presets.paper_config`);
    ``pointing``: the pointing run's (:func:`igos.experiment.presets.pointing_config`), for Table 6.
    Columns: ``source, claim, verdict, statistic, chapter, label`` and ``timing`` (True for the
    Table 3 rows, whose verdicts depend on the machine's load).
    """
    from ..tables import table_rows
    from . import reproduction as repro

    rows = _paired_rows(results, 1) + _paired_rows(results, 4)
    for table, res in ((3, results), (5, results), (6, pointing)):
        if res is None:
            continue
        frame = table_rows(res, table)
        for claim, row in repro.orderings(res, table).iterrows():
            r = _means_row(table, claim, row["ours"], claim_photos(frame, claim))
            if table == 6:
                from ..tables import pointing_column

                r["statistic"] += f", column {pointing_column(str(frame['images'].iloc[0]))}" if len(frame) else ""
            rows.append(r)
    frame = pd.DataFrame(rows)
    frame["timing"] = frame["claim"].str.startswith("Table 3:")
    return frame


def ledger(results, pointing=None, *, fast: bool, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every claim with its verdict: the table claims, the chapters' records and the untestable ones.

    Columns: ``source, claim, verdict, statistic, chapter, label, timing``; ``verdict`` is one of
    :data:`VERDICTS`, or ``"not run yet"`` for a chapter claim without a record.
    """
    records = read_records(path if path is not None else claims_file(fast))
    rows, package = [], package_hash()
    for c in CLAIMS:
        r = records.get(c.key)
        if r is not None and r.get("code") != _code_hash(c.chapter, package):
            verdict, stat = NOT_RUN, f"the record of {r['recorded']} predates a change of igos or of the chapter: rerun it"
        elif r is not None:
            verdict, stat = r["verdict"], r["statistic"]
        else:
            verdict, stat = NOT_RUN, f"run chapter {c.chapter}"
        rows.append({"source": c.source, "claim": c.statement, "verdict": verdict, "statistic": stat,
                     "chapter": c.chapter, "label": c.label, "timing": False})
    for source, claim, reason, chapter in NOT_TESTABLE:
        rows.append({"source": source, "claim": claim, "verdict": "not testable here", "statistic": reason,
                     "chapter": chapter, "label": "", "timing": False})
    frame = pd.concat([table_claims(results, pointing), pd.DataFrame(rows)], ignore_index=True)
    order = {s: i for i, s in enumerate(SOURCES)}
    return frame.sort_values("source", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def summary(frame: pd.DataFrame) -> dict:
    """Counts of each verdict (:data:`VERDICTS` and ``"not run yet"``) and ``"total"``."""
    counts = {v: int((frame["verdict"] == v).sum()) for v in (*VERDICTS, NOT_RUN)}
    return {**counts, "total": len(frame)}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def ledger_markdown(frame: pd.DataFrame) -> str:
    """The ledger as MyST Markdown: one table per source, each claim linked to the cell that decides it.

    Render with myst-nb (``glue`` a :class:`IPython.display.Markdown` and paste it with
    ``{glue:md}`` and ``:format: myst``) so that the ``{ref}`` links resolve.
    """
    parts = []
    for source, group in frame.groupby("source", sort=False):
        parts.append(f"**{source}**: {SOURCES[source]}\n")
        parts.append("| claim | verdict | statistic | decided in |\n|---|---|---|---|")
        for _, r in group.iterrows():
            where = f"{{ref}}`chapter {r['chapter'][:2]} <{r['label']}>`" if r["label"] else \
                f"[chapter {r['chapter'][:2]}]({r['chapter']}.ipynb)"
            parts.append(f"| {_cell(r['claim'])} | **{r['verdict']}** | {_cell(r['statistic'])} | {where} |")
        parts.append("")
    return "\n".join(parts)
