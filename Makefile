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

.PHONY: setup weights data run test unit regression-refresh clean-venv

setup: $(STAMP) weights

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
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

test: setup
	$(PY) -m pytest
	$(PY) tests/notebook_regression.py prepare
	$(PY) -m pytest $(NBVAL) tests/notebooks

# After editing a notebook: re-create the stored copies the regression pass compares against.
regression-refresh: setup
	$(PY) tests/notebook_regression.py refresh

clean-venv:
	rm -rf $(VENV)
