"""Keep only what nbval compares in golden notebooks.

Usage: python tests/tools/strip_golden.py tests/notebooks/*.ipynb

Cells tagged ``nbval-check-output`` (or holding ``# NBVAL_CHECK_OUTPUT``) keep their
outputs and execution counts: nbval never compares a cell whose execution count is
null. Every other cell loses its outputs, and run metadata (timestamps, durations)
is dropped so that regenerating a golden gives a small diff.
"""
from __future__ import annotations

import sys

import nbformat


def is_checked(cell) -> bool:
    return "nbval-check-output" in cell.get("metadata", {}).get("tags", []) or "NBVAL_CHECK_OUTPUT" in cell.source


def strip(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if not is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
        else:  # images are never compared by nbval; keep text only
            for out in cell.outputs:
                if "data" in out:
                    out["data"] = {k: v for k, v in out["data"].items() if k.startswith("text/")}
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, path)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        strip(p)
        print("stripped", p)
