#!/usr/bin/env bash
# Base-size (the BiRQ paper's C2: 10 Conformer layers, d 768, 8192 codes, k = 7) training-step
# benchmark in bf16 autocast on one GPU, against fairseq's wav2vec 2.0 at matched encoder
# parameters, with BEST-RQ and BiRQ also run with the Conformer layers compiled (--compile).
# 80 s on an H200 without compilation, a few minutes more with it (hard limit 9 minutes);
# prints step time, GPU busy time, audio hours trained per GPU-hour, MFU and peak memory per
# system, compiled vs eager (step, GPU busy, kernels per step, peak memory), then the goals
# by wall-clock and by GPU busy time. Results and their reading: examples/benchmarks/README.md.
#
#   bash examples/benchmarks/gpu_check.sh [extra train_speed.py options]
#
# Environment: PYTHON (default python3, an interpreter with CUDA torch, fairseq and
# birq-fairseq installed), OUT_JSON (default gpu_check.json), CUDA_VISIBLE_DEVICES as usual.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
OUT_JSON=${OUT_JSON:-gpu_check.json}
LIMIT_S=540

if ! "$PYTHON" -c "import fairseq, birq_fairseq" 2>/dev/null; then
    echo "gpu_check: $PYTHON cannot import fairseq and birq_fairseq; fix: install them (README," \
         "Install), or on a machine without a network source examples/benchmarks/offline_env.sh" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout "$LIMIT_S" "$PYTHON" examples/benchmarks/train_speed.py \
    --device cuda --dtype bf16 --size base --batch 16 --seconds 15 \
    --steps 30 --warmup 5 --compile --json "$OUT_JSON" "$@"

"$PYTHON" - "$OUT_JSON" <<'PY'
import json
import sys

result = json.load(open(sys.argv[1]))
settings = result["settings"]
print(f"\n{settings['accelerator']}, {settings['dtype']}, batch {settings['batch']} x "
      f"{settings['seconds']} s = {settings['audio_seconds_per_step']:.0f} s of audio per step")
print(f"{'system':<16}{'step ms':>9}{'GPU busy ms':>13}{'audio h / GPU-h':>17}{'MFU':>8}"
      f"{'MFU busy':>10}{'peak GiB':>10}")
percent = lambda value: "-" if value is None else f"{100 * value:.1f}%"
for name, row in result["systems"].items():
    busy = row.get("device_time_s")
    peak = row.get("peak_bytes")
    print(f"{name:<16}{1e3 * row['median_s']:>9.1f}"
          f"{'-' if busy is None else f'{1e3 * busy:.1f}':>13}{row['audio_s_per_s']:>17.0f}"
          f"{percent(row.get('mfu')):>8}{percent(row.get('mfu_device_time')):>10}"
          f"{'-' if peak is None else f'{peak / 2**30:.2f}':>10}")
compiled = [name for name in result["systems"] if name.endswith("_compiled")]
if compiled:
    print(f"\n{'compiled / eager':<18}{'step':>7}{'GPU busy':>10}{'kernels':>9}{'peak mem':>10}")
for name in compiled:
    ratio = lambda key: result.get(f"{name}_{key}_ratio_vs_eager")
    shown = lambda value: "-" if value is None else f"{value:.3f}"
    print(f"{name.removesuffix('_compiled'):<18}{shown(ratio('step')):>7}"
          f"{shown(ratio('device_time')):>10}{shown(ratio('kernels')):>9}"
          f"{shown(ratio('peak_bytes')):>10}")
busy_ratios = result.get("device_time", {})
print(f"\n{'':<5} {'goal':<44} {'wall':>7} {'GPU busy':>9}")
for key, goal in result["goals"].items():
    value = "-" if goal["value"] is None else f"{goal['value']:.3f}"
    busy = busy_ratios.get(key)
    print(f"{goal['status']:<5} {goal['goal']:<44} {value:>7} "
          f"{'-' if busy is None else f'{busy:.3f}':>9}")
PY
