#!/usr/bin/env bash
# Evaluation on a Slurm cluster, as mmdet's slurm_test.sh (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, GRES,
# SRUN_ARGS: tools/slurm_srun.sh):
#   GPUS=8 tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec bash "$ROOT/tools/slurm_srun.sh" "$1" "$2" "$ROOT/tools/test.py" "$3" "$4" "${@:5}"
