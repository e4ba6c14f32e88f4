# Toy Robot — the two commands a user needs:
#   make run    run the whole notebook series on the data in data/ (the built-in default set is generated if empty)
#   make test   run every test (unit tests + the notebook regression pass)
# Both create .venv and install the pinned packages (constraints.txt) on first use; afterwards that step is a no-op.
# Also: make run QUICK=1 (the quick tour), make lab (JupyterLab on the series), make setup GPU=1 (TensorFlow's CUDA
# build), make constraints.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU build of TensorFlow by default; `make setup GPU=1` (or any target with GPU=1) installs TensorFlow's CUDA
# build instead (Linux with an NVIDIA driver; the series then uses every visible GPU).
FLAVOUR := $(if $(GPU),gpu,cpu)
STAMP  := $(VENV)/.installed-$(FLAVOUR)
KERAS_CACHE := $(or $(KERAS_HOME),$(HOME)/.keras)/models
SHARED_WEIGHTS := ../shared/weights

.PHONY: setup browser weights data run test lint unit lab constraints regression-refresh clean-venv

setup: $(STAMP) weights

# Debian's chromium for the JupyterLab browser test (Playwright drives it; no browser download from the internet).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The browser test needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# Every package at the version constraints.txt pins (the tested environment). tf-keras (the `benchmarks` extra, for
# benchmarks/input_pipeline.py) goes in --no-deps: its metadata asks for the `tensorflow` wheel, and we already have
# the same version as `tensorflow-cpu` (pulling both would install TensorFlow twice into one folder).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(GPU),$(PY) -m pip uninstall --quiet --yes tensorflow-cpu,$(PY) -m pip uninstall --quiet --yes tensorflow)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(FLAVOUR),dev]"
	$(PY) -m pip install --quiet --no-deps -c constraints.txt tf-keras
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Offline machines: seed Keras' cache with the ImageNet weights from ../shared so that the standard
# keras.applications.MobileNetV2(weights="imagenet") call finds them. Elsewhere Keras downloads them itself.
weights:
	@if [ -d $(SHARED_WEIGHTS) ]; then \
	  mkdir -p "$(KERAS_CACHE)" && \
	  for f in $(SHARED_WEIGHTS)/*.h5; do [ -f "$(KERAS_CACHE)/$$(basename $$f)" ] || cp "$$f" "$(KERAS_CACHE)/"; done; \
	fi

data: setup
	$(PY) -m toyrobot_utils make-data --if-empty

# QUICK=1: the quick tour, every notebook on a small configuration into build/quick/ (committed notebooks untouched).
# PRECISION=auto|float32|mixed_bfloat16|mixed_float16: what the networks train in (default auto: bfloat16 only where
# a once-per-machine probe finds it clearly faster); passed to every notebook's setup() through TOYROBOT_PRECISION.
run: $(if $(QUICK),setup,data)
	$(if $(PRECISION),TOYROBOT_PRECISION=$(PRECISION) )$(PY) -m toyrobot_utils run-series $(if $(QUICK),--quick)

unit: setup
	$(PY) -m pytest

# Ruff on the whole tree, notebooks included (settings in pyproject.toml): line limit, import order, pyflakes, and
# no import of a library's private modules.
lint: setup
	$(VENV)/bin/ruff check .

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg --nbval-cell-timeout 1800

# The unit tests include the JupyterLab browser test (tests/browser, about 1.5 min): `browser` installs Chromium
# and TOYROBOT_REQUIRE_BROWSER=1 makes a missing browser a failure here, not a skip.
test: setup browser lint
	TOYROBOT_REQUIRE_BROWSER=1 $(PY) -m pytest
	$(PY) tests/notebook_regression.py prepare
	TOYROBOT_PRECISION=float32 $(PY) -m pytest $(NBVAL) tests/notebooks

# JupyterLab on the series, with the project's environment as the notebooks' kernel (Python 3 (ipykernel)). As root
# (a container, often) JupyterLab refuses to start without --allow-root: passed then, and only then.
lab: setup
	@echo "Starting JupyterLab on notebooks/: open the http://localhost:8888/lab?token=... address it prints below."
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# After changing a pin in pyproject.toml: a fresh environment from pyproject.toml alone (every extra but gpu), frozen
# into constraints.txt. Then run `make test` and commit both files.
constraints:
	rm -rf build/constraints-venv
	$(PYTHON) -m venv build/constraints-venv
	build/constraints-venv/bin/pip install --quiet -e ".[cpu,dev,robot]"
	build/constraints-venv/bin/pip install --quiet --no-deps "$$(grep -o 'tf-keras==[0-9.]*' pyproject.toml)"
	{ grep '^#' constraints.txt; build/constraints-venv/bin/pip freeze --exclude-editable | sort -f; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf build/constraints-venv

# After editing a notebook: re-create the stored copies the regression pass compares against.
regression-refresh: setup
	$(PY) tests/notebook_regression.py refresh

clean-venv:
	rm -rf $(VENV)
