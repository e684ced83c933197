"""The experiment runner: rows, resuming after kill -9, refusing mixed configs, torchrun parts.

All runs use the seeded ``tiny_cnn`` on 4 embedded photos cropped to 64 x 64, with the
plain gradient (native map) and ``helpers.experiment:coarse_gradient`` at two resolutions:
12 rows per run.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import igos
from igos import experiment as ex

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONFIG = {
    "model": "tiny_cnn",
    "images": "embedded",
    "n_images": 4,
    "image_size": 64,
    "seed": 3,
    "device": "cpu",
    "target": "predicted",      # tiny_cnn has 10 classes: the photos' ImageNet labels are outside them
    "methods": ["gradient", {"name": "helpers.experiment:coarse_gradient", "label": "coarse",
                             "resolutions": [4, 8]}],
    "metrics": {"n_steps": 8, "batch_size": 16},
}
N_ROWS = 4 * 3


def write_config(folder: Path, config=None, name="exp.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(config or CONFIG))
    return path


def stable(rows):
    """Rows keyed by ``key`` without the fields that differ between equivalent runs."""
    return {r["key"]: {k: v for k, v in r.items() if k not in ex.VOLATILE} for r in rows}


def assert_same_results(rows, reference):
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "duplicate rows"
    got, want = stable(rows), stable(reference)
    assert set(got) == set(want), "missing or extra rows"
    for key in want:
        for field, value in want[key].items():
            if isinstance(value, float):
                assert got[key][field] == pytest.approx(value, rel=1e-5, abs=1e-7), (key, field)
            else:
                assert got[key][field] == value, (key, field)


def env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), e.get("PYTHONPATH", "")])
    e.update({k: str(v) for k, v in extra.items()})
    return e


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted one-process run: ``(results path, rows)``."""
    folder = tmp_path_factory.mktemp("reference")
    path = ex.run(write_config(folder), progress=False)
    return path, ex.read_rows(path)


# ----------------------------------------------------------------------------- rows
def test_rows_fields_and_order(reference):
    path, rows = reference
    assert path.name == "exp.jsonl" and len(rows) == N_ROWS
    assert [r["key"] for r in rows][:3] == ["0/gradient/native", "0/coarse/4", "0/coarse/8"]
    first = rows[0]
    for field in ("deletion", "insertion", "seconds", "metric_seconds", "device", "version", "config_hash",
                  "image", "label", "target", "map_size", "resolution", "iterations", "loss", "pointing_hit"):
        assert field in first, field
    assert first["version"] == igos.__version__ and first["device"] == "cpu"
    assert first["resolution"] is None and first["map_size"] == [64, 64] and first["iterations"] is None
    coarse = [r for r in rows if r["method"] == "coarse"]
    assert {tuple(r["map_size"]) for r in coarse} == {(4, 4), (8, 8)}
    assert all(r["iterations"] == 3 and r["loss"] == pytest.approx(1 / 3) for r in coarse)  # via callback
    assert all(0 <= r["deletion"] <= 1 and 0 <= r["insertion"] <= 1 for r in rows)
    assert all(isinstance(r["pointing_hit"], bool) for r in rows)       # the embedded photos have boxes
    # target: predicted (tiny_cnn has 10 classes), so the prediction is explained.
    assert all(r["target_source"] == "predicted" and r["target"] == r["predicted"] for r in rows)


def test_metrics_in_rows_match_a_direct_call(reference):
    _, rows = reference
    row = next(r for r in rows if r["key"] == "1/coarse/4")
    model = igos.load_model("tiny_cnn", device="cpu")
    x, *_ = ex.ImageSource("embedded", 4, None, 64).load(1)
    sys.path.insert(0, str(TESTS))
    from helpers.experiment import coarse_gradient

    sal = coarse_gradient(model, x[None], row["target"], resolution=4, seed=3)
    assert igos.deletion(model, x[None], sal, row["target"], n_steps=8).item() == pytest.approx(row["deletion"],
                                                                                            rel=1e-6)


