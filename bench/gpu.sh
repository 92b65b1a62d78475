#!/usr/bin/env bash
# GPU prediction benchmark (see bench/gpu.py). On a CUDA machine: `bash bench/gpu.sh`; CPU check: `--device cpu --tiny`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec "$PYTHON" bench/gpu.py "$@"
