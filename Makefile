# One command sets everything up and runs the tests on a fresh machine: `make test`.
# Installs are reproducible: every dependency is installed at the version in constraints.txt (the lock
# of the versions the suite passed with); pyproject.toml keeps ranges for library users. Refresh the
# lock deliberately with `make lock`, then run `make test` and commit both.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := constraints.txt
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# pytest-xdist workers: one per core, at most 4 (each holds a torch process and its tiny encoders);
# one file per worker at a time (--dist loadfile) so module fixtures are built once, the longest files first
# (--no-loadscope-reorder keeps tests/conftest.py's LONGEST_FIRST order)
WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: install test test-fast lint ruff demo bench lock clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch (a looser pin would pull a multi-GB CUDA build)
	$(BIN)/pip install -q -c $(LOCK) torch==2.13.0
	$(BIN)/pip install -q -c $(LOCK) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest -q --durations=25 -n $(WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest -q -m "not slow" -n $(WORKERS) --dist loadfile --no-loadscope-reorder

# ruff (pyflakes, pycodestyle, complexity, argument counts) and pyright (basic); configs in pyproject.toml
lint: ruff
	$(BIN)/pyright

# ruff alone (fast; `make lint` is what CI runs)
ruff: $(STAMP)
	$(BIN)/ruff check .

demo: $(STAMP)
	$(BIN)/xta demo

# Resolve pyproject.toml's ranges afresh in a throw-away environment and write what was installed to
# constraints.txt (torch's local "+cpu" label dropped so that a CUDA build of 2.13.0 also satisfies it).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q --upgrade pip
	.venv-lock/bin/pip install -q torch==2.13.0
	.venv-lock/bin/pip install -q '.[test,ray]'
	{ echo "# The tested versions of every dependency (make lock; $$(date -u +%F), Python $$(.venv-lock/bin/python -c 'import platform; print(platform.python_version())'))."; \
	  echo "# make install/test install exactly these; pyproject.toml keeps the ranges for library users."; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v -i '^xta[ =@]' | sed 's/+cpu$$//'; } > $(LOCK)
	rm -rf .venv-lock build
	@echo "wrote $(LOCK): now run 'make clean test' and commit it if the suite passes"

clean:
	rm -rf $(VENV) build *.egg-info