def test_image_source_matches_load_images():
    for n, seed in ((3, None), (3, 1)):
        data = igos.load_images("embedded", size=64, resize=73, n=n, seed=seed)
        source = ex.ImageSource("embedded", n, seed, 64)
        assert len(source) == len(data)
        for i in range(len(data)):
            x, name, label, box = source.load(i)
            assert torch.equal(x, data.images[i]) and name == data.names[i] and label == int(data.labels[i])
            assert torch.allclose(box, data.boxes[i], equal_nan=True)


def test_image_source_reads_the_imagenet_samples(imagenet_samples):
    """The runner reads load_images("imagenet-samples") too (the reproduction reports its tables on them)."""
    data = igos.load_images("imagenet-samples", size=64, resize=73, n=4, seed=0)
    source = ex.ImageSource("imagenet-samples", 4, 0, 64)
    assert [source.load(i)[1] for i in range(4)] == data.names
    assert torch.equal(source.load(2)[0], data.images[2]) and source.load(2)[2] == int(data.labels[2])
    cfg = ex.normalize_config({"images": "imagenet-samples", "methods": [{"name": "grad_cam"}]})
    assert cfg["images_path"] == "imagenet-samples"


def test_a_label_outside_the_models_classes_raises(tmp_path):
    config = dict(CONFIG, n_images=1, target="label", methods=["gradient"], results=str(tmp_path / "r.jsonl"))
    with pytest.raises(ValueError, match="outside the 10 classes"):
        ex.run(config, progress=False)


def test_rerun_skips_finished_rows(reference, tmp_path):
    path, rows = reference
    copy = tmp_path / "copy.jsonl"
    shutil.copy(path, copy)
    before = copy.read_bytes()
    ex.run(write_config(tmp_path), copy, progress=False)
    assert copy.read_bytes() == before                                # nothing recomputed, nothing added


# ----------------------------------------------------------------------------- interruptions
def test_truncated_last_line_is_recomputed(reference, tmp_path):
    path, rows = reference
    copy = tmp_path / "exp.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    copy.write_bytes(b"".join(lines[:5]) + lines[5][: len(lines[5]) // 2])   # killed while writing row 6
    ex.run(write_config(tmp_path), progress=False)
    assert_same_results(ex.read_rows(copy), rows)


def test_kill_9_midway_then_resume(reference, tmp_path):
    _, rows = reference
    config = write_config(tmp_path)
    results = tmp_path / "exp.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "igos", "run", str(config), "--no-progress"], cwd=tmp_path,
                            env=env(IGOS_TEST_DELAY=0.4, OMP_NUM_THREADS=2), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and len(ex.read_rows(results)) < 3:
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(ex.read_rows(results))
    assert 3 <= done < N_ROWS, "the run was not interrupted midway"
    ex.run(config, progress=False)                                     # resume
    assert_same_results(ex.read_rows(results), rows)


def test_leftover_parts_of_an_interrupted_parallel_run_are_merged(reference, tmp_path):
    path, rows = reference
    results = tmp_path / "exp.jsonl"
    parts = ex.parts_dir(results)
    parts.mkdir()
    lines = path.read_bytes().splitlines(keepends=True)
    (parts / "rank-00000.jsonl").write_bytes(b"".join(lines[0:3] + lines[6:8]))
    (parts / "rank-00001.jsonl").write_bytes(b"".join(lines[3:5]) + lines[5][:40])   # rank 1 was killed
    results.write_bytes(b"".join(lines[0:2]))                                         # and an earlier merge
    ex.run(write_config(tmp_path), progress=False)
    assert not parts.exists()
    assert_same_results(ex.read_rows(results), rows)


