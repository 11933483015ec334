#!/usr/bin/env bash
# Prepare LibriSpeech manifests, labels and the letter dictionary for fairseq.
#
# Usage: prepare.sh LIBRISPEECH_ROOT DEST [STAGE_FROM]
#
#   LIBRISPEECH_ROOT  folder holding the extracted splits (train-clean-100, dev-other, ...)
#   DEST              output folder for the manifests and labels
#   STAGE_FROM        first stage to run (default 1); earlier stages are not touched
#
# Stages (each one is skipped when its outputs already exist; delete them to redo):
#   1  DEST/<split>.tsv for every standard split folder present, root = LIBRISPEECH_ROOT/<split>
#   2  DEST/<split>.{wrd,ltr}, the format of fairseq's examples/wav2vec/libri_labels.py
#   3  DEST/train_960.*  = train-clean-100 + train-clean-360 + train-other-500 (root =
#                          LIBRISPEECH_ROOT, paths like train-clean-100/19/198/...flac)
#      DEST/train_10h.*  = a seeded random 10 h subset of train-clean-100.  The official
#                          Libri-light 10 h split (librispeech_finetuning/) can replace it:
#                          write its file list in the same manifest format as train_10h.tsv.
#   4  DEST/dict.ltr.txt from the train-clean-100 letters
#
# Split names use '_' (train_clean_100, dev_other, ...) so that they are valid fairseq
# subsets, e.g. dataset.train_subset=train_clean_100 dataset.valid_subset=dev_other.
# The Python interpreter is ${PYTHON:-python}; it needs numpy, scipy and soundfile.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2
  exit 1
fi

PYTHON=${PYTHON:-python}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
LIBRISPEECH=$(cd "$1" && pwd -P)
mkdir -p "$2"
DEST=$(cd "$2" && pwd -P)
STAGE_FROM=${3:-1}

SPLITS=(train-clean-100 train-clean-360 train-other-500 dev-clean dev-other test-clean test-other)
TRAIN_960_PARTS=(train_clean_100 train_clean_360 train_other_500)
SUBSET_HOURS=10
SUBSET_SEED=1

librispeech() { "$PYTHON" -m birq_fairseq.data.librispeech "$@"; }
log() { echo "$(date '+%H:%M:%S') $*"; }
all_exist() {
  local path
  for path in "$@"; do [[ -e "$path" ]] || return 1; done
}

present=()
for split in "${SPLITS[@]}"; do
  if [[ -d "$LIBRISPEECH/$split" ]]; then present+=("${split//-/_}"); fi
done
if [[ ${#present[@]} -eq 0 ]]; then
  echo "no LibriSpeech split folder (${SPLITS[*]}) in $LIBRISPEECH" >&2
  exit 1
fi
log "splits found: ${present[*]}"

if [[ $STAGE_FROM -le 1 ]]; then
  log "stage 1: manifests"
  todo=()
  for name in "${present[@]}"; do
    if [[ -e "$DEST/$name.tsv" ]]; then
      log "  skip $name.tsv (exists)"
    else
      todo+=("$LIBRISPEECH/${name//_/-}")
    fi
  done
  [[ ${#todo[@]} -eq 0 ]] || librispeech manifest --dest "$DEST" "${todo[@]}"
fi

if [[ $STAGE_FROM -le 2 ]]; then
  log "stage 2: word and letter labels"
  todo=()
  for name in "${present[@]}"; do
    if all_exist "$DEST/$name.wrd" "$DEST/$name.ltr"; then
      log "  skip $name.{wrd,ltr} (exist)"
    else
      todo+=("$DEST/$name.tsv")
    fi
  done
  [[ ${#todo[@]} -eq 0 ]] || librispeech labels "${todo[@]}"
fi

if [[ $STAGE_FROM -le 3 ]]; then
  log "stage 3: train_960 and train_10h"
  parts=("${TRAIN_960_PARTS[@]/#/$DEST/}")
  if all_exist "$DEST"/train_960.{tsv,wrd,ltr}; then
    log "  skip train_960 (exists)"
  elif all_exist "${parts[@]/%/.tsv}" "${parts[@]/%/.wrd}" "${parts[@]/%/.ltr}"; then
    librispeech concat "$DEST/train_960" --root "$LIBRISPEECH" "${parts[@]}"
  else
    log "  skip train_960: needs all of ${TRAIN_960_PARTS[*]}"
  fi
  if all_exist "$DEST"/train_10h.{tsv,wrd,ltr}; then
    log "  skip train_10h (exists)"
  elif [[ -e "$DEST/train_clean_100.tsv" ]]; then
    librispeech subset "$DEST/train_clean_100.tsv" "$DEST/train_10h" \
      --hours "$SUBSET_HOURS" --seed "$SUBSET_SEED"
  else
    log "  skip train_10h: needs train_clean_100"
  fi
fi

if [[ $STAGE_FROM -le 4 ]]; then
  log "stage 4: letter dictionary"
  if [[ -e "$DEST/dict.ltr.txt" ]]; then
    log "  skip dict.ltr.txt (exists)"
  elif [[ -e "$DEST/train_clean_100.ltr" ]]; then
    librispeech dictionary "$DEST/dict.ltr.txt" "$DEST/train_clean_100.ltr"
  else
    echo "stage 4 needs $DEST/train_clean_100.ltr (run stage 2 with train-clean-100)" >&2
    exit 1
  fi
fi

log "done: $DEST"
