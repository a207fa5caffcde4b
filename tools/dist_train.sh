#!/usr/bin/env bash
# Distributed training on one or more machines with torchrun:
#   tools/dist_train.sh CONFIG GPUS [train.py options]
# Multi-machine: NNODES, NODE_RANK, MASTER_ADDR and PORT as in mmdet's dist_train.sh.
# Without GPUs it runs GPUS CPU processes over gloo.
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$GPUS" --master_port="${PORT:-29500}" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
