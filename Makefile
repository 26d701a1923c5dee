# Two commands get a researcher going: `make demo` and `make test`. Each creates .venv if it is
# missing and installs what it needs: the package and its dev extra, at the exact versions of
# constraints.txt (pyproject.toml states the supported ranges; `pip install .` uses those).
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: demo test test-fast lint bench docs clean

$(PY):
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m groklab.demo $(ARGS)

# The whole suite; test-fast skips the tests marked slow (those that train or compile several
# programs): a check in about a minute while editing.
test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -m "not slow"

# The benchmark suite (~13 min on 2 cores): writes benchmarks/results.json and the generated
# tables of BENCHMARKS.md. ARGS=--quick for a smoke test.
bench: $(STAMP)
	$(PY) benchmarks/bench.py $(ARGS)

# The API reference (pdoc): HTML in docs/reference/ (git-ignored); open docs/reference/index.html.
DOC_MODULES := groklab groklab.api groklab.config groklab.errors groklab.tasks groklab.models \
	groklab.stats groklab.analysis

docs: $(STAMP)
	rm -rf docs/reference
	$(PY) -m pdoc --docformat markdown -o docs/reference $(DOC_MODULES)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

clean:
	rm -rf .venv runs .pytest_cache .ruff_cache
