#!/usr/bin/env bash
# Create or reuse the project's virtual environment (.venv) with the pinned stack, build mmcv
# 2.1.0 from its sdist once (cached outside the repo), and build golu_mm._C in place.
# Idempotent: each step is skipped while the inputs it depends on are unchanged.
#
#   GOLU_VENV   where the venv lives            (default: <repo>/.venv)
#   GOLU_CACHE  where the mmcv wheel is cached  (default: ~/.cache/golu_mm)
#   FORCE_CUDA  1 builds mmcv's and golu_mm's CUDA ops (a GPU box; much longer mmcv build)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${GOLU_VENV:-$ROOT/.venv}
CACHE=${GOLU_CACHE:-$HOME/.cache/golu_mm}
PY=$VENV/bin/python
MMCV_VERSION=2.1.0
export MAX_JOBS=${MAX_JOBS:-$(nproc)}

say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
start=$(date +%s)

if [ ! -x "$PY" ]; then
    say "creating virtual environment $VENV"
    python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check -q)

# 1. Python packages, pinned in requirements/ (constraints.txt pins everything they pull in).
req_stamp=$VENV/.golu_requirements
req_hash=$(hash_of "$ROOT"/requirements/*.txt "$ROOT/tools/setup_env.sh")
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$req_hash" ]; then
    say "installing pinned packages (first run: torch is a 5.5 GB CUDA build, about 2 minutes)"
    C=(-c "$ROOT/requirements/constraints.txt")
    "${PIP[@]}" install "${C[@]}" -r "$ROOT/requirements/build.txt"
    "${PIP[@]}" install "${C[@]}" -r "$ROOT/requirements/torch.txt"
    "${PIP[@]}" install "${C[@]}" "mmengine==0.10.7"

    # mmcv has no wheel for this torch: build its sdist with C++20 (torch>=2.13 headers need it).
    torch_tag=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
    flavour=cpu; [ "${FORCE_CUDA:-0}" = 1 ] && flavour=cuda
    wheel_dir=$CACHE/wheels/mmcv-$MMCV_VERSION-torch$torch_tag-$flavour
    if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
        say "building mmcv $MMCV_VERSION ($flavour ops) from source: about 15 minutes on 2 cores, once"
        src=$CACHE/src && mkdir -p "$src" "$wheel_dir"
        "${PIP[@]}" download --no-build-isolation --no-deps --no-binary :all: -d "$src" "mmcv==$MMCV_VERSION"
        work=$(mktemp -d)
        tar -xzf "$src/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
        sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' \
            "$work/mmcv-$MMCV_VERSION/setup.py"
        MMCV_WITH_OPS=1 FORCE_CUDA=${FORCE_CUDA:-0} \
            "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$wheel_dir" "$work/mmcv-$MMCV_VERSION"
        rm -rf "$work"
    fi
    "${PIP[@]}" install "${C[@]}" "$wheel_dir"/mmcv-*.whl
    "${PIP[@]}" install "${C[@]}" -r "$ROOT/requirements/openmmlab.txt" -r "$ROOT/requirements/tests.txt" \
        -r "$ROOT/requirements/export.txt"
    echo "$req_hash" > "$req_stamp"
fi

# 2. golu_mm itself, editable, with its compiled operator. ninja rebuilds only what changed.
ext_stamp=$VENV/.golu_extension
ext_hash=$(hash_of "$ROOT/setup.py" $(find "$ROOT/csrc" -type f | sort))
if [ "$(cat "$ext_stamp" 2>/dev/null)" != "$ext_hash" ] || ! ls "$ROOT"/golu_mm/_C*.so >/dev/null 2>&1; then
    say "building golu_mm._C (CPU + CUDA kernels: a few minutes the first time)"
    (cd "$ROOT" && "${PIP[@]}" install --no-build-isolation --no-deps -e .)
    echo "$ext_hash" > "$ext_stamp"
fi

say "environment ready in $(( $(date +%s) - start )) s: $VENV"
