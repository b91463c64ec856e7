# Crossfold: `make run` sets everything up and opens the app on the demo workspace;
# `make test` sets everything up and runs the tests. `make setup` is idempotent and fast when done.
SHELL := /bin/bash
# The newest supported Python that runs (a pyenv shim of a version not selected fails: each is tried); an existing
# venv keeps its own Python. Supported: 3.13, 3.12, 3.11 (pyproject.toml's requires-python).
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
PYTHON ?= $(shell for p in $(SUPPORTED_PYTHONS); do $$p -c 'import sys' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.crossfold-$(shell cat pyproject.toml | sha256sum | cut -c1-16)
APT_PACKAGES := libegl1 libgl1-mesa-dri libegl-mesa0 libosmesa6 xvfb xauth \
	libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
	libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0 \
	libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core
PYTEST_ARGS ?=

.PHONY: setup system-deps run test screenshots bench clean-venv

setup: system-deps $(STAMP)

# Debian packages for offscreen rendering (EGL/Mesa), Xvfb and Qt's xcb plugin, installed only where missing.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages:" $$missing; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing Debian packages (run as root: apt-get install $$missing)"; \
		fi; \
	fi

# pip's "Location ... is ignored" lines come from local mirrors in some pip configs: noise, filtered out.
$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
		if [ -z "$(PYTHON)" ]; then echo "no supported Python found: Crossfold needs Python 3.11, 3.12 or 3.13"; exit 2; fi; \
		echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) -c 'import platform; print(platform.python_version())'))"; \
		$(PYTHON) -m venv $(VENV); \
	fi
	@set -o pipefail; $(BIN)/python -m pip install -q --upgrade pip 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@echo "installing Crossfold and its dependencies into $(VENV) (torch, open_clip, PySide6, ...)"
	@set -o pipefail; $(BIN)/python -m pip install -q -e '.[test]' 2>&1 \
		| { grep -v -e 'is ignored: it is neither' -e 'BuildBackendWarning' || true; }
	@rm -f $(VENV)/.crossfold-* && touch $@

# Without a display, `crossfold --check-display` prints one line naming the headless ways and we stop there.
run: setup
	@if $(BIN)/crossfold --check-display; then \
		$(BIN)/trainer demo && $(BIN)/crossfold; \
	fi

test: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

# A PNG of each page with real data, for the README (needs the demo workspace: `trainer demo` makes it).
screenshots: setup
	$(BIN)/trainer demo
	xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python -m app.screenshots --out docs/screenshots

bench: setup
	$(BIN)/python bench/render.py

clean-venv:
	rm -rf $(VENV)
