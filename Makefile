# One entry point for newcomers and CI. Every target creates .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: serve demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

serve: $(VENV)/.installed  ## the reference server on an SQLite file, http://localhost:8000
	$(VENV)/bin/revocable serve --store sqlite:///revocable.db

demo: $(VENV)/.installed  ## create, list, validate and revoke sessions in an SQLite file
	$(PY) examples/quickstart.py

test: $(VENV)/.installed  ## the whole test suite (Redis and PostgreSQL on loopback)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed  ## the style and typing gates CI enforces
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: $(VENV)/.installed  ## per-operation costs and ratios to the driver's own floor
	$(PY) benchmarks/bench_sessions.py
	$(PY) benchmarks/bench_web.py
	$(PY) benchmarks/bench_tokens.py
	$(PY) benchmarks/bench_peers.py
	@if command -v valgrind >/dev/null; then $(PY) benchmarks/bench_instructions.py; \
	else echo "bench_instructions.py not run: it needs valgrind (apt-get install -y valgrind)"; fi

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache quickstart.db* revocable.db*
