# Sourced by every batch script of slurm/ (sbatch runs them in the repository: submit.sh passes --chdir).
set -euo pipefail
PYTHON=${DFDC_PYTHON:-.venv/bin/python}
if [ ! -x "$PYTHON" ]; then
    echo "error: $PYTHON not found in $(pwd): run 'make venv' there (on the shared file system) or set DFDC_PYTHON" >&2
    exit 2
fi
# PyTorch's threads: the CPUs this job was given, not every core of a node it may share with other jobs.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
job=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-}}${SLURM_ARRAY_TASK_ID:+_$SLURM_ARRAY_TASK_ID}
echo "$(date '+%F %T') ${SLURM_JOB_NAME:-} job $job" \
     "on $(hostname) with ${SLURM_CPUS_PER_TASK:-?} CPUs${SLURM_GPUS_ON_NODE:+ and $SLURM_GPUS_ON_NODE GPUs}: $*"
