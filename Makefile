# sk_hier: one entry point for set-up, tests, benchmarks and docs.
# `make test` and `make bench` work on a fresh machine: they create .venv and
# install everything they need (Debian packages too) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.sk_hier-installed
# The CPU build of torch; an unpinned torch pulls a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
# The benchmark's timbre sources (sk_hier/datasets/soundfonts.py names each one and its
# package); TimGM6mb itself ships in the pretty_midi wheel.
DEBIAN_PKGS ?= fluid-soundfont-gm fluidr3mono-gm-soundfont musescore-general-soundfont-lossless \
	csound-soundfont opl3-soundfont freepats timidity
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Tests run on every core (pytest-xdist); override with PYTEST_ARGS= for one process.
PYTEST_ARGS ?= -n auto

.PHONY: setup debian test test-all bench bench-full speed pretrained docs lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

debian:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# Installed without their declared dependencies: tinysoundfont asks for pyaudio
	# (live playback only; it does not build here), musicnn pins an ancient numpy
	# and we only read its checkpoint files.
	$(BIN)/python -m pip install --quiet --no-deps tinysoundfont "musicnn==0.1.0"
	touch $(STAMP)

setup: debian $(STAMP)

test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/sk-hier bench --quick

bench-full: setup
	$(BIN)/sk-hier bench --full

speed: setup
	$(BIN)/python benchmarks/speed.py

# Rebuild the shipped pretrained tagger from scratch (render, embed, fit) and print
# its model card's figures; renders and embeddings are cached under build/pretrained.
pretrained: setup
	$(BIN)/python scripts/build_pretrained.py $(PRETRAINED_ARGS)

DOCS_STAMP := $(VENV)/.sk_hier-docs-installed
$(DOCS_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# Offline build (no intersphinx), warnings are errors; runs every gallery example.
docs: setup $(DOCS_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache docs/_build
