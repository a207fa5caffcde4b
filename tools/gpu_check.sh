#!/usr/bin/env bash
# On a GPU machine with torch preinstalled (no OpenMMLab, no package index): build golu_mm._C
# in place against that torch, run the operator tests on CUDA, then the CUDA benchmarks (operator,
# and torchvision models with GoLU swapped in: tools/benchmark_model.py --torchvision).
# Every test runs (a failure does not stop the others) and the benchmarks always run; it ends
# with a summary and exits non-zero when a test failed. Target: under 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT_DIR=${OUT:-/tmp}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
device=$("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())')
echo "$device"
start=$(date +%s)
# tools/build_plan.py (via setup.py) builds for the visible GPU's architecture
FORCE_CUDA=1 MAX_JOBS=${MAX_JOBS:-8} "$PY" setup.py -q build_ext --inplace
echo "build: $(( $(date +%s) - start )) s"
"$PY" -c 'import golu_mm; print("backends", golu_mm.backends(), "cpu loops", golu_mm.ops.cpu_isa())'

tests_log=$OUT_DIR/gpu_check_tests.log
tests_status=0
"$PY" -m pytest tests/ops -q -p no:cacheprovider -k "cuda or extension" > "$tests_log" 2>&1 \
    || tests_status=$?
tail -25 "$tests_log"
"$PY" tools/benchmark_activation.py --devices cuda --sizes 1M 16M 64M --dtypes float32 bfloat16 \
    --json "$OUT_DIR/benchmark_cuda.json" || echo "operator benchmark failed (exit $?)"
# Model level, the paper's setup (torchvision models, backbone ReLUs swapped): needs torchvision.
"$PY" tools/benchmark_model.py --torchvision resnet50 fasterrcnn maskrcnn deeplabv3 --steps 10 \
    || echo "model benchmark skipped or failed (exit $?; torchvision missing?)"
echo "summary: $device; tests: $(grep -E '(passed|failed|error)' "$tests_log" | tail -n 1) (exit $tests_status, log $tests_log); total: $(( $(date +%s) - start )) s"
exit "$tests_status"
