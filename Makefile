# Two entry points for a newcomer: `make run` (demo app) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= data/retention.duckdb
DEMO := data/demo

CONFIG ?= deploy/deploy.toml

.PHONY: run serve test test-fast typecheck setup demo build clean

$(BIN)/retention: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# the PDF briefs need the system's Pango (WeasyPrint); the app runs without it and says so at a PDF button
	@$(BIN)/python -c "import weasyprint" 2>/dev/null || echo "note: PDF briefs need Pango: sudo apt-get install \
		libpango-1.0-0 libpangoft2-1.0-0 (and poppler-utils for their tests)"
	touch $@

setup: $(BIN)/retention

$(DEMO)/accounts.csv: | setup
	$(BIN)/retention demo --out $(DEMO)

$(DB): $(DEMO)/accounts.csv
	$(BIN)/retention build --accounts $(DEMO)/accounts.csv --interactions $(DEMO)/interactions.csv \
		--mrr-history $(DEMO)/mrr_history.csv --db $(DB)

demo: $(DB)

# One BLAS thread: the app's refits are small matrix products, and on a 2-core machine OpenBLAS's extra
# threads compete with Streamlit's own (a filtered drivers refit at 100,000 accounts: ~1.6 s -> ~1.1 s).
run: $(DB)
	OPENBLAS_NUM_THREADS=1 RETENTION_DB=$(DB) $(BIN)/streamlit run streamlit_app.py --server.address localhost --server.port 8501 \
		--server.headless true --browser.gatherUsageStats false

# The shared mode: sign-in, roles, scopes and an audit log, as configured in $(CONFIG) (docs/shared-mode.md).
serve: setup
	$(BIN)/retention serve --config $(CONFIG)

# the type check runs first: a type error fails `make test` (and CI) before the suite starts. Everything but the
# browser tier runs on two processes (pytest-xdist; worksteal, as a few statistical tests take minutes each and
# would otherwise leave one process idle at the end); the browser tier then runs on its own, a test file to each of
# two processes (loadfile: a file's tests share its server and browser). Its tests mostly wait on a server and a
# browser, so two files at once keep the cores busier than one; beside the rest of the suite they would compete with
# its statistical tests for the cores. Each run fails on its own failures, and on collecting no test (pytest exits 5).
test: setup typecheck
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not browser"
	$(BIN)/python -m pytest -n 2 --dist loadfile -m browser

# mypy, configured in pyproject.toml ([tool.mypy]: the files it checks, the untyped libraries it skips)
typecheck: setup
	$(BIN)/python -m mypy

# everything but the browser, Spark, benchmark and slow statistical tiers: quick feedback while working, on two
# processes (pytest-xdist)
test-fast: setup
	$(BIN)/python -m pytest -n 2 -m "not browser and not spark and not bench and not slow"

clean:
	rm -rf $(VENV) $(DEMO) $(DB)
