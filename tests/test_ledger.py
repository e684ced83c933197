"""The claims ledger: records, the statistics behind verdicts, and verdicts that follow the numbers."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import igos
from igos.book import ledger
from igos.experiment import presets

from helpers.experiment import synthetic_rows


def test_record_keeps_other_claims_and_rejects_bad_input(tmp_path):
    path = tmp_path / "claims.json"
    assert ledger.record("quadratic-scaling", True, "deviation 1e-9", fast=True, path=path) == "holds"
    assert ledger.record("figure-2", False, "F = 0.3", fast=True, path=path) == "does not hold"
    assert ledger.record("adversarial-insertion", None, "3/3 photos", fast=True, path=path) == "not decided"
    data = json.loads(path.read_text())
    assert {k: v["verdict"] for k, v in data.items()} == {
        "quadratic-scaling": "holds", "figure-2": "does not hold", "adversarial-insertion": "not decided"}
    ledger.record("figure-2", True, "F = 0.1", fast=True, path=path)           # a rerun replaces its own record
    assert ledger.read_records(path)["figure-2"]["statistic"] == "F = 0.1"
    assert ledger.read_records(path)["quadratic-scaling"]["verdict"] == "holds"
    with pytest.raises(KeyError, match="unknown claim"):
        ledger.record("no-such-claim", True, "x", fast=True, path=path)
    with pytest.raises(ValueError, match="statistic"):
        ledger.record("figure-2", True, "", fast=True, path=path)
    assert not list(tmp_path.glob("*.tmp"))                                     # no temporary file left behind


def _record_many(args):
    key, path, n = args
    for i in range(n):
        ledger.record(key, True, f"run {i}", fast=True, path=path)
    return key


def test_records_of_chapters_run_side_by_side_are_all_kept(tmp_path):
    """make book executes chapters in parallel processes: no record may be lost to a race."""
    import multiprocessing

    path = tmp_path / "claims.json"
    keys = ["quadratic-scaling", "figure-2", "adversarial-insertion", "revised-armijo"]
    with multiprocessing.get_context("spawn").Pool(len(keys)) as pool:
        pool.map(_record_many, [(k, path, 100) for k in keys])
    data = ledger.read_records(path)
    assert sorted(data) == sorted(keys) and all(data[k]["statistic"] == "run 99" for k in keys)


def test_every_claim_has_a_known_source_and_chapter():
    from pathlib import Path

    book = Path(__file__).resolve().parents[1] / "book"
    keys = [c.key for c in ledger.CLAIMS]
    assert len(keys) == len(set(keys))
    for c in ledger.CLAIMS:
        assert c.source in ledger.SOURCES
        text = (book / f"{c.chapter}.ipynb").read_text()
        assert f"({c.label})=" in text, f"{c.chapter} has no target {c.label}"      # the link resolves
        assert f'ledger.record(\\"{c.key}\\"' in text or f'record(\\"{c.key}\\"' in text, c.key
    for table, stem in ledger.TABLE_CHAPTERS.items():
        assert f"(claim-table-{table})=" in (book / f"{stem}.ipynb").read_text()
    covered = {c.source for c in ledger.CLAIMS}
    assert covered == set(ledger.SOURCES)                                        # each paper's main statement


def test_sign_verdict_is_the_exact_binomial_tail():
    assert ledger.sign_verdict(5, 5) == (True, 1 / 32)
    assert ledger.sign_verdict(0, 5)[0] is False
    assert ledger.sign_verdict(4, 4)[0] is None                                     # 1/16 > 0.05: four photos never decide
    holds, p = ledger.sign_verdict(8, 10)
    assert holds is None and p == pytest.approx((math.comb(10, 8) + math.comb(10, 9) + 1) / 1024)
    with pytest.raises(ValueError):
        ledger.sign_verdict(6, 5)


def test_spearman_test_matches_the_rank_correlation_and_its_direction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + 0.5 * rng.normal(size=30)
    rho, p_up, p_down = ledger.spearman_test(x, y)
    assert rho == pytest.approx(pd.Series(x).corr(pd.Series(y), method="spearman"))
    assert p_up < 0.01 < 0.99 < p_down
    rho_n, p_up_n, p_down_n = ledger.spearman_test(x, -y)
    assert rho_n == pytest.approx(-rho) and p_down_n < 0.01 < p_up_n
    assert ledger.spearman_test(x, y, seed=3) == ledger.spearman_test(x, y, seed=3)
    with pytest.raises(ValueError):
        ledger.spearman_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="constant"):
        ledger.spearman_test([1, 2, 3], [5, 5, 5])
    assert ledger.spearman_test([1, 2], [1, 2])[1] > 0.05              # two photos never decide


def test_table_verdicts_follow_the_numbers():
    """A regression in the rows (I-GOS worse than Mask on every photo) turns "holds" into "does not hold"."""
    rows = pd.DataFrame(synthetic_rows(presets.paper_config(scale="cpu"), n_images=8))
    claim = "Table 1: I-GOS has the lowest deletion at 28x28"
    better = rows.copy()
    better.loc[better["method"] == "i_gos", "deletion"] = -1.0
    good = ledger.table_claims(better).set_index("claim")
    assert good.loc[claim, "verdict"] == "holds" and "Wilcoxon" in good.loc[claim, "statistic"]
    worse = rows.copy()
    worse.loc[worse["method"] == "i_gos", "deletion"] = 2.0
    assert ledger.table_claims(worse).set_index("claim").loc[claim, "verdict"] == "does not hold"
    frame = ledger.table_claims(rows)
    assert set(frame["verdict"]) <= set(ledger.VERDICTS)
    assert frame.loc[frame["claim"].str.startswith("Table 3:"), "timing"].all()
    assert {"Table 1", "Table 3", "Table 4", "Table 5"} <= {c.split(":")[0] for c in frame["claim"]}
    t5 = frame[frame["claim"].str.startswith("Table 5:")]                     # 4 photos at CPU scale: means cannot decide
    assert (t5["verdict"] == "not decided").all() and t5["statistic"].str.contains("fewer than 5 photos").all()


def test_ledger_lists_every_claim_and_marks_missing_records(tmp_path):
    rows = synthetic_rows(presets.paper_config(scale="cpu"), n_images=4)
    path = tmp_path / "claims.json"
    ledger.record("figure-2", True, "F = 0.1", fast=True, path=path)
    book = ledger.ledger(rows, fast=True, path=path)
    by = book.set_index("claim")["verdict"]
    statements = {c.key: c.statement for c in ledger.CLAIMS}
    assert by[statements["figure-2"]] == "holds"
    assert by[statements["quadratic-scaling"]] == ledger.NOT_RUN
    assert sum(book["verdict"] == "not testable here") >= len(ledger.NOT_TESTABLE)
    counts = ledger.summary(book)
    assert counts["total"] == len(book) == sum(v for k, v in counts.items() if k != "total")
    assert list(dict.fromkeys(book["source"])) == [s for s in ledger.SOURCES if s in set(book["source"])]
    text = ledger.ledger_markdown(book)
    assert "{ref}`chapter 30 <claim-figure-2>`" in text and "| **holds** |" in text
    assert text.count("**I-GOS**") == 1


def test_claim_photos_counts_the_cells_a_claim_reads():
    """A claim on a subset column (112x112 on 4 photos at CPU scale) is judged on that column's photos."""
    rows = pd.DataFrame(synthetic_rows(presets.paper_config(scale="cpu"), n_images=6))
    t3 = igos.tables.table_rows(rows, 3)
    assert ledger.claim_photos(t3, "I-GOS is faster than Mask at 28x28") == 6
    assert ledger.claim_photos(t3, "I-GOS is faster than Mask at 112x112") == 4
    assert ledger.claim_photos(t3, "Grad-CAM takes under 1 s") == 6
    t1 = igos.tables.table_rows(rows, 1)
    t1 = t1[(t1["method"] != "excitation_backprop_mwp") | (t1["image_index"] < 2)]     # MWP on 2 photos only
    assert ledger.claim_photos(t1, "Excitation BP has the highest deletion at its resolution") == 4   # not its MWP row
    verdicts = ledger.table_claims(rows).set_index("claim")["verdict"]
    assert verdicts["Table 3: I-GOS is faster than Mask at 112x112"] == "not decided"
    assert verdicts["Table 3: I-GOS is faster than Mask at 28x28"] == "holds"


