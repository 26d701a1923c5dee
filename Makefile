# Two commands get a researcher going: `make demo` and `make test`. Each creates .venv if it is
# missing and installs what it needs: the package and its dev extra, at the exact versions of
# constraints.txt (pyproject.toml states the supported ranges; `pip install .` uses those).
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: demo test test-fast test-interop lint bench bench-seeds docs clean

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
	$(PY) -m pytest -m "not interop"

test-fast: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -m "not slow and not interop"

# The export checked against the real TransformerLens (docs/export.md): installs groklab[interop]
# (torch for the CPU, transformer-lens 3.x, safetensors) into .venv, then runs the tests marked
# interop. torch comes from PyTorch's CPU wheel index when it answers (no CUDA libraries), else
# from PyPI.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

test-interop: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,interop]" $$($(PY) -c \
		"import urllib.request as u; u.urlopen('$(TORCH_CPU_INDEX)/', timeout=10); \
		print('--extra-index-url $(TORCH_CPU_INDEX)')" 2>/dev/null)
	$(PY) -m pytest -n 0 -m interop tests/test_interop.py

# The benchmark suite (< 20 min on 2 cores): writes benchmarks/results.json and the generated
# tables of BENCHMARKS.md. ARGS=--quick for a smoke test. Its `seeds` part times the seeds' own
# implementation (../shared/reference/seed-implementation, or GROKLAB_SEEDS_IMPL=DIR; skipped
# with a message when absent) in its own environment, built once into benchmarks/.seeds-venv.
# `make bench-seeds` re-measures only the side-by-side figures, including the runs to 99 % val
# (`seeds99`, ~8 min, not in the default set), and merges them into results.json.
bench: $(STAMP)
	$(PY) benchmarks/bench.py $(ARGS)

bench-seeds: $(STAMP)
	$(PY) benchmarks/bench.py --parts seeds,seeds99 $(ARGS)

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
