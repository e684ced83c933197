"""Sphinx extension of the book: every page lists each script once.

In our Jupyter Book 1 build (Sphinx 7.4) the inline configuration blocks of sphinx-thebe
(``const THEBE_JS_URL = ...``) and sphinx-togglebutton reached every page twice, so every
page declared the constant twice and Chromium stopped at "Identifier 'THEBE_JS_URL' has already
been declared" (found by ``tests/browser``); the copies differ only in their empty file name
(``None`` once, ``""`` the other time). This keeps the first copy of every (file, attributes)
pair, an empty file name being an inline script.
"""
from __future__ import annotations


def _key(script) -> tuple:
    attributes = getattr(script, "attributes", None) or {}
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def dedupe(app, pagename, templatename, context, doctree) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