def test_a_record_of_other_code_is_not_shown_as_current(tmp_path, monkeypatch):
    rows = synthetic_rows(presets.paper_config(scale="cpu"), n_images=4)
    path = tmp_path / "claims.json"
    ledger.record("figure-2", True, "F = 0.1", fast=True, path=path)
    statement = next(c.statement for c in ledger.CLAIMS if c.key == "figure-2")
    assert ledger.ledger(rows, fast=True, path=path).set_index("claim").loc[statement, "verdict"] == "holds"
    monkeypatch.setattr(ledger, "package_hash", lambda: "changed")           # igos changed since the record
    row = ledger.ledger(rows, fast=True, path=path).set_index("claim").loc[statement]
    assert row["verdict"] == ledger.NOT_RUN and "predates" in row["statistic"]


def test_claim_photos_counts_images_of_a_pointing_dataset():
    frame = pd.DataFrame({"method": ["i_gos", "i_gos", "i_gos", "mask", "mask", "mask"], "res": [28] * 6,
                          "image_index": [0, 1, 2, 0, 1, 2], "image": ["a/cat", "a/dog", "b/cat"] * 2,
                          "object_class": ["cat", "dog", "cat"] * 2})
    assert ledger.claim_photos(frame, "I-GOS 28x28 points at least as well as Mask 28x28") == 2    # images a and b
