"""Assemble a book source tree from chapters executed beforehand, so the build only renders them.

Usage: ``python book/_tools/assemble_book.py EXECUTED SRC [--widgets]``

Two callers:

* ``make book`` executes every chapter with papermill into ``_build/full/executed``, several
  at a time (the Makefile's ``JOBS``), then assembles ``_build/full/src`` with ``--widgets``:
  papermill saves the explorer's widget state, so no chapter executes in the build.
* ``make test`` runs every chapter once, under nbval (``tests/notebooks``); with
  ``IGOS_EXECUTED=EXECUTED`` set, ``tests/conftest.py`` writes each chapter that passed into
  ``EXECUTED`` with this run's outputs. nbval keeps cell outputs only, so the explorer (listed
  in :data:`EXECUTE`) is executed by the build.

The script copies the book's sources (``_config.yml``, ``_toc.yml``, ``book/``, and ``igos/``
whose files some chapters include) into ``SRC`` and gives every chapter found in ``EXECUTED``
that run's outputs (its code cells must be those that ran; its markdown is the chapter's own),
marked ``execution_mode: off`` so that Jupyter Book renders it as it is. A chapter missing there
or whose code changed since is marked ``force`` and executed by the build, and the script says
so. Runs of another version of ``igos`` (``EXECUTED/igos.hash``) are not reused.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
EXECUTE = {"90_explorer.ipynb"}        # widget state: nbval's runs do not keep it (papermill's do)


def main(executed: str, src: str, widgets: bool = False) -> int:
    executed, src = Path(executed), Path(src)
    execute = set() if widgets else EXECUTE
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(ROOT / "book", src / "book", ignore=skip)
    shutil.copytree(ROOT / "igos", src / "igos", ignore=skip)      # chapters include method sources (literalinclude)
    rerun = []
    from igos.book.ledger import package_hash

    stamp = executed / "igos.hash"
    fresh = stamp.is_file() and stamp.read_text().strip() == package_hash()
    if not fresh:
        print(f"{executed}: no runs of the current igos; every chapter executes in the build")
    for chapter in sorted((src / "book").glob("*.ipynb")):
        ready = executed / chapter.name
        nb, mode = nbformat.read(chapter, 4), "force"
        if fresh and ready.exists() and chapter.name not in execute:
            ran_nb = nbformat.read(ready, 4)
            done = [c for c in ran_nb.cells if c.cell_type == "code"]
            code = [c for c in nb.cells if c.cell_type == "code"]
            if [c.source for c in done] == [c.source for c in code]:     # the markdown may have been edited since
                for cell, ran in zip(code, done):
                    cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
                if "widgets" in ran_nb.metadata:
                    nb.metadata["widgets"] = ran_nb.metadata["widgets"]
                mode = "off"
        if mode == "force":
            rerun.append(chapter.name)
        nb.metadata.setdefault("mystnb", {})["execution_mode"] = mode
        nbformat.write(nb, chapter)
    print(f"book sources in {src}: {len(list((src / 'book').glob('*.ipynb'))) - len(rerun)} chapters as executed "
          f"in {executed}; executed by the build: {', '.join(rerun) or 'none'}")
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--widgets"]
    if len(args) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(*args, widgets="--widgets" in sys.argv[1:]))
