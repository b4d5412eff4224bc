# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on first use,
# installing exactly the versions in requirements-lock.txt (every package, hashes checked).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := requirements-lock.txt
# The tool that writes the lock, pinned so that the lock's format does not move either.
UV_VERSION := 0.13.9
LOCK_VENV := .venv-lock
LATEST_VENV := .venv-latest

.PHONY: demo test lint format bench lock test-latest clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	@echo "Installing the locked test environment ($(LOCK)) into $(VENV); about 2 minutes the first time."
	$(PY) -m pip install --require-hashes --no-deps --progress-bar on -r $(LOCK)
	$(PY) -m pip install --no-deps --no-build-isolation --quiet -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m edge_emotion.run

test: $(STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-group-by=group --benchmark-json=benchmark.json

# Re-resolve the dev extra (plus constraints.txt: torch's CPU wheel, setuptools, ruff) to the
# newest versions the ranges allow, for this Python, and write them with their hashes.
lock: $(LOCK_VENV)/bin/uv
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra dev -c constraints.txt \
		--find-links /opt/wheels --python-version 3.11 --generate-hashes --upgrade \
		--custom-compile-command "make lock" -o $(LOCK)

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# The same suite against the newest releases the pyproject ranges allow (torch stays on the
# CPU wheel of constraints-latest.txt). Finds drift on purpose; not part of CI.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --upgrade --quiet pip
	$(LATEST_VENV)/bin/python -m pip install --upgrade --upgrade-strategy eager \
		-c constraints-latest.txt -e ".[dev]"
	@# An isolated editable build leaves edge_emotion.egg-info in the tree; importlib.metadata
	@# would read its entry points (torch model builders) instead of the installed ones.
	rm -rf edge_emotion.egg-info
	$(LATEST_VENV)/bin/python -m pip freeze --all --exclude-editable | grep -v '^pip==' > $(LATEST_VENV)/resolved.txt
	@echo "resolved versions: $(LATEST_VENV)/resolved.txt; differences from the lock:"
	@diff <(grep -E '^[A-Za-z0-9_.-]+==' $(LOCK) | sed 's/ .*//' | tr 'A-Z_' 'a-z-' | sort) \
		<(tr 'A-Z_' 'a-z-' < $(LATEST_VENV)/resolved.txt | sort) | grep -E '^[<>]' || echo "  none"
	$(LATEST_VENV)/bin/python -m pytest -p no:cacheprovider

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(LATEST_VENV) build *.egg-info .pytest_cache .benchmarks
