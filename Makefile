# Toy Robot — the two commands a user needs:
#   make run    run the whole notebook series on the data in data/ (the built-in default set is generated if empty)
#   make test   run every test (unit tests + the notebook regression pass)
# Both create .venv and install the pinned packages on first use; afterwards the install step is a no-op.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERAS_CACHE := $(or $(KERAS_HOME),$(HOME)/.keras)/models
SHARED_WEIGHTS := ../shared/weights
# Keras 2 (tf-keras) only for benchmarks/input_pipeline.py, which times the write-up's ImageDataGenerator against our
# tf.data pipeline. Installed --no-deps: its metadata asks for the `tensorflow` wheel, and we already have the same
# version as `tensorflow-cpu` (pulling both would install TensorFlow twice into one folder).
TF_KERAS := tf-keras==2.21.0

.PHONY: setup browser weights data run test unit regression-refresh clean-venv

setup: $(STAMP) weights

# Debian's chromium for the JupyterLab browser test (Playwright drives it; no browser download from the internet).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The browser test needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps $(TF_KERAS)
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

run: data
	$(PY) -m toyrobot_utils run-series

unit: setup
	$(PY) -m pytest

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg --nbval-cell-timeout 1800

# The unit tests include the JupyterLab browser test (tests/browser, about 1.5 min): `browser` installs Chromium
# and TOYROBOT_REQUIRE_BROWSER=1 makes a missing browser a failure here, not a skip.
test: setup browser
	TOYROBOT_REQUIRE_BROWSER=1 $(PY) -m pytest
	$(PY) tests/notebook_regression.py prepare
	$(PY) -m pytest $(NBVAL) tests/notebooks

# After editing a notebook: re-create the stored copies the regression pass compares against.
regression-refresh: setup
	$(PY) tests/notebook_regression.py refresh

clean-venv:
	rm -rf $(VENV)
