"""Sphinx extension of the book: the claims ledger is read (and so executed) after every chapter.

The ledger page (``book/95_claims_ledger``) shows verdicts that the chapters record as they
execute, and the landing page pastes the ledger's counts (myst-nb's cross-document ``glue``).
Sphinx reads only the documents that changed, in sorted order. So whenever any chapter is read
again, this extension marks the ledger and the landing page as changed too, and moves the ledger
to the end of the reading order. The ledger notebook sets ``execution_mode: force`` in its
metadata, so it always re-executes instead of replaying a cached copy.
"""
from __future__ import annotations

LEDGER = "book/95_claims_ledger"
LANDING = "book/00_overview"


def outdated(app, env, added, changed, removed):
    return [LEDGER, LANDING] if (added or changed or removed) else []


def ledger_last(app, env, docnames):
    if LEDGER in docnames:
        docnames.remove(LEDGER)
        docnames.append(LEDGER)


def setup(app):
    app.connect("env-get-outdated", outdated)
    app.connect("env-before-read-docs", ledger_last)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