@pytest.mark.slow  # two interpreters and a gloo rendezvous: about 20 s on 2 CPU cores
def test_two_worker_processes_match_one_process(reference, tmp_path):
    """``--workers 2`` starts the run under torch.distributed.run (what torchrun does by hand)."""
    _, rows = reference
    config = write_config(tmp_path)
    results = tmp_path / "two.jsonl"
    cmd = [sys.executable, "-m", "igos", "run", str(config), "--results", str(results), "--no-progress",
           "--workers", "2"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 worker processes" in out.stdout
    merged = ex.read_rows(results)
    assert not ex.parts_dir(results).exists()
    assert {r["rank"] for r in merged} == {0, 1} and {r["world_size"] for r in merged} == {2}
    assert all(r["image_index"] % 2 == r["rank"] for r in merged)       # images split by index modulo 2
    assert [r["key"] for r in merged] == [r["key"] for r in rows]       # merged in plan order
    assert_same_results(merged, rows)


def test_resolve_workers(monkeypatch):
    monkeypatch.setattr(ex.dist, "cpu_cores", lambda: 12)
    assert ex.resolve_workers("auto", "cpu") == ex.MAX_WORKERS == 8
    monkeypatch.setattr(ex.dist, "cpu_cores", lambda: 2)
    assert ex.resolve_workers("auto", "cpu") == 2
    assert ex.resolve_workers("3", "cpu") == 3 and ex.resolve_workers(1) == 1
    for bad in ("0", "-1", "two", "1.5", None):
        with pytest.raises(ValueError, match="workers"):
            ex.resolve_workers(bad, "cpu")


def test_workers_are_refused_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ex.main(["run", str(write_config(tmp_path)), "--workers", "zero"])
    assert "workers must be 'auto' or an integer" in capsys.readouterr().err


# ----------------------------------------------------------------------------- configs
def test_refuses_to_mix_configs(reference, tmp_path):
    path, rows = reference
    copy = tmp_path / "exp.jsonl"
    shutil.copy(path, copy)
    other = dict(CONFIG, metrics={"n_steps": 4})
    config = write_config(tmp_path, other)
    with pytest.raises(ex.ConfigMismatch, match="--fresh"):
        ex.run(config, progress=False)
    assert ex.read_rows(copy) == rows                                   # untouched
    with pytest.raises(SystemExit) as exit_info:
        ex.main(["run", str(config), "--no-progress"])
    assert exit_info.value.code == 2
    ex.run(config, fresh=True, progress=False)                          # starting fresh works
    assert {r["config_hash"] for r in ex.read_rows(copy)} == {ex.config_hash(ex.load_config(config))}


def test_hash_ignores_device_results_and_batch_size():
    a = ex.normalize_config(CONFIG)
    b = ex.normalize_config(dict(CONFIG, device="cuda", results="elsewhere.jsonl",
                                 metrics={"n_steps": 8, "batch_size": 2}))
    c = ex.normalize_config(dict(CONFIG, seed=4))
    assert ex.config_hash(a) == ex.config_hash(b) != ex.config_hash(c)


def test_yaml_config(tmp_path):
    import yaml
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    cfg = ex.load_config(path)
    assert cfg["results"] == str(tmp_path / "exp.jsonl")
    assert ex.config_hash(cfg) == ex.config_hash(ex.load_config(write_config(tmp_path)))


def test_bad_configs():
    with pytest.raises(ValueError, match="unknown config key"):
        ex.normalize_config(dict(CONFIG, n_image=3))
    with pytest.raises(ValueError, match="unknown metrics key"):
        ex.normalize_config(dict(CONFIG, metrics={"steps": 3}))
    with pytest.raises(ValueError, match="needs 'methods'"):
        ex.normalize_config({"model": "tiny_cnn"})
    with pytest.raises(ValueError, match="labels must be unique"):
        ex.normalize_config(dict(CONFIG, methods=["gradient", "gradient"]))
    with pytest.raises(ValueError, match="unknown method"):
        ex.plan(ex.normalize_config(dict(CONFIG, methods=["no_such_method"])), 2)
    with pytest.raises(ValueError, match="no 'resolution' argument"):
        ex.plan(ex.normalize_config(dict(CONFIG, methods=[{"name": "gradient", "resolutions": [7]}])), 2)
    with pytest.raises(ValueError, match="through the runner"):
        ex.normalize_config(dict(CONFIG, methods=[{"name": "i_gos", "options": {"resolution": 7}}]))
    with pytest.raises(ValueError, match="target"):
        ex.normalize_config(dict(CONFIG, target="truth"))
    with pytest.raises(FileNotFoundError):
        ex.load_config("/no/such/config.yaml")


def test_methods_as_mapping_and_resolutions():
    cfg = ex.normalize_config(dict(CONFIG, methods={"gradient": {"score": "prob"}, "i_gos": {"n_iter": 2}},
                                   resolutions=[14, 7]))
    tasks = ex.plan(cfg, 2)
    assert tasks[:3] == [(0, "gradient", None), (0, "i_gos", 14), (0, "i_gos", 7)] and len(tasks) == 6
    assert cfg["methods"][0]["options"] == {"score": "prob"}


def test_optimisation_rows_record_their_effect(tmp_path):
    """I-GOS and Mask rows store p(x), p(masked), F at start and end, mean(1 - M), ties, iterations, stalled."""
    config = dict(CONFIG, n_images=1, methods=[
        {"name": "i_gos", "options": {"n_iter": 2, "n_steps": 2, "lambda1": 0.1, "lambda2": 0.5}, "resolutions": [4]},
        {"name": "mask", "options": {"n_iter": 3}, "resolutions": [4]}])
    rows = ex.read_rows(ex.run(write_config(tmp_path, config), progress=False))
    assert [r["method"] for r in rows] == ["i_gos", "mask"]
    model = igos.load_model("tiny_cnn", device="cpu")
    x, *_ = ex.ImageSource("embedded", 1, None, 64).load(0)
    for row, fn, kw in zip(rows, (igos.i_gos, igos.mask), config["methods"]):
        sal, hist = fn(model, x[None], row["target"], resolution=4, seed=3, return_history=True, **kw["options"])
        assert row["p_image"] == pytest.approx(float(hist["prob"][0, 0]), rel=1e-5)
        assert row["p_masked"] == pytest.approx(float(hist["prob"][-1, 0]), rel=1e-5)
        assert row["objective_start"] == pytest.approx(float(hist["objective"][0, 0]), rel=1e-5)
        assert row["objective_end"] == pytest.approx(float(hist["objective"][-1, 0]), rel=1e-5)
        assert row["mean_saliency"] == pytest.approx(float(sal.mean()), rel=1e-5, abs=1e-7)
        assert row["tied_share"] == pytest.approx(float(igos.metrics.tied_share(sal)[0]))
        assert row["iterations"] == int(hist["iterations"][0]) and row["stalled"] == bool(
            igos.metrics.stalled(row["p_image"], row["p_masked"]))
    from igos import tables

    effect = tables.effect(rows)
    assert list(effect.index) == [("i_gos", 4), ("mask", 4)] and (effect["n"] == 1).all()
    assert effect.loc[("mask", 4), "drop"] == pytest.approx(rows[1]["p_image"] - rows[1]["p_masked"])
    assert ((effect["flag"] != "") == effect["stalled"].astype(bool)).all()
    p_mask = rows[1]["p_image"]                       # min_p keeps the rows whose p(x) reaches it, no others
    assert list(tables.effect(rows, ["mask"], min_p=p_mask).index) == [("mask", 4)]
    with pytest.raises(ValueError, match="p\\(x\\) >="):
        tables.effect(rows, ["mask"], min_p=p_mask + 1e-6)


def test_a_method_on_the_first_images_only(tmp_path):
    """``n_images`` on a method (an int, or per resolution) plans it on the run's first images only."""
    config = dict(CONFIG, methods=["gradient", {"name": "helpers.experiment:coarse_gradient", "label": "coarse",
                                                "resolutions": [4, 8], "n_images": {8: 2}},
                                   {"name": "gradient", "label": "subset", "n_images": 1}])
    cfg = ex.normalize_config(config)
    tasks = ex.plan(cfg, 4)
    assert [t for t in tasks if t[1] == "subset"] == [(0, "subset", None)]
    assert sorted(t[0] for t in tasks if t[1:] == ("coarse", 8)) == [0, 1]
    assert sorted(t[0] for t in tasks if t[1:] == ("coarse", 4)) == [0, 1, 2, 3]
    rows = ex.read_rows(ex.run(write_config(tmp_path, config), progress=False))
    assert {r["key"] for r in rows} == {ex.row_key(*t) for t in tasks}
    assert ex.config_hash(ex.normalize_config(CONFIG)) != ex.config_hash(cfg)
    for bad in (0, -1, {8: 0}, {"x": 1}, True):
        with pytest.raises(ValueError, match="n_images"):
            ex.normalize_config(dict(CONFIG, methods=[{"name": "gradient", "n_images": bad}]))


def test_pointing_run_without_curves(tmp_path):
    """``deletion_insertion: false`` skips both curves but keeps p(x), the map size and the pointing hit."""
    config = dict(CONFIG, n_images=2, methods=["gradient"],
                  metrics={"n_steps": 8, "deletion_insertion": False, "pointing_game": True})
    rows = ex.read_rows(ex.run(write_config(tmp_path, config), progress=False))
    with_curves = ex.read_rows(ex.run(write_config(tmp_path, dict(config, metrics={"n_steps": 8}), name="b.json"),
                                      progress=False))
    for a, b in zip(rows, with_curves):
        assert a["deletion"] is None and a["insertion"] is None and b["deletion"] is not None
        assert a["p_image"] == pytest.approx(b["p_image"], rel=1e-5)
        assert a["pointing_hit"] == b["pointing_hit"] and a["pointing_hit"] is not None


def test_config_command_writes_a_runnable_paper_config(tmp_path):
    out = tmp_path / "paper.yaml"
    assert ex.main(["config", "paper", "--model", "tiny_cnn", "--images", "embedded", "--n-images", "3",
                    "--scale", "fast", "--results", str(tmp_path / "r.jsonl"), "-o", str(out)]) == 0
    cfg = ex.load_config(out)
    assert cfg["model"] == "tiny_cnn" and cfg["n_images"] == 3 and cfg["results"] == str(tmp_path / "r.jsonl")
    assert {"i_gos", "mask", "rise", "excitation_backprop"} <= {m["label"] for m in cfg["methods"]}
    folder = tmp_path / "val"
    folder.mkdir()
    assert ex.main(["config", "paper", "--images", str(folder), "-o", str(tmp_path / "v.yaml")]) == 0
    v = ex.load_config(tmp_path / "v.yaml")
    assert v["image_seed"] == 0 and v["metrics"]["n_steps"] == 200      # a seeded sample; the authors' ~200 steps


def test_config_command_writes_a_pointing_config_for_a_local_dataset(tmp_path):
    out = tmp_path / "voc.yaml"
    assert ex.main(["config", "pointing", "--images", "voc07:data/voc", "--scale", "paper", "-o", str(out)]) == 0
    cfg = ex.load_config(out)
    assert cfg["images"] == "voc07:data/voc" and cfg["n_images"] is None and cfg["image_seed"] == 0
    assert cfg["images_path"] == f"voc07:{(tmp_path / 'data' / 'voc').resolve()}"    # relative to the config file
    assert cfg["metrics"]["pointing_game"] and not cfg["metrics"]["deletion_insertion"]
    assert ex.main(["config", "pointing", "-o", str(tmp_path / "e.yaml")]) == 0
    assert ex.load_config(tmp_path / "e.yaml")["images"] == "embedded"              # the default for pointing


def test_the_command_line_lists_its_commands(capsys):
    """``igos --help`` (the console script, also ``python -m igos``) names run, paper, config and table."""
    with pytest.raises(SystemExit) as exit_:
        ex.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("run", "paper", "config", "table"))


def test_a_row_metric_is_one_registry_entry(tmp_path, monkeypatch):
    """The runner fills a row with every entry of ROW_METRICS its config switches on (here in place of the
    pointing game): a new metric needs no edit of the runner's loop."""
    peak = lambda model, image, saliency, target, m, seed, box: {"peak": float(saliency.abs().max())}  # noqa: E731
    monkeypatch.setitem(ex.ROW_METRICS, "pointing_game", (True, peak))
    rows = ex.read_rows(ex.run(write_config(tmp_path, dict(CONFIG, n_images=1, methods=["gradient"])), progress=False))
    assert rows and all(r["peak"] > 0 and r["pointing_hit"] is None for r in rows)
    assert all(r["deletion"] is not None for r in rows)          # the other entries still run
