# Sourced (bash) on an offline GPU machine whose python3 already has CUDA torch: installs the
# wheels of examples/benchmarks/offline_wheels.sh into a private folder (no network, no
# build, the image's own packages untouched), puts that folder and this checkout on
# PYTHONPATH and its scripts on PATH, then checks that fairseq, the plugin, the image's
# packages they need and CUDA load, naming whatever does not.
#
#   . examples/benchmarks/offline_env.sh && bash examples/benchmarks/gpu_check.sh
#
# Environment: OFFLINE_WHEELS (default: .whl in this checkout), OFFLINE_SITE (default:
# .offline-site in this checkout), PYTHON (default python3; exported for the scripts).
# Sourced, so it returns a status instead of exiting the caller's shell; sourcing it again
# reinstalls and leaves PATH and PYTHONPATH as they were after the first time.

_birq_offline_env() {
    local repo wheels site python found
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    wheels=${OFFLINE_WHEELS:-$repo/.whl}
    site=${OFFLINE_SITE:-$repo/.offline-site}
    python=${PYTHON:-python3}
    found=$(find "$wheels" -maxdepth 1 -name '*.whl' -print -quit 2>/dev/null)
    if [ -z "$found" ]; then
        echo "offline_env: no wheels in $wheels; fix: run examples/benchmarks/offline_wheels.sh" \
             "on a machine with a network and copy its folder here (or set OFFLINE_WHEELS)" >&2
        return 1
    fi
    mkdir -p -m 700 "$site" || return 1
    "$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$site" "$wheels"/*.whl || return 1
    case ":${PYTHONPATH:-}:" in *":$site:$repo:"*) ;; *)
        export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}" ;; esac
    case ":$PATH:" in *":$site/bin:"*) ;; *) export PATH="$site/bin:$PATH" ;; esac
    export PYTHON="$python"
    "$python" - <<'PY'
import importlib
import sys

# The image's packages, then the wheels' (fairseq before the plugin: the plugin registers
# itself only once fairseq is loaded).
needed = ["torch", "numpy", "scipy", "sklearn", "sacrebleu", "regex", "tqdm", "packaging",
          "yaml", "fairseq", "hydra", "omegaconf", "soundfile", "editdistance",
          "birq_fairseq.plugin"]
missing = []
for name in needed:
    try:
        importlib.import_module(name)
    except Exception as error:  # an ABI mismatch raises more than ImportError
        missing.append(f"{name} ({type(error).__name__}: {error})")
if missing:
    sys.exit("offline_env: cannot import " + "; ".join(missing) + "; fix: add the package "
             "to requirements-offline.txt, pinned to a version with wheels for this Python, "
             "and rerun offline_wheels.sh")
import numpy
import torch

cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"offline_env: python {sys.version.split()[0]}, torch {torch.__version__} ({cuda}), "
      f"numpy {numpy.__version__}; fairseq and birq_fairseq load")
PY
}
if _birq_offline_env; then
    unset -f _birq_offline_env
else
    unset -f _birq_offline_env
    return 1
fi
