"""Guards for the notebook tests.

``make test`` runs ``pytest --nbval-lax`` on the golden notebooks in tests/notebooks/
(papermill outputs of the chapters in fast mode): nbval re-executes each golden, fails on
any error, and compares the outputs of the cells tagged ``nbval-check-output``. These
tests make sure that this checks what it claims to check.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "notebooks"


def toc_chapters() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    files.insert(0, toc["root"])
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def code_cells(nb):
    return [c.source for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def checked(cell) -> bool:
    return "nbval-check-output" in cell.metadata.get("tags", []) or "NBVAL_CHECK_OUTPUT" in cell.source


CHAPTERS = sorted((ROOT / "book").glob("[0-9]*.ipynb"))


def test_every_chapter_is_in_the_toc():
    assert CHAPTERS, "no chapters found"
    assert set(CHAPTERS) == set(toc_chapters())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_exists_and_matches_chapter(chapter):
    golden = GOLDEN / chapter.name
    assert golden.exists(), f"{golden} missing: run `make golden`"
    book_nb, gold_nb = nbformat.read(chapter, 4), nbformat.read(golden, 4)
    assert code_cells(book_nb) == code_cells(gold_nb), (
        f"{golden.name} is stale: its code differs from {chapter}; regenerate it with `make golden`")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_check_cells_are_compared(chapter):
    """nbval silently skips a cell whose execution count is null or that has no outputs."""
    gold = nbformat.read(GOLDEN / chapter.name, 4)
    cells = [c for c in gold.cells if c.cell_type == "code" and checked(c)]
    assert cells, f"{chapter.name} has no check cells (tag: nbval-check-output)"
    for c in cells:
        assert c.execution_count is not None and c.outputs, f"check cell without stored output in {chapter.name}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_committed_without_outputs(chapter):
    nb = nbformat.read(chapter, 4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert any("parameters" in t for t in tags), f"{chapter.name} has no cell tagged 'parameters'"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs and not checked(c)]
    assert not dirty, f"{chapter.name}: cells {dirty} carry outputs; strip them"


def test_chapters_named_in_the_package_exist():
    """Docstrings that send the reader to a chapter name one that exists."""
    import re

    named = {m for p in (ROOT / "igos").rglob("*.py") for m in re.findall(r"book/\d\d_[a-z0-9_]+\.ipynb", p.read_text())}
    assert named, "no chapter references found: the pattern is wrong"
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"docstrings name chapters that do not exist: {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_check_cells_assert_in_fast_mode(chapter):
    """A check cell asserts its claim in CI's fast mode too: no ``assert FAST or ...``, no assert under ``if not FAST``."""
    import re

    nb = nbformat.read(chapter, 4)
    bad = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and checked(c)
           and (re.search(r"assert\s+\(?\s*FAST\s+or\b", c.source) or re.search(r"if\s+not\s+FAST\s*:\s*\n?\s*assert", c.source))]
    assert not bad, f"{chapter.name}: check cells {bad} assert nothing in fast mode"
    # a check cell asserts its claim and prints the verdicts; a table of sample numbers (which move in the
    # last digits with the CPU's summation order) goes in an ordinary cell beside it
    silent = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and checked(c) and "assert" not in c.source]
    assert not silent, f"{chapter.name}: check cells {silent} assert nothing"


#: Marks of unwritten text: a to-do word, or a line that is one capitalised token (``SUMMARY-41``, ``FIG7_DISCUSSION``).
PLACEHOLDER = (r"\b(TODO|FIXME|TBD|XXX)\b|^\s*(?:[A-Z]+-[0-9]+|[A-Z0-9]+_[A-Z0-9_]+|[A-Z]+[0-9]+|SUMMARY|DISCUSSION)\s*$")


@pytest.mark.parametrize("chapter", CHAPTERS + sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.name)
def test_no_placeholder_text(chapter):
    """No chapter ships a placeholder line or a TODO (markdown and code cells alike)."""
    import re

    cells = nbformat.read(chapter, 4).cells if chapter.suffix == ".ipynb" else [nbformat.v4.new_markdown_cell(chapter.read_text())]
    found = [(i, line.strip()) for i, c in enumerate(cells) for line in c.source.splitlines()
             if re.search(PLACEHOLDER, line, flags=re.M)]
    assert not found, f"{chapter.name}: placeholder text in cells {found}"


def test_placeholder_rule_catches_the_marks():
    import re

    for line in ("DISCUSSION-41", "SUMMARY-46", "FIG1215_DISCUSSION", "SUMMARY", "  # TODO: write", "FIG89"):
        assert re.search(PLACEHOLDER, line), line
    for line in ("The AUC falls.", "I-GOS", "RISE", "## Summary", "Table 1", "`N_IMAGES`"):
        assert not re.search(PLACEHOLDER, line), line
