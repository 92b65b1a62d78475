#!/bin/bash
# Submit the whole pipeline to SLURM as one chain of dependent jobs (see dfdc/slurm.py and docs/pipeline.md):
#     slurm/submit.sh --config config.yaml --parts 32 [--gpus-per-task 1] [--partition P] [--from STAGE] [--dry-run]
# Run it on a login node, from a clone on the shared file system whose .venv exists (`make venv`).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${DFDC_PYTHON:-$repo/.venv/bin/python}
if [ ! -x "$python" ]; then
    echo "error: $python not found: run 'make venv' in $repo first (or set DFDC_PYTHON)" >&2
    exit 2
fi
export DFDC_PYTHON=$python   # the jobs run the same Python
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m dfdc.slurm "$@"
