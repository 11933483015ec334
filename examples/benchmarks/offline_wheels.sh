#!/usr/bin/env bash
# Fetches, on a machine with a network, the wheels that an offline GPU machine needs to run
# this project (requirements-offline.txt: fairseq and what a PyTorch image lacks), built for
# that machine's Python, into one folder to copy along (23 MB). There, source
# examples/benchmarks/offline_env.sh to install them.
#
#   bash examples/benchmarks/offline_wheels.sh [PYTHON_VERSION (default 3.12)] [DEST (.whl)]
#
# Environment: PYTHON (default python3; any interpreter with pip: the wheels are chosen by
# --python-version and --platform, not by the interpreter that fetches them).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
TARGET_PYTHON=${1:-3.12}
DEST=${2:-.whl}
REQUIREMENTS=requirements-offline.txt
# pip matches manylinux tags exactly: name the glibc levels a current x86-64 Linux accepts.
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64
           manylinux2014_x86_64 manylinux1_x86_64)

mkdir -p "$DEST"
platform_args=()
for platform in "${PLATFORMS[@]}"; do platform_args+=(--platform "$platform"); done
sdist_only=()
while read -r requirement; do
    if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
            --python-version "$TARGET_PYTHON" --implementation cp "${platform_args[@]}" \
            --dest "$DEST" "$requirement" 2>/dev/null; then
        sdist_only+=("$requirement")
    fi
done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$REQUIREMENTS" | grep -v '^$')

# A requirement without a wheel for that Python is built here; only a pure-Python one
# (py3-none-any) can travel, a compiled one would be for this machine's Python.
for requirement in "${sdist_only[@]}"; do
    "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$DEST" "$requirement"
done
compiled=$(find "$DEST" -type f -name '*.whl' ! -name '*-none-*' ! -name "*cp${TARGET_PYTHON/./}*" || true)
if [ -n "$compiled" ]; then
    echo "offline_wheels: these wheels are not for Python $TARGET_PYTHON:" >&2
    echo "$compiled" >&2
    echo "fix: remove them, and build the requirements they belong to on the GPU machine" >&2
    exit 1
fi
echo "offline_wheels: $(find "$DEST" -type f -name '*.whl' | wc -l) wheels for Python $TARGET_PYTHON" \
     "in $DEST ($(du -sh "$DEST" | cut -f1)); on the GPU machine, from this folder:"
echo "  . examples/benchmarks/offline_env.sh $DEST"
