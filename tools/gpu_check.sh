#!/usr/bin/env bash
# On a GPU machine with torch preinstalled (no OpenMMLab, no package index): build golu_mm._C
# in place against that torch, run the operator tests on CUDA, then the CUDA benchmarks (operator,
# and torchvision models with GoLU swapped in: tools/benchmark_model.py --torchvision).
# Prints the device, the test summary and the benchmark tables. Target: under 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'
start=$(date +%s)
TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')} \
    FORCE_CUDA=1 MAX_JOBS=${MAX_JOBS:-8} "$PY" setup.py -q build_ext --inplace
echo "build: $(( $(date +%s) - start )) s"
"$PY" -c 'import golu_mm; print("backends", golu_mm.backends(), "cpu loops", golu_mm.ops.cpu_isa())'
"$PY" -m pytest tests/ops -q -x -p no:cacheprovider -k "cuda or extension" 2>&1 | tail -25
"$PY" tools/benchmark_activation.py --devices cuda --sizes 1M 16M 64M --dtypes float32 bfloat16 \
    --json "${OUT:-/tmp}/benchmark_cuda.json"
# Model level, the paper's setup (torchvision models, backbone ReLUs swapped): needs torchvision.
"$PY" tools/benchmark_model.py --torchvision resnet50 fasterrcnn maskrcnn deeplabv3 --steps 10 \
    || echo "model benchmark skipped or failed (torchvision missing?)"
echo "total: $(( $(date +%s) - start )) s"
