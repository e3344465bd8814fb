# The README's two commands: `make app` (the Streamlit workbench on the shipped samples) and
# `make test` (the whole suite). Both create .venv and install what they need on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= localhost
PORT   ?= 8501
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
# numba's and torch's OpenMP runtimes must not spin while the other works (see workbench/__init__.py)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: app test install install-dev system-deps samples figures bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	@touch $@

install: system-deps $(VENV)/.installed
install-dev: export WITH_BROWSER=1
install-dev: system-deps $(VENV)/.installed-dev

system-deps:
	@bash scripts/ensure-system-deps.sh

app: install
	$(VENV)/bin/streamlit run app/main.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: install-dev
	$(PY) -m pytest

samples: install
	$(VENV)/bin/workbench data make-samples --out data_samples --force

figures: install-dev
	$(VENV)/bin/workbench figures --out figures

clean:
	rm -rf $(VENV) .pytest_cache
