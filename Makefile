# The two commands a new user needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test test-reliability test-reliability-nightly lint fmt bench bench-litellm bench-transports bench-adapters profile bench-db demo migrate lock clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	$(BIN)/saasllm serve

migrate: setup
	$(BIN)/saasllm migrate

test: setup
	$(BIN)/python -m pytest

# Real processes under load and faults (docs/reliability.md): two instances, one Postgres of
# its own (stopped mid-load), the fake provider server; about 10 minutes on 2 cores.
test-reliability: setup
	RELIABILITY=1 $(BIN)/python -m pytest tests/reliability -s -q

# The nightly-style run: a 5-minute soak and ten times the fuzzing examples.
test-reliability-nightly: setup
	RELIABILITY=1 RELIABILITY_SOAK_S=300 RELIABILITY_FUZZ_EXAMPLES=200 $(BIN)/python -m pytest tests/reliability -s -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The hot path side by side with the upstream called directly (docs/performance.md, "Method");
# BENCH_LITELLM=1 adds the LiteLLM proxy (installed once into .data/litellm-venv). < 10 min.
bench: setup
	$(BIN)/python -m benchmarks

bench-litellm: setup
	BENCH_LITELLM=1 $(BIN)/python -m benchmarks

# ASGI server (uvicorn vs granian) and httpx transport, by measurement (docs/adr/0005).
bench-transports: setup
	$(BIN)/python -m benchmarks.transports

bench-adapters: setup
	$(BIN)/python -m benchmarks.adapters

# py-spy (into .data/bench-tools, not a project dependency) on the gateway at concurrency 32.
profile: setup
	$(BIN)/python -m benchmarks.profile

bench-db: setup
	$(BIN)/python -m benchmarks.db

# The client flow against a running `make run` (BASE_URL, else HOST/PORT as make run uses
# them), with the built-in fake provider; rerunnable: it reuses its organization, team and alias.
demo: setup
	$(BIN)/saasllm demo

# Re-resolve the locked dependency set (needs the package registry).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^saasllm' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
