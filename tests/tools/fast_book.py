"""Assemble the fast-mode book from the chapters that the notebook tests already executed.

Usage: ``python tests/tools/fast_book.py EXECUTED SRC``

``make test`` runs every chapter once, under nbval (``tests/notebooks``); with
``IGOS_EXECUTED=EXECUTED`` set, ``tests/conftest.py`` writes each chapter that passed into
``EXECUTED`` with this run's outputs. This script copies the book's sources (``_config.yml``,
``_toc.yml``, ``book/``, and ``igos/`` whose files some chapters include) into ``SRC`` and gives
every chapter found in ``EXECUTED`` that run's outputs (its code cells must be those that ran;
its markdown is the chapter's own), marked
``execution_mode: off`` so that Jupyter Book renders it as it is. A chapter missing there or whose
code changed since (or one that needs state only a live kernel gives, such as the explorer's
widgets, listed in :data:`EXECUTE`) is marked ``force`` and executed by the build, and the script
says so. Runs of another version of ``igos`` (``EXECUTED/igos.hash``) are not reused.
``jupyter-book build SRC`` then builds the same pages as ``make book-fast``
without running every chapter a second time.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
EXECUTE = {"90_explorer.ipynb"}        # widget state is saved by Jupyter Book's own execution only


def main(executed: str, src: str) -> int:
    executed, src = Path(executed), Path(src)
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(ROOT / "book", src / "book", ignore=skip)
    shutil.copytree(ROOT / "igos", src / "igos", ignore=skip)      # chapters include method sources (literalinclude)
    rerun = []
    from igos.ledger import package_hash

    stamp = executed / "igos.hash"
    fresh = stamp.is_file() and stamp.read_text().strip() == package_hash()
    if not fresh:
        print(f"{executed}: no runs of the current igos (run make test-notebooks); every chapter executes in the build")
    for chapter in sorted((src / "book").glob("*.ipynb")):
        ready = executed / chapter.name
        nb, mode = nbformat.read(chapter, 4), "force"
        if fresh and ready.exists() and chapter.name not in EXECUTE:
            done = [c for c in nbformat.read(ready, 4).cells if c.cell_type == "code"]
            code = [c for c in nb.cells if c.cell_type == "code"]
            if [c.source for c in done] == [c.source for c in code]:     # the markdown may have been edited since
                for cell, ran in zip(code, done):
                    cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
                mode = "off"
        if mode == "force":
            rerun.append(chapter.name)
        nb.metadata.setdefault("mystnb", {})["execution_mode"] = mode
        nbformat.write(nb, chapter)
    print(f"fast book sources in {src}: {len(list((src / 'book').glob('*.ipynb'))) - len(rerun)} chapters as executed "
          f"by the notebook tests; executed by the build: {', '.join(rerun) or 'none'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
