"""Tables: the paper's numbers as data, intervals, and our results in the paper's layouts."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from igos import experiment as ex
from igos import tables
from igos.paper_tables import TABLES, paper_table


def test_paper_tables_hold_the_papers_numbers():
    t1 = paper_table(1)
    assert t1.loc["I-GOS", (224, "deletion")] == 0.0336 and t1.loc["I-GOS", (14, "insertion")] == 0.6387
    assert t1.loc["Excitation BP", (28, "insertion")] == 0.5256
    assert math.isnan(t1.loc["Grad-CAM", (224, "deletion")]) and t1.loc["Grad-CAM", (14, "deletion")] == 0.1527
    t2 = paper_table(2)
    assert t2.loc["Grad-CAM", (7, "insertion")] == 0.6521 and t2.loc["Mask", (7, "deletion")] == 0.2259
    assert paper_table(3).loc["I-GOS", 224] == 6.07 and paper_table(3).loc["Grad-CAM", 7] == "< 1"
    assert paper_table(4).loc["no noise", (224, "insertion")] == 0.4194
    assert paper_table(5).loc["total loss", ("C", "Mask")] == 0.6794
    assert paper_table(6).loc["I-GOS 28x28", "VOC07"] == 83.61 and paper_table(6).loc["RISE", "MSCOCO"] == 50.71
    for number, spec in TABLES.items():
        frame = paper_table(number)
        assert frame.shape == (len(spec["rows"]), len(spec["columns"]))
        assert frame.attrs["source"] == "paper"
    with pytest.raises(ValueError):
        paper_table(7)


@pytest.mark.parametrize("df,p,expected", [(1, 0.975, 12.7062), (2, 0.975, 4.3027), (4, 0.975, 2.7764),
                                           (10, 0.975, 2.2281), (30, 0.975, 2.0423), (5, 0.95, 2.0150)])
def test_t_quantile_against_printed_tables(df, p, expected):
    assert tables.t_quantile(p, df) == pytest.approx(expected, abs=2e-4)


def test_t_quantile_against_scipy():
    import scipy.stats as stats
    for df in (1, 3, 7, 20, 99):
        for p in (0.9, 0.975, 0.995):
            assert tables.t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-6)


def test_intervals():
    mean, lo, hi, n = tables.interval([1, 2, 3, 4, 5])
    half = 2.776445 * np.std([1, 2, 3, 4, 5], ddof=1) / math.sqrt(5)
    assert (mean, n) == (3.0, 5) and lo == pytest.approx(3 - half, rel=1e-5) and hi == pytest.approx(3 + half, rel=1e-5)
    assert tables.interval([0.1, 0.9], bounds=(0, 1))[1:3] == (0.0, 1.0)            # clipped
    a = tables.interval([0.2, 0.5, 0.4, 0.9], ci="bootstrap", seed=1)
    assert a == tables.interval([0.2, 0.5, 0.4, 0.9], ci="bootstrap", seed=1)       # seeded
    assert a[1] <= a[0] <= a[2] and 0.2 <= a[1] and a[2] <= 0.9
    assert math.isnan(tables.interval([0.3])[1]) and tables.interval([None, math.nan])[3] == 0
    with pytest.raises(ValueError):
        tables.interval([1, 2], ci="normal")


def rows():
    """Synthetic runner rows: I-GOS at 224 and 28, Grad-CAM at its native 7 x 7, labels 1 and 2."""
    out = []
    for i, (d, ins, label, hit) in enumerate([(0.1, 0.5, 1, True), (0.2, 0.6, 1, False), (0.3, 0.7, 2, True)]):
        for method, res, size, shift in (("i_gos", 224, 224, 0.0), ("i_gos", 28, 28, 0.05), ("grad_cam", None, 7, 0.1)):
            out.append({"key": f"{i}/{method}/{res}", "image_index": i, "method": method, "method_name": method,
                        "resolution": res, "map_size": [size, size], "deletion": d + shift, "insertion": ins - shift,
                        "seconds": 1.0 + i, "loss": 0.2 + shift, "label": label, "pointing_hit": hit,
                        "images": "embedded"})
    return out


def test_summarize():
    summary = tables.summarize(rows())
    assert summary.loc[("i_gos", 224), ("deletion", "mean")] == pytest.approx(0.2)
    assert summary.loc[("grad_cam", 7), ("insertion", "n")] == 3                     # native map size -> 7
    assert summary.attrs["ci"].startswith("mean [95% Student-t")


def test_compare_table_1_layout_and_numbers():
    table = tables.layout(rows(), 1)
    assert ("I-GOS", "paper") in table.index and ("I-GOS", "ours") in table.index
    assert table.loc[("I-GOS", "paper"), (224, "deletion")] == "0.0336"
    mean, lo, hi, _ = tables.interval([0.1, 0.2, 0.3], bounds=(0, 1))
    assert table.loc[("I-GOS", "ours"), (224, "deletion")] == f"{mean:.4f} [{lo:.4f}, {hi:.4f}]"
    assert table.loc[("Grad-CAM", "ours"), (7, "insertion")].startswith("0.5000 [")  # a column the paper lacks
    assert table.loc[("Grad-CAM", "ours"), (14, "deletion")] == "–"
    assert table.loc[("Mask", "paper"), (28, "deletion")] == "0.1056" and ("Mask", "ours") not in table.index
    numeric = tables.layout(rows(), 1, formatted=False)
    assert numeric.loc[("I-GOS", "ours"), (28, "deletion", "mean")] == pytest.approx(0.25)
    assert numeric.loc[("I-GOS", "ours"), (28, "deletion", "n")] == 3
    assert numeric.loc[("I-GOS", "paper"), (28, "deletion", "mean")] == 0.0899
    assert "<table" in table.to_html() and "paper" in table.attrs["title"]


def test_compare_tables_3_5_6():
    t3 = tables.layout(rows(), 3)
    assert t3.loc[("I-GOS", "ours"), 224].startswith("2.00 [") and t3.loc[("Grad-CAM", "paper"), 7] == "< 1"
    five = [dict(r, method="i_gos@A") for r in rows() if r["resolution"] == 28]
    five += [dict(r, method="mask@A", method_name="mask", loss=0.4) for r in rows() if r["resolution"] == 28]
    t5 = tables.layout(five, 5, formatted=False)
    assert t5.loc[("total loss", "ours"), ("A", "I-GOS", "mean")] == pytest.approx(0.25)
    assert t5.loc[("deletion", "ours"), ("A", "Mask", "mean")] == pytest.approx(0.25)
    assert t5.loc[("total loss", "paper"), ("A", "I-GOS", "mean")] == 0.2241
    t6 = tables.layout(rows(), 6, formatted=False)
    # Hits per class: label 1 -> 1/2, label 2 -> 1/1; the mean over classes is 75 %.
    assert t6.loc[("I-GOS 28x28", "ours"), ("embedded (not comparable to the paper)", "mean")] == pytest.approx(75.0)
    assert t6.loc[("I-GOS 28x28", "paper"), ("VOC07", "mean")] == 83.61


def test_results_frame_from_a_file(tmp_path):
    path = tmp_path / "r.jsonl"
    with ex.RowWriter(path) as writer:
        for row in rows():
            writer.write(row)
    frame = tables.results_frame(path)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 9 and set(frame["res"]) == {224, 28, 7}
    with pytest.raises(ValueError, match="no results"):
        tables.results_frame([])


# ----------------------------------------------------------------------------- paired statistics
def test_sign_and_wilcoxon_against_scipy():
    import scipy.stats as scipy_stats
    rng = np.random.default_rng(0)
    for n, shift in ((7, 0.0), (12, 0.5), (25, -0.3), (80, 0.2)):
        d = rng.normal(shift, 1.0, n)
        d[3] = 0.0                                            # a zero is dropped by both
        ref = scipy_stats.wilcoxon(d, zero_method="wilcox", method="exact" if n <= 60 else "approx",
                                   correction=False).pvalue
        assert tables.wilcoxon_signed_rank(d) == pytest.approx(ref, rel=1e-6, abs=1e-12), n
    d = np.array([1.0, 1.0, -2.0, 3.0, 3.0, -3.0, 4.0, 5.0, -0.1, 0.1])   # tied |d|: average ranks (scipy's
    # exact test does not handle ties, so the reference is the enumeration of all sign patterns)
    assert tables.wilcoxon_signed_rank(d) == pytest.approx(_wilcoxon_brute(d), rel=1e-12)
    for wins, losses in ((9, 1), (5, 5), (0, 6), (12, 30)):
        assert tables.sign_test(wins, losses) == pytest.approx(
            scipy_stats.binomtest(wins, wins + losses).pvalue, rel=1e-9)


def _wilcoxon_brute(d):
    """Exact two-sided p of the signed-rank test by enumerating all 2^n sign patterns."""
    import itertools

    d = d[d != 0]
    ranks = pd.Series(np.abs(d)).rank().to_numpy()
    t = ranks[d > 0].sum()
    mean = ranks.sum() / 2
    sums = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product((0, 1), repeat=len(d))]
    return float(np.mean([abs(v - mean) >= abs(t - mean) - 1e-9 for v in sums]))


def test_paired_matches_images_and_counts_wins():
    rows = [{"method": m, "image_index": i, "resolution": 28, "map_size": [28, 28], "deletion": v}
            for i in range(6) for m, v in (("a", 0.1 * i), ("b", 0.1 * i + (0.05 if i != 2 else -0.01)))]
    rows.append({"method": "b", "image_index": 9, "resolution": 28, "map_size": [28, 28], "deletion": 0.0})   # unpaired
    out = tables.paired(rows, "a", "b", "deletion", res=28, n_boot=2000)
    assert out["n"] == 6 and out["a_lower"] == 5 and out["b_lower"] == 1 and out["ties"] == 0
    assert out["mean_diff"] == pytest.approx((-0.05 * 5 + 0.01) / 6)
    assert out["lo"] <= out["mean_diff"] <= out["hi"] < 0
    assert out["p_sign"] == pytest.approx(tables.sign_test(5, 1))
    with pytest.raises(ValueError, match="no rows of method 'c'"):
        tables.paired(rows, "a", "c")
