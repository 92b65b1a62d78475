# The two commands of the README: `make demo` (the pipeline on bundled synthetic data) and `make test`.
# Each creates .venv (Python 3.11) when it is missing and installs the project into it.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_CONFIG := config.yaml

.PHONY: demo test venv clean-demo

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt 2>&1 | sed "/is ignored: it is neither/d"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | sed "/is ignored: it is neither/d"
	$(PY) -c "import torch, torchvision, cv2, efficientnet_pytorch, timm, ffmpeg, imageio_ffmpeg"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) tools/demo.py --config $(DEMO_CONFIG)

clean-demo:
	rm -rf data/synthetic_dfdc artifacts models submission.csv
