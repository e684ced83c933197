"""Results files: one JSON line per row, appended as computed, repaired, merged (see :mod:`igos.experiment`)."""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Iterable

#: Row fields that differ between two runs of the same config (timings, placement).
VOLATILE = ("seconds", "metric_seconds", "time", "rank", "world_size", "host", "device", "device_name")


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


def repair(path: Path) -> None:
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
        repair(self.path)
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


def check_hash(rows: Iterable[dict], digest: str, results: Path) -> None:
    others = sorted({r.get("config_hash") for r in rows} - {digest}, key=str)
    if others:
        raise ConfigMismatch(
            f"{results} (or its parts in {parts_dir(results)}/) holds rows of a different config "
            f"(config hash {', '.join(map(str, others))}; this config is {digest}). Nothing was written. "
            f"To start fresh, delete {results} and {parts_dir(results)}/, or rerun with --fresh "
            f"(run(..., fresh=True)); to keep both, pass another path with --results.")


def merge(results: Path, order: dict, digest: str) -> list[dict]:
    """Rank 0: merge ``results`` and its parts into ``results``: dedup, sort, atomic rename, remove the parts."""
    rows = read_results(results)
    check_hash(rows, digest, results)
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
