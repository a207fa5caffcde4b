#!/usr/bin/env bash
# Create or reuse the project's virtual environment (.venv) with the pinned stack, build mmcv
# 2.1.0 from its sdist once (tools/install_mmcv.sh, cached outside the repo), and build golu_mm._C
# in place.
# Idempotent: each step is skipped while the inputs it depends on are unchanged.
#
#   GOLU_VENV    where the venv lives            (default: <repo>/.venv)
#   GOLU_CACHE   where the mmcv wheel is cached  (default: ~/.cache/golu_mm)
#   GOLU_PYTHON  the interpreter for a new venv  (default: the first of python3.11/3.12/3.13)
#   GOLU_TORCH   keep: use the torch already installed in the venv (e.g. a CUDA 12 build, with its
#                torchvision and numpy) instead of the pinned torch 2.14.1; the rest stays pinned
#   FORCE_CUDA   1 builds mmcv's and golu_mm's CUDA ops without a visible GPU, 0 never; unset:
#                CUDA exactly when torch sees a GPU (tools/build_plan.py decides, and names the
#                fix when the toolkit, torch and driver do not fit together)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${GOLU_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
# The Python versions the pinned stack (requirements/constraints.txt) has wheels for; 3.11 is tested.
SUPPORTED_PYTHONS="3.11 3.12 3.13"
export MAX_JOBS=${MAX_JOBS:-$(nproc)}

say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
supported() { [[ " $SUPPORTED_PYTHONS " == *" $1 "* ]]; }
start=$(date +%s)

if [ ! -x "$PY" ]; then
    candidates=${GOLU_PYTHON:-"python3.11 python3.12 python3.13 python3"}
    base=""
    for candidate in $candidates; do
        version=$(py_version "$candidate") || continue
        if supported "$version"; then base=$candidate; break; fi
        seen="${seen:-}${seen:+, }$candidate is $version"
    done
    [ -n "$base" ] || die "no Python the pinned stack supports ($SUPPORTED_PYTHONS) was found \
(${seen:-none of $candidates runs}). Install one (e.g. python3.11) or point GOLU_PYTHON at it."
    say "creating virtual environment $VENV with $base (Python $(py_version "$base"))"
    "$base" -m venv "$VENV"
fi
version=$(py_version "$PY")
supported "$version" || die "$VENV has Python $version, which the pinned stack does not support \
($SUPPORTED_PYTHONS): remove it (rm -rf $VENV) and run again, with GOLU_PYTHON if needed."
PIP=("$PY" -m pip --disable-pip-version-check -q)
C=(-c "$ROOT/requirements/constraints.txt")
BUILD_REQ=$ROOT/requirements/build.txt
case "${GOLU_TORCH:-}" in
    '') ;;
    keep)
        kept=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) || die "GOLU_TORCH=keep \
but $VENV has no torch: install the one you want there first (e.g. $PY -m pip install torch \
--index-url https://download.pytorch.org/whl/cu121), or leave GOLU_TORCH unset for the pinned one."
        say "keeping torch $kept (GOLU_TORCH=keep): torch, torchvision, numpy and torch's CUDA libraries stay as installed"
        pins=$(mktemp -d)
        unpinned='^(torch|torchvision|triton|numpy|nvidia-[a-z0-9-]+)=='
        grep -Ev "$unpinned" "$ROOT/requirements/constraints.txt" > "$pins/constraints.txt"
        grep -Ev "$unpinned" "$BUILD_REQ" > "$pins/build.txt"
        "$PY" -c 'import importlib.metadata as m
for name in ("torch", "torchvision", "numpy"):
    try:
        print(f"{name}=={m.version(name)}")
    except m.PackageNotFoundError:
        pass' >> "$pins/constraints.txt"
        C=(-c "$pins/constraints.txt")
        BUILD_REQ=$pins/build.txt ;;
    *) die "GOLU_TORCH must be keep or unset, got '$GOLU_TORCH'" ;;
esac

# 1. Python packages, pinned in requirements/ (constraints.txt pins everything they pull in).
req_stamp=$VENV/.golu_requirements
req_hash=$(hash_of "$ROOT"/requirements/*.txt "$ROOT/tools/setup_env.sh" <(echo "torch:${kept:-pinned}"))
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$req_hash" ]; then
    say "installing pinned packages (first run: torch is a 5.5 GB CUDA build, about 2 minutes)"
    "${PIP[@]}" install "${C[@]}" -r "$BUILD_REQ"
    [ -n "${kept:-}" ] || "${PIP[@]}" install "${C[@]}" -r "$ROOT/requirements/torch.txt"
    "${PIP[@]}" install "${C[@]}" "mmengine==0.10.7"
    rm -f "$VENV/.golu_mmcv"  # the packages below need mmcv first
fi

# What the compiled code is built for here (CPU or CUDA, nvcc, architectures) and the key naming
# it: the mmcv wheel cache and both stamps below change with it.
plan=$("$PY" "$ROOT/tools/build_plan.py") || die "cannot decide how to build (see above)"
eval "$plan"
if [ "$GOLU_BUILD_FLAVOUR" = cuda ]; then
    build_env=(FORCE_CUDA=1)
    say "building CUDA kernels for $GOLU_CUDA_ARCH_LIST with $GOLU_CUDA_HOME"
else
    build_env=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)  # hidden GPUs: a cpu build has no CUDA kernels
fi

# 2. mmcv: no wheel exists for this torch; built from its sdist once per build key (cached).
bash "$ROOT/tools/install_mmcv.sh" "$PY"

# 3. The rest of the pinned packages (mmdet and mmseg need mmcv installed first).
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$req_hash" ]; then
    "${PIP[@]}" install "${C[@]}" -r "$ROOT/requirements/openmmlab.txt" -r "$ROOT/requirements/tests.txt" \
        -r "$ROOT/requirements/export.txt"
    echo "$req_hash" > "$req_stamp"
fi

# 4. golu_mm itself, editable, with its compiled operator. ninja rebuilds only what changed.
ext_stamp=$VENV/.golu_extension
ext_hash=$GOLU_BUILD_KEY-$(hash_of "$ROOT/setup.py" "$ROOT/tools/build_plan.py" $(find "$ROOT/csrc" "$ROOT/golu_mm/include" -type f | sort))
if [ "$(cat "$ext_stamp" 2>/dev/null)" != "$ext_hash" ] || ! ls "$ROOT"/golu_mm/_C*.so >/dev/null 2>&1; then
    say "building golu_mm._C ($GOLU_BUILD_FLAVOUR: a minute, a few more with CUDA kernels)"
    (cd "$ROOT" && env "${build_env[@]}" "${PIP[@]}" install --no-build-isolation --no-deps -e .)
    echo "$ext_hash" > "$ext_stamp"
fi

say "environment ready in $(( $(date +%s) - start )) s: $VENV"
