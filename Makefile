# Set-up on a fresh machine, then the two jobs: `make demo` (the doorbell on real footage) and `make test`.
PY ?= python3
# Built models live with the checkout (set EDGEKIT_MODELS to share a zoo between checkouts).
export EDGEKIT_MODELS ?= $(CURDIR)/.cache/models
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup sysdeps models bench peer engines arm64-check ha-check screenshots

demo: models
	$(BIN)/edgekit demo

test: models
	EDGEKIT_REQUIRE_ZOO=1 $(BIN)/pytest

# Lint and format as pyproject's [tool.ruff] says (CI runs it before the tests).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

sysdeps:
	bash scripts/sysdeps.sh

setup: sysdeps $(VENV)/.installed

# tensorflowjs and tfjs-graph-converter go in without their dependencies: their pins fight TensorFlow 2.21, and the
# few modules they import but never use are stood in for (converters/tfjs_compat.py).
$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[convert,dev,broker,fleet,ui]'
	$(BIN)/pip install -q --no-deps tensorflowjs==4.22.0 tfjs-graph-converter==1.6.3
	touch $@

models: setup
	$(BIN)/edgekit models build

bench: models
	$(BIN)/edgekit bench model
	$(BIN)/edgekit bench pipeline

# PyTorch and ONNX sources: onnx2tf (tensorflow 2.19, ~2.6 GB) and torch-cpu (~1 GB) in virtualenvs of their own
# (converters/engine_env.py), kept out of `make test`'s time; their tests skip until this has run.
engines: setup
	$(BIN)/python -m converters.engine_env onnx2tf torch

peer: setup
	$(BIN)/pip install -q -e '.[peer]'
	$(BIN)/pip install -q --no-deps face_recognition==1.3.0

# The device side on emulated arm64 (Debian 12 userland from .debs, aarch64 wheels, qemu-aarch64-static as a Pi 5):
# every zoo model loads, same faces and embeddings as x86. About 2 min from scratch, under a minute with .cache/arm64.
arm64-check: models
	$(BIN)/python scripts/arm64/check.py

# A real Home Assistant core (2025.4.4: Python 3.13, in a venv of its own under .cache) with its MQTT integration
# reading the doorbell and the shelf through mosquitto (tests/test_home_assistant.py, which skips until this has run).
# Building the venv takes a few minutes once (about 600 MB: Home Assistant, the frontend it insists on, the
# requirements of its default integrations); the check itself about 30 s.
HA_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python) python3.13)
HA_VENV := .cache/ha-venv

$(HA_VENV)/.installed: scripts/ha/requirements.py
	$(HA_PYTHON) -m venv $(HA_VENV)
	$(HA_VENV)/bin/pip install -q homeassistant==2025.4.4
	$(HA_VENV)/bin/python scripts/ha/requirements.py > $(HA_VENV)/requirements.txt
	$(HA_VENV)/bin/pip install -q -r $(HA_VENV)/requirements.txt \
	  -c "$$($(HA_VENV)/bin/python -c 'import homeassistant, os; print(os.path.dirname(homeassistant.__file__))')/package_constraints.txt"
	touch $@

ha-check: models $(HA_VENV)/.installed
	EDGEKIT_REQUIRE_ZOO=1 $(BIN)/pytest -q tests/test_home_assistant.py

# The device and fleet pages' pictures in docs/screenshots/, taken by their browser tests against running agents.
screenshots: models
	EDGEKIT_SCREENSHOTS=1 $(BIN)/pytest -q tests/test_ui_device.py tests/test_ui_auth.py tests/test_ui_shelf.py tests/test_ui_visitors.py \
		tests/test_fleet_ui.py
