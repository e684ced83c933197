# `make book` and `make test` set everything up themselves (a .venv next to this file).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.igos-installed
# torch / torchvision are pinned here (CI, local); pyproject.toml leaves them free for Colab.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
CHAPTERS := $(sort $(wildcard book/[0-9]*.ipynb))
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

.PHONY: help setup test test-notebooks test-unit test-browser book book-fast golden clean bench
help:
	@echo "make book   - set up .venv and build the HTML book into _build/html (full-size chapters)"
	@echo "make test   - set up .venv and run the whole test suite (unit tests, chapters in fast mode, the book in a browser)"
	@echo "make golden - re-execute the chapters in fast mode into tests/notebooks/ (after editing a chapter)"
	@echo "make bench  - run the benchmarks in benchmarks/"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q $(TORCH_PINS) -e ".[book,test]"
	@touch $(STAMP)

setup: $(STAMP)

# Unit tests + every chapter in fast mode (nbval re-executes tests/notebooks and compares),
# then the fast-mode book loaded page by page in headless Chromium.
test: test-notebooks test-browser

# nbval runs every chapter once; the outputs it receives are kept in $(EXECUTED) (tests/conftest.py)
# so that the fast book below is built from them instead of running every chapter a second time.
# No MPLBACKEND here: the chapters' kernels draw their figures inline, as in the book.
EXECUTED := _build/fast/executed
test-notebooks: $(STAMP)
	rm -rf $(EXECUTED)
	IGOS_EXECUTED=$(CURDIR)/$(EXECUTED) IGOS_FAST=1 $(PY) -m pytest -q -p no:cacheprovider $(NBVAL) tests --ignore=tests/browser

# The fast-mode HTML book loaded page by page in headless Chromium (needs Debian's
# chromium and chromium-driver: apt-get install chromium chromium-driver). The book is assembled
# from the chapters executed by test-notebooks (tests/tools/fast_book.py); a chapter missing there
# (or one with widgets) is executed by the build itself.
FAST_SRC := _build/fast/src
test-browser: $(STAMP)
	IGOS_FAST=1 $(PY) -m igos paper --fast
	$(PY) tests/tools/fast_book.py $(EXECUTED) $(FAST_SRC)
	IGOS_FAST=1 $(VENV)/bin/jupyter-book build $(FAST_SRC) -W --keep-going
	IGOS_BOOK_HTML=$(FAST_SRC)/_build/html $(PY) -m pytest -q -p no:cacheprovider tests/browser

# The book with every chapter executed in fast mode (the browser test loads the same pages,
# assembled from test-notebooks' runs).
book-fast: $(STAMP)
	rm -rf _build/fast/_build
	IGOS_FAST=1 $(PY) -m igos paper --fast
	IGOS_FAST=1 $(VENV)/bin/jupyter-book build . -W --keep-going --path-output _build/fast

test-unit: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider tests --ignore=tests/notebooks

# The execution cache keys on notebook code only: wipe it whenever igos/ changed.
book: $(STAMP)
	@h=$$(cat igos/*.py igos/*/*.py | sha1sum | cut -c1-16); \
	 if [ "$$(cat _build/.igos-hash 2>/dev/null)" != "$$h" ]; then rm -rf _build/.jupyter_cache; fi; \
	 mkdir -p _build; echo $$h > _build/.igos-hash
	$(PY) -m igos paper        # the long shared experiment first, resumable, with its progress bar here
	$(VENV)/bin/jupyter-book build . -W --keep-going
	@echo "Open _build/html/index.html"

golden: $(STAMP)
	@for nb in $(CHAPTERS); do \
	  echo "papermill $$nb (fast mode)"; \
	  IGOS_FAST=1 MPLBACKEND=Agg $(VENV)/bin/papermill $$nb tests/notebooks/$$(basename $$nb) \
	    --cwd book -k python3 --no-progress-bar --log-level WARNING || exit 1; \
	  $(PY) tests/tools/strip_golden.py tests/notebooks/$$(basename $$nb) || exit 1; \
	done

bench: $(STAMP)
	$(PY) benchmarks/methods.py

clean:
	rm -rf _build out
