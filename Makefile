# Two entry points: `make test` and `make dashboard`. Both set everything up themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch. On these machines pip takes it from a local wheel; elsewhere use
#   make test TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
PORT ?= 8866

.PHONY: venv test test-fast test-browser test-binder dashboard bench chromium clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first, CPU-only, so that nothing later pulls a CUDA build
	$(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Debian's Chromium for the browser tests (Playwright's own browser download does not work here)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test: venv chromium
	$(PY) -m pytest tests -p no:cacheprovider

test-fast: venv
	$(PY) -m pytest tests --ignore=tests/browser --ignore=tests/binder -p no:cacheprovider

test-browser: venv chromium
	$(PY) -m pytest tests/browser -p no:cacheprovider

test-binder: venv
	$(PY) -m pytest tests/binder -p no:cacheprovider

dashboard: venv
	$(VENV)/bin/voila notebooks/dashboard.ipynb --no-browser --port=$(PORT) --Voila.ip=127.0.0.1

bench: venv
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
