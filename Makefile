# Two commands for a newcomer: `make run` starts the service, `make test` runs the tests.
# Each installs what it needs into ./.venv first (again only when pyproject.toml or edge/pyproject.toml changes),
# and the dashboard's onnxruntime-web from npm (again only when its package-lock.json changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint format install browser clean
# onnxruntime-web for the dashboard's "Test in the browser" panel: npm ci at the pinned version, two files copied.
ORT := api/dashboard/static/vendor/ort/VERSION

# The edge runtime (edge/, its own distribution wake-training-edge) goes in too: its tests run in the same suite.
$(VENV)/.installed: pyproject.toml edge/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[worker,dev,bench]' -e ./edge
	touch $@

$(ORT): api/dashboard/vendor/package-lock.json api/dashboard/vendor/install.sh
	bash api/dashboard/vendor/install.sh

install: $(VENV)/.installed $(ORT)

# Debian's Chromium for the dashboard's browser tests (apt-get; nothing happens when it is already there).
browser:
	bash .ci/install-browser

run: install
	$(BIN)/wake-training serve

test: install browser
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info edge/*.egg-info api/dashboard/vendor/node_modules \
		api/dashboard/static/vendor
