# Sourced on an offline GPU machine whose python3 already has CUDA torch: installs the
# wheels of examples/benchmarks/offline_wheels.sh into a private folder (no network, no
# build, the image's own packages untouched), puts that folder and this checkout on
# PYTHONPATH and its scripts on PATH, then checks that fairseq, the plugin and CUDA load.
#
#   . examples/benchmarks/offline_env.sh [WHEELS (default .whl)] && bash examples/benchmarks/gpu_check.sh
#
# Environment: PYTHON (default python3), OFFLINE_SITE (default /tmp/birq-offline-site).
# Sourced, so it returns a status instead of exiting the caller's shell.

_offline_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_offline_wheels=${1:-$_offline_repo/.whl}
_offline_python=${PYTHON:-python3}
OFFLINE_SITE=${OFFLINE_SITE:-/tmp/birq-offline-site}

if ! compgen -G "$_offline_wheels/*.whl" >/dev/null; then
    echo "offline_env: no wheels in $_offline_wheels; fix: run" \
         "examples/benchmarks/offline_wheels.sh on a machine with a network and copy" \
         "the folder here" >&2
    return 1
fi
"$_offline_python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$OFFLINE_SITE" "$_offline_wheels"/*.whl || return 1
export PYTHONPATH="$OFFLINE_SITE:$_offline_repo${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$OFFLINE_SITE/bin:$PATH"
export PYTHON="$_offline_python"
"$_offline_python" - <<'PY' || return 1
import importlib
import sys

# fairseq first: the plugin registers itself only once fairseq is loaded.
needed = ["torch", "numpy", "fairseq", "hydra", "omegaconf", "soundfile", "editdistance",
          "birq_fairseq.plugin"]
missing = []
for name in needed:
    try:
        importlib.import_module(name)
    except Exception as error:  # an ABI mismatch raises more than ImportError
        missing.append(f"{name} ({type(error).__name__}: {error})")
if missing:
    print("offline_env: cannot import " + "; ".join(missing) + "; fix: add the missing "
          "package to requirements-offline.txt (pinned to a version built for this Python) "
          "and rerun offline_wheels.sh", file=sys.stderr)
    sys.exit(1)
import numpy
import torch

cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"offline_env: python {sys.version.split()[0]}, torch {torch.__version__} "
      f"({cuda}), numpy {numpy.__version__}, fairseq and birq_fairseq load")
PY
unset _offline_repo _offline_wheels _offline_python
