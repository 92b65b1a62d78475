# The two commands of the README: `make demo` (the pipeline on bundled synthetic data) and `make test`.
# Each creates .venv (Python 3.11) when it is missing and installs the project into it.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_CONFIG := config.yaml

.PHONY: demo adapt-demo test venv chromium slurm clean-demo
# Debian's Chromium for the report's browser test and the demo's screenshot (Playwright drives it; no download of
# a browser of its own). Root installs directly, others through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt 2>&1 | sed "/is ignored: it is neither/d"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | sed "/is ignored: it is neither/d"
	$(PY) -c "import torch, torchvision, cv2, efficientnet_pytorch, timm, ffmpeg, imageio_ffmpeg, openvino, fastapi, uvicorn, python_multipart"
	touch $(STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Debian's SLURM and MUNGE for the scheduler tests, which start a one-node cluster of their own (nothing is
# enabled or started here; the packages' services stay off where there is no init system).
slurm:
	@[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/sbin/munged ] || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }

# Two pytest workers, each taking whole test files (module fixtures are built once): 13 minutes instead of 17 on
# 2 cores of an AVX-512 EPYC; 31 minutes on an AVX2-only one with the SLURM tests (--durations lists the slowest).
# `.venv/bin/python -m pytest tests/test_x.py` runs one file in one process.
test: $(STAMP) chromium slurm
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

demo: $(STAMP)
	@$(MAKE) --no-print-directory chromium || echo "note: Chromium could not be installed; the demo skips the report screenshot"
	$(PY) tools/demo.py --config $(DEMO_CONFIG)

# After `make demo`: fine-tune its weights on a second synthetic set with another face-swap artefact, calibrate.
adapt-demo: $(STAMP)
	$(PY) tools/adapt_demo.py --config $(DEMO_CONFIG)

clean-demo:
	rm -rf data/synthetic_dfdc artifacts models submission.csv
