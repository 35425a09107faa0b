# Two entry points: `make test` and `make dashboard`. Both set everything up themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch. On these machines pip takes it from a local wheel; elsewhere use
#   make test TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
PORT ?= 8866

.PHONY: venv venv-dashboard test test-fast test-browser test-binder dashboard bench chromium clean docs

# torch first, CPU-only, so that nothing later pulls a CUDA build
$(VENV)/.torch:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install $(TORCH_SPEC)
	touch $@

# the dashboard: the core plus the widgets and Voila (extra "dashboard")
$(VENV)/.dashboard: $(VENV)/.torch pyproject.toml
	$(PY) -m pip install -e '.[dashboard]'
	touch $@

# the tests: everything above plus the test tools and the peers used as references (extra "test")
$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PY) -m pip install -e '.[test]'
	touch $@

venv: $(VENV)/.installed

venv-dashboard: $(VENV)/.dashboard

# Debian's Chromium for the browser tests (Playwright's own browser download does not work here)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test: venv chromium
	$(PY) -m pytest tests -p no:cacheprovider

test-fast: venv
	$(PY) -m pytest tests -m "not slow" -p no:cacheprovider

test-browser: venv chromium
	$(PY) -m pytest tests/browser -p no:cacheprovider

test-binder: venv
	$(PY) -m pytest tests/binder -p no:cacheprovider

# make dashboard DATA=/path/to/folder: the dashboard on your data (default: the bundled data).
# DATA reaches the kernel as RDMW_DATA_ROOT. Kernels of closed pages are culled after
# CULL_IDLE_TIMEOUT s idle (checked every CULL_INTERVAL s); notebooks/voila.json raises Voila's
# websocket message limit to 200 MiB so that uploads up to the 100 MB shown in the UI arrive.
DATA ?= $(RDMW_DATA_ROOT)
CULL_IDLE_TIMEOUT ?= 300
CULL_INTERVAL ?= 30
VOILA_ARGS ?=
dashboard: venv-dashboard
	RDMW_DATA_ROOT="$(if $(strip $(DATA)),$(abspath $(DATA)),)" $(VENV)/bin/voila notebooks/dashboard.ipynb \
	  --no-browser --port=$(PORT) --Voila.ip=127.0.0.1 \
	  --Voila.config_file_paths="['$(CURDIR)/notebooks']" \
	  --MappingKernelManager.cull_idle_timeout=$(CULL_IDLE_TIMEOUT) \
	  --MappingKernelManager.cull_interval=$(CULL_INTERVAL) $(VOILA_ARGS)

bench: venv
	$(PY) benchmarks/run_all.py

# the documentation site (docs/_build/html): the test environment (the notebooks use the widgets
# and the peers) plus the docs extra; warnings are errors, nitpicky for this package's objects.
# The executed notebooks and guide pages are cached in docs/_build/.jupyter_cache.
$(VENV)/.docs: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -e '.[docs]'
	touch $@

docs: $(VENV)/.docs
	$(VENV)/bin/sphinx-build -W --keep-going -n -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build dist *.egg-info
