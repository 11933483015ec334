#!/usr/bin/env bash
# Fetches, on a machine with a network, the wheels that an offline GPU machine needs to run
# this project (requirements-offline.txt: fairseq and what a PyTorch image lacks), built for
# that machine's Python, into one folder to copy along with the checkout (9 wheels, 23 MB).
# There, source examples/benchmarks/offline_env.sh to install them.
#
#   bash examples/benchmarks/offline_wheels.sh [PYTHON_VERSION (default 3.12)] [DEST (.whl)]
#
# Environment: PYTHON (default python3: any interpreter with pip; the wheels are chosen by
# --python-version and --platform, not by the interpreter that fetches them),
# OFFLINE_PLATFORMS (the manylinux tags to accept, space-separated; default: x86-64 ones).
set -euo pipefail

PYTHON=${PYTHON:-python3}
TARGET_PYTHON=${1:-3.12}
if [[ ! $TARGET_PYTHON =~ ^3\.[0-9]+$ ]]; then
    echo "offline_wheels: PYTHON_VERSION '$TARGET_PYTHON' is not MAJOR.MINOR; fix: give e.g. 3.12" >&2
    exit 2
fi
DEST=$(mkdir -p "${2:-.whl}" && cd "${2:-.whl}" && pwd)  # relative to the caller's folder
cd "$(dirname "$0")/../.."
REQUIREMENTS=requirements-offline.txt
# pip matches manylinux tags exactly: name every glibc level the machine accepts.
read -r -a platforms <<< "${OFFLINE_PLATFORMS:-manylinux_2_28_x86_64 manylinux_2_27_x86_64 \
manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64}"
platform_args=()
for platform in "${platforms[@]}"; do platform_args+=(--platform "$platform"); done

pins=()
while IFS= read -r line; do
    requirement=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' <<< "$line")
    [ -n "$requirement" ] || continue
    pins+=("$requirement")
    if [[ $line == *"# build-here"* ]]; then
        # No wheels exist: build one here, and only a pure-Python one can travel.
        "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$DEST" "$requirement"
    else
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
            --python-version "$TARGET_PYTHON" --implementation cp "${platform_args[@]}" \
            --dest "$DEST" "$requirement"
    fi
done < "$REQUIREMENTS"

# Every wheel in DEST must be one of the pins, for that Python or for any: a stale one (an
# old pin) or one built for this machine would break or mislead the install there.
"$PYTHON" - "$DEST" "$TARGET_PYTHON" "${pins[@]}" <<'PY'
import re
import sys
from pathlib import Path

dest, version, pins = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
normalise = lambda name: re.sub(r"[-_.]+", "_", name).lower()
expected = {normalise(pin.split("==")[0]) + "-" + pin.split("==")[1] for pin in pins}
python_tag = "cp" + version.replace(".", "")
problems = []
for wheel in sorted(dest.glob("*.whl")):
    name, wheel_version, *_, python, abi, platform = wheel.stem.split("-")
    if f"{normalise(name)}-{wheel_version}" not in expected:
        problems.append(f"{wheel.name}: not a pin of requirements-offline.txt (an old one?)")
    elif abi != "none" and abi != "abi3" and python_tag not in python.split("."):
        problems.append(f"{wheel.name}: compiled for another Python than {version}")
    elif platform == "linux_x86_64" or "macosx" in platform or "win" in platform:
        problems.append(f"{wheel.name}: built for this machine, not a manylinux wheel")
if problems:
    sys.exit("offline_wheels: " + "; ".join(problems) + f"; fix: remove them from {dest} "
             "(a build-here pin must build as pure Python) and run this again")
PY
echo "offline_wheels: $(find "$DEST" -type f -name '*.whl' | wc -l) wheels for Python" \
     "$TARGET_PYTHON in $DEST ($(du -sh "$DEST" | cut -f1)). Copy them to the GPU machine"
echo "(as .whl in the checkout, or name the folder in OFFLINE_WHEELS) and there run:"
echo "  . examples/benchmarks/offline_env.sh"
