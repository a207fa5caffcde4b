#!/usr/bin/env bash
# Training on a Slurm cluster, as mmdet's slurm_train.sh (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, GRES,
# SRUN_ARGS: tools/slurm_srun.sh):
#   GPUS=16 tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec bash "$ROOT/tools/slurm_srun.sh" "$1" "$2" "$ROOT/tools/train.py" "$3" --work-dir="$4" "${@:5}"
