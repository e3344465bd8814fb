# The README's commands: `make app` (the Streamlit workbench on the shipped samples), `make lab`
# (JupyterLab on notebooks/, the .py files opening as notebooks) and `make test` (the whole
# suite). Each creates .venv and installs what it needs on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= localhost
PORT   ?= 8501
LAB_PORT ?= 8888
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
# numba's and torch's OpenMP runtimes must not spin while the other works (see workbench/__init__.py)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: app lab test install install-dev system-deps samples figures bench clean

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

$(VENV)/.installed-lab: $(VENV)/.installed
	$(PIP) install -q -e '.[lab]'
	@touch $@

# jupytext's contents manager serves the percent .py files as notebooks; the overrides make a
# double-click open them as notebooks (not as text). HOST=0.0.0.0 serves other machines too;
# allow_root: containers and CI run as root, where Jupyter otherwise refuses to start.
lab: install $(VENV)/.installed-lab
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp notebooks/lab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --ServerApp.ip=$(HOST) --ServerApp.port=$(LAB_PORT) --ServerApp.allow_root=True --no-browser

test: install-dev
	$(PY) -m pytest

samples: install
	$(VENV)/bin/workbench data make-samples --out data_samples --force

figures: install-dev
	$(VENV)/bin/workbench figures --out figures

clean:
	rm -rf $(VENV) .pytest_cache
