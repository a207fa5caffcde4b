#!/usr/bin/env bash
# The ecosystem stack (requirements/ecosystem.txt: torch 2.1.2, numpy < 2, mmengine 0.10.7, mmdet
# 3.3.0, mmseg 1.2.2, mmpretrain 1.2.0; mmcv 2.1.0 from tools/install_mmcv.sh, built once per key
# and cached like the main stack's) in its own venv, .eco/venv, and golu_mm built against it in a
# copy of the sources, .eco/src, so that the main .venv's in-place extension stays as it is.
# Idempotent: the venv is reinstalled when the requirements change, the extension rebuilt when the
# sources or the build plan change.
#
#   GOLU_ECO_DIR  where both live (default: <repo>/.eco)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ECO=${GOLU_ECO_DIR:-$ROOT/.eco}
VENV=$ECO/venv
SRC=$ECO/src
PY=$VENV/bin/python
say() { printf '[ecosystem %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
start=$(date +%s)

if [ ! -x "$PY" ]; then
    base=$(command -v python3.11 || true)
    [ -n "$base" ] || { echo "[ecosystem] error: needs python3.11 (torch 2.1.2's wheels)" >&2; exit 1; }
    say "creating $VENV"
    "$base" -m venv "$VENV"
fi
req_hash=$(hash_of "$ROOT/requirements/ecosystem.txt" "$ROOT/tools/setup_ecosystem.sh")
if [ "$(cat "$VENV/.golu_requirements" 2>/dev/null)" != "$req_hash" ]; then
    say "installing requirements/ecosystem.txt (torch 2.1.2 with its CUDA 12.1 libraries: ~2 min)"
    "$PY" -m pip --disable-pip-version-check -q install -r "$ROOT/requirements/ecosystem.txt"
    echo "$req_hash" > "$VENV/.golu_requirements"
fi
# mmcv 2.1.0 with its ops (first run: ~21 min on 2 cores; then the cached wheel).
bash "$ROOT/tools/install_mmcv.sh" "$PY"

# A fresh copy of the tracked and new (not ignored) files; the extension built for this stack is
# kept beside it and reused while the sources and the build plan are unchanged.
rm -rf "$SRC" && mkdir -p "$SRC"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) \
    | tar -xf - -C "$SRC"
eval "$("$PY" "$SRC/tools/build_plan.py")"
ext_hash=$GOLU_BUILD_KEY-$(cd "$SRC" && hash_of setup.py tools/build_plan.py $(find csrc golu_mm/include -type f | sort))
if [ "$(cat "$ECO/.golu_extension" 2>/dev/null)" != "$ext_hash" ] || ! ls "$ECO"/_C*.so >/dev/null 2>&1; then
    say "building golu_mm._C against torch 2.1.2 ($GOLU_BUILD_FLAVOUR)"
    rm -f "$ECO"/_C*.so
    (cd "$SRC" && "$PY" setup.py -q build_ext --inplace >/dev/null)
    cp "$SRC"/golu_mm/_C*.so "$ECO"/
    echo "$ext_hash" > "$ECO/.golu_extension"
fi
cp "$ECO"/_C*.so "$SRC"/golu_mm/
say "ready in $(( $(date +%s) - start )) s: $VENV, sources in $SRC"
