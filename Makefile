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

.PHONY: help setup test test-fast test-notebooks test-unit test-browser book chapters book-fast golden clean bench
help:
	@echo "make book   - set up .venv and build the HTML book into _build/html (full-size chapters)"
	@echo "make test   - set up .venv and run the whole test suite (unit tests, chapters in fast mode, the book in a browser)"
	@echo "make test-fast - the unit tests on tiny models only (no pretrained model, peers, subprocesses, notebooks): the edit-run loop"
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
	IGOS_EXECUTED=$(CURDIR)/$(EXECUTED) IGOS_FAST=1 $(PY) -m pytest -q -p no:cacheprovider $(NBVAL) tests igos --ignore=tests/browser

# The fast-mode HTML book loaded page by page in headless Chromium (needs Debian's
# chromium and chromium-driver: apt-get install chromium chromium-driver). The book is assembled
# from the chapters executed by test-notebooks (book/_tools/assemble_book.py); a chapter missing there
# (or one with widgets) is executed by the build itself.
FAST_SRC := _build/fast/src
test-browser: $(STAMP)
	IGOS_FAST=1 $(PY) -m igos paper --fast
	$(PY) book/_tools/assemble_book.py $(EXECUTED) $(FAST_SRC)
	IGOS_FAST=1 $(VENV)/bin/jupyter-book build $(FAST_SRC) -W --keep-going
	IGOS_BOOK_HTML=$(FAST_SRC)/_build/html $(PY) -m pytest -q -p no:cacheprovider tests/browser

# The book with every chapter executed in fast mode (the browser test loads the same pages,
# assembled from test-notebooks' runs).
book-fast: $(STAMP)
	rm -rf _build/fast/_build
	IGOS_FAST=1 $(PY) -m igos paper --fast
	IGOS_FAST=1 $(VENV)/bin/jupyter-book build . -W --keep-going --path-output _build/fast

# The edit-run loop: tests marked slow (tests/conftest.py) are left out.
test-fast: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests igos --ignore=tests/notebooks --ignore=tests/browser

test-unit: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider tests igos --ignore=tests/notebooks

# The full book, in three steps:
# 1. the shared experiment of the reproduction chapters (`python -m igos paper`: one worker process
#    per core on a CPU, resumable, its progress bar here);
# 2. every chapter executed with papermill into $(FULL_EXEC), JOBS at a time, each with
#    cores / JOBS threads (a small CNN keeps one core busy better than it spreads over two). A
#    chapter reruns only when it or igos/ changed; the claims ledger runs after all the others;
# 3. Jupyter Book renders the executed chapters (book/_tools/assemble_book.py), into _build/html.
CORES := $(shell nproc 2>/dev/null || echo 1)
JOBS ?= $(CORES)
THREADS := $(shell n=$$(( $(CORES) / $(JOBS) )); [ $$n -ge 1 ] && echo $$n || echo 1)
FULL_EXEC := _build/full/executed
FULL_SRC := _build/full/src
IGOS_PY := $(wildcard igos/*.py igos/*/*.py)
# the longest chapters start first (1-thread minutes measured: 46 ~5, 13 ~4, 31 ~4, 11 ~4, 90, 40, 32 ~2-3),
# so that the JOBS processes finish together
LONG_FIRST := 46 13 31 11 90 40 32 47 10 00
ORDERED := $(foreach n,$(LONG_FIRST),$(filter book/$(n)_%,$(CHAPTERS))) \
           $(filter-out $(foreach n,$(LONG_FIRST),book/$(n)_%),$(CHAPTERS))
FULL_NBS := $(patsubst book/%.ipynb,$(FULL_EXEC)/%.ipynb,$(ORDERED))
LEDGER_NB := $(FULL_EXEC)/95_claims_ledger.ipynb

book: $(STAMP)
	$(PY) -m igos paper
	$(MAKE) --no-print-directory -j$(JOBS) chapters
	$(PY) -c "from igos.book.ledger import package_hash; print(package_hash())" > $(FULL_EXEC)/igos.hash
	$(PY) book/_tools/assemble_book.py $(FULL_EXEC) $(FULL_SRC) --widgets
	$(VENV)/bin/jupyter-book build $(FULL_SRC) -W --keep-going --path-output .
	@echo "Open _build/html/index.html"

chapters: $(FULL_NBS)

$(FULL_EXEC)/%.ipynb: book/%.ipynb $(IGOS_PY) | $(STAMP)
	@mkdir -p $(FULL_EXEC)
	@echo "executing $< ($(THREADS) thread(s))"; t0=$$(date +%s); \
	 OMP_NUM_THREADS=$(THREADS) $(VENV)/bin/papermill $< $@.part.ipynb --cwd book -k python3 \
	   --no-progress-bar --log-level WARNING 2>&1 | grep -v "Kernel is running over TCP" ; \
	 status=$${PIPESTATUS[0]}; [ $$status -eq 0 ] || { echo "FAILED: $< (its run: $@.part.ipynb)"; exit $$status; }; \
	 mv $@.part.ipynb $@; echo "executed $< in $$(( $$(date +%s) - t0 )) s"

# the ledger reads the verdicts every other chapter records
$(LEDGER_NB): $(filter-out $(LEDGER_NB),$(FULL_NBS))

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
