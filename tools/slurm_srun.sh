#!/usr/bin/env bash
# One srun of a golu_mm tool on a Slurm cluster (tools/slurm_train.sh and slurm_test.sh call it):
#   GPUS=16 tools/slurm_srun.sh PARTITION JOB_NAME TOOL.py [tool options]
# GPUS tasks in all (default 8), GPUS_PER_NODE per node (default 8, or GPUS when fewer), each with
# CPUS_PER_TASK CPUs (default 5). One GPU per task is asked for (--gres=gpu:GPUS_PER_NODE) only
# where the partition has GPUs (sinfo's GRES column); GRES=... asks for exactly that, GRES= for
# none. SRUN_ARGS adds srun options. mmengine's slurm launcher reads the SLURM_* variables.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
TOOL=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
if [ -z "${GRES+set}" ]; then
    GRES=
    if sinfo -h -p "$PARTITION" -o %G 2>/dev/null | grep -q 'gpu'; then
        GRES=gpu:$GPUS_PER_NODE
    fi
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec srun -p "$PARTITION" --job-name="$JOB_NAME" \
    ${GRES:+--gres="$GRES"} --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$TOOL" "$@" --launcher=slurm
