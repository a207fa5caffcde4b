#!/usr/bin/env bash
# Install mmcv 2.1.0 with its compiled ops into the venv of PYTHON, from a wheel built once from
# the sdist per build key (tools/build_plan.py: flavour, torch, CPython, CUDA, architectures) and
# cached in $GOLU_CACHE/wheels. PyPI has mmcv 2.1.0 wheels for torch 2.0/2.1 with CUDA only; this
# builds for whatever torch the venv has. Its setup.py asks for C++17; for a torch that compiles
# extensions with C++20 (2.13+) the flag is raised to match, otherwise the sdist is built as is.
#
#   usage: tools/install_mmcv.sh VENV/bin/python      (a no-op while the venv's .golu_mmcv stamp matches)
set -euo pipefail

PY=${1:?usage: install_mmcv.sh PYTHON}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${GOLU_CACHE:-$HOME/.cache/golu_mm}
MMCV_VERSION=2.1.0
STAMP=$(dirname "$(dirname "$PY")")/.golu_mmcv  # PYTHON is <venv>/bin/python
PIP=("$PY" -m pip --disable-pip-version-check -q)
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
say() { printf '[mmcv %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

plan=$("$PY" "$ROOT/tools/build_plan.py") || { echo '[mmcv] error: cannot decide how to build (see above)' >&2; exit 1; }
eval "$plan"
[ "$(cat "$STAMP" 2>/dev/null)" = "$GOLU_BUILD_KEY" ] && exit 0

wheel_dir=$CACHE/wheels/mmcv-$MMCV_VERSION-$GOLU_BUILD_KEY
if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    say "building mmcv $MMCV_VERSION ($GOLU_BUILD_FLAVOUR ops, C++$GOLU_CXX_STD) from source: about 15-30 minutes on 2 cores (more per CUDA architecture), once per key: $GOLU_BUILD_KEY"
    if [ "$GOLU_BUILD_FLAVOUR" = cuda ]; then
        nvidia_includes=$("$PY" -c 'import glob, os, torch; print(":".join(glob.glob(os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), "nvidia", "*", "include"))))')
        build_env=(FORCE_CUDA=1 CUDA_HOME="$GOLU_CUDA_HOME" TORCH_CUDA_ARCH_LIST="$GOLU_CUDA_ARCH_LIST"
                   CPATH="$nvidia_includes${CPATH:+:$CPATH}")
    else
        build_env=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)  # hidden GPUs: a cpu wheel has no CUDA ops
    fi
    mkdir -p "$CACHE/src"
    "${PIP[@]}" download --no-build-isolation --no-deps --no-binary :all: -d "$CACHE/src" "mmcv==$MMCV_VERSION"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    tar -xzf "$CACHE/src/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    if [ "$GOLU_CXX_STD" != 17 ]; then
        sed -i -e "s/-std=c++14/-std=c++$GOLU_CXX_STD/g" -e "s/-std=c++17/-std=c++$GOLU_CXX_STD/g" \
            "$work/mmcv-$MMCV_VERSION/setup.py"
    fi
    env MMCV_WITH_OPS=1 "${build_env[@]}" \
        "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$work/wheel" "$work/mmcv-$MMCV_VERSION"
    mkdir -p "$wheel_dir" && mv "$work"/wheel/mmcv-*.whl "$wheel_dir"/
fi
"${PIP[@]}" install --force-reinstall --no-deps "$wheel_dir"/mmcv-*.whl
echo "$GOLU_BUILD_KEY" > "$STAMP"
say "installed $(ls "$wheel_dir"/mmcv-*.whl)"
