"""Assemble the fast-mode book from the chapters that the notebook tests already executed.

Usage: ``python tests/tools/fast_book.py EXECUTED SRC``

``make test`` runs every chapter once, under nbval (``tests/notebooks``); with
``IGOS_EXECUTED=EXECUTED`` set, ``tests/conftest.py`` writes each chapter that passed into
``EXECUTED`` with this run's outputs. This script copies the book's sources (``_config.yml``,
``_toc.yml``, ``book/``) into ``SRC`` and replaces every chapter found in ``EXECUTED`` by its
executed copy, marked ``execution_mode: off`` so that Jupyter Book renders it as it is. A chapter
missing there (it failed, or it needs state that only a live kernel gives, such as the
explorer's widgets, listed in :data:`EXECUTE`) is marked ``force`` and executed by the build, and
the script says so. ``jupyter-book build SRC`` then builds the same pages as ``make book-fast``
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
    shutil.copytree(ROOT / "book", src / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    rerun = []
    for chapter in sorted((src / "book").glob("*.ipynb")):
        ready = executed / chapter.name
        if ready.exists() and chapter.name not in EXECUTE:
            nb = nbformat.read(ready, 4)
            source = nbformat.read(chapter, 4)
            if [c.source for c in nb.cells] != [c.source for c in source.cells]:
                raise SystemExit(f"{ready} is not the executed {chapter.name}: its cells differ; rerun make test")
            mode = "off"
        else:
            nb, mode = nbformat.read(chapter, 4), "force"
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
