#!/usr/bin/env bash
# Base-size (the BiRQ paper's C2: 10 Conformer layers, d 768, 8192 codes, k = 7) training-step
# benchmark in bf16 autocast on one GPU, against fairseq's wav2vec 2.0 at matched encoder
# parameters. Expected to take 1-3 minutes on an H100 (not yet run on a GPU; hard limit 8
# minutes); prints step time, audio hours trained per GPU-hour, MFU and peak memory per
# system, then the goals.
#
#   bash examples/benchmarks/gpu_check.sh [extra train_speed.py options]
#
# Environment: PYTHON (default python3, an interpreter with CUDA torch, fairseq and
# birq-fairseq installed), OUT_JSON (default gpu_check.json), CUDA_VISIBLE_DEVICES as usual.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
OUT_JSON=${OUT_JSON:-gpu_check.json}
LIMIT_S=480

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout "$LIMIT_S" "$PYTHON" examples/benchmarks/train_speed.py \
    --device cuda --dtype bf16 --size base --batch 16 --seconds 15 \
    --steps 30 --warmup 5 --json "$OUT_JSON" "$@"

"$PYTHON" - "$OUT_JSON" <<'PY'
import json
import sys

result = json.load(open(sys.argv[1]))
settings = result["settings"]
print(f"\n{settings['accelerator']}, {settings['dtype']}, batch {settings['batch']} x "
      f"{settings['seconds']} s = {settings['audio_seconds_per_step']:.0f} s of audio per step")
print(f"{'system':<14}{'step ms':>9}{'audio h / GPU-h':>17}{'MFU':>8}{'peak GiB':>10}")
for name, row in result["systems"].items():
    mfu = row.get("mfu")
    peak = row.get("peak_bytes")
    print(f"{name:<14}{1e3 * row['median_s']:>9.1f}{row['audio_s_per_s']:>17.0f}"
          f"{'-' if mfu is None else f'{100 * mfu:.1f}%':>8}"
          f"{'-' if peak is None else f'{peak / 2**30:.2f}':>10}")
for goal in result["goals"].values():
    value = "-" if goal["value"] is None else f"{goal['value']:.3f}"
    print(f"{goal['status']:<5} {goal['goal']:<44} {value}")
PY
