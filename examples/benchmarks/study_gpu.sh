#!/usr/bin/env bash
# The 3-seed study ten times larger (quality.py --preset gpu: 6 x 192 Conformer, k = 4, 240 s
# batches, 3750 pretraining updates = 250 h of audio per run) on one GPU, six runs sharing the
# device, under a hard time limit (default 480 s: the issue's 8 minutes). Needs the study
# corpus (make study-corpus; it is built here if missing, which needs the apt packages of
# docs/study.md). A rerun resumes: finished runs are kept, unfinished ones restart from their
# last checkpoint. Not yet timed on a device.
#
#   bash examples/benchmarks/study_gpu.sh [extra quality.py options, e.g. --lm]
#
# Environment: PYTHON (default python3, with CUDA torch, fairseq and birq-fairseq installed),
# OUT (default results/gpu), LIMIT_S (default 480), DATA (default data/study/manifests, built
# if missing; or a copy made by python -m birq_fairseq.data.pack_corpus, relocated there).
set -euo pipefail
if [ -n "${DATA:-}" ] && [ -d "$DATA" ]; then DATA=$(cd "$DATA" && pwd); fi  # before the cd
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
OUT=${OUT:-results/gpu}
LIMIT_S=${LIMIT_S:-480}

if ! "$PYTHON" -c "import fairseq, birq_fairseq" 2>/dev/null; then
    echo "study_gpu: $PYTHON cannot import fairseq and birq_fairseq; fix: install them (README," \
         "Install), or on a machine without a network source examples/benchmarks/offline_env.sh" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [ -n "${DATA:-}" ]; then
    if [ ! -f "$DATA/pretrain/train.tsv" ]; then
        echo "study_gpu: DATA=$DATA holds no pretrain/train.tsv; fix: point it at a study" \
             "manifests folder (of pack_corpus: PACK/manifests, after --relocate PACK)" >&2
        exit 1
    fi
    if [ ! -d "$(head -n 1 "$DATA/pretrain/train.tsv")" ]; then
        echo "study_gpu: $DATA/pretrain/train.tsv names an audio folder that is not here;" \
             "fix: python -m birq_fairseq.data.pack_corpus --relocate PACK (DATA=PACK/manifests)" >&2
        exit 1
    fi
elif [ ! -f data/study/manifests/pretrain/train.tsv ]; then
    "$PYTHON" -m birq_fairseq.data.study_corpus --out data/study
fi
start=$(date +%s)
status=0
timeout "$LIMIT_S" "$PYTHON" examples/benchmarks/quality.py --preset gpu --out "$OUT" \
    ${DATA:+--data "$DATA"} "$@" \
    || status=$?
echo "study_gpu: $(( $(date +%s) - start )) s of ${LIMIT_S} s (exit ${status}); table: ${OUT}/table.md"
exit "$status"
