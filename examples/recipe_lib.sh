# Shared by the recipes (examples/*/run.sh): logging, GPU scaling, decoding, stage dispatch.
# Sourcing it moves to the repository root (the configs and --user-dir are relative to it)
# and sets PYTHON, BIN, NGPUS, SYSTEMS and the override arrays.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python}
SYSTEMS=${SYSTEMS:-"birq bestrq"}
BIN=$(dirname "$(command -v "$PYTHON")")
if [[ -z ${NGPUS:-} ]]; then
  NGPUS=$("$PYTHON" -c "import torch; print(min(max(torch.cuda.device_count(), 1), 8))")
fi

# Extra hydra overrides for every training run of a recipe, space-separated.
read -r -a PRETRAIN_EXTRA <<< "${PRETRAIN_OVERRIDES:-}"
read -r -a FINETUNE_EXTRA <<< "${FINETUNE_OVERRIDES:-}"

log() { echo "$(date '+%H:%M:%S') $*"; }
need() { [[ -e $1 ]] || { echo "missing $1: $2" >&2; exit 1; }; }

# gpu_overrides SIZED_FOR: hydra overrides that keep a config's batch (sized for SIZED_FOR
# GPUs) on NGPUS GPUs through gradient accumulation.
gpu_overrides() {
  local sized_for=$1
  if (( sized_for % NGPUS != 0 )); then
    echo "NGPUS=$NGPUS must divide $sized_for (the GPUs the config is sized for)" >&2; exit 1
  fi
  echo "distributed_training.distributed_world_size=$NGPUS" \
       "optimization.update_freq=[$((sized_for / NGPUS))]"
}

# score DATA MODEL OUT_DIR "SPLITS" [fairseq-generate options...]: WER of every split that
# has a manifest, skipping splits already scored in OUT_DIR.
score() {
  local data=$1 model=$2 out=$3 splits=$4; shift 4
  need "$model" "run the finetune stage"
  for split in $splits; do
    [[ -e $data/$split.tsv ]] || { log "  skip $split (no manifest)"; continue; }
    if grep -qs "WER:" "$out/generate-$split.txt"; then
      log "  skip $out/generate-$split.txt (scored)"; continue
    fi
    log "decode $model $split -> $out"
    "$BIN/fairseq-generate" "$data" --user-dir birq_fairseq --task birq_ctc_eval \
      --path "$model" --gen-subset "$split" --scoring wer --post-process letter \
      --max-tokens 4000000 --results-path "$out" "$@"
  done
}

# lm_options: the beam + LM options of fairseq-generate from LM, LM_WEIGHT, WORD_SCORE, BEAM.
lm_options() {
  [[ -n ${LM:-} ]] || { echo "set LM=/path/to/lm.arpa (see this recipe's README)" >&2; exit 1; }
  need "$LM" "see this recipe's README for the LM"
  echo --ctc-decoder beam --lm-path "$LM" --lm-weight "${LM_WEIGHT:-2.0}" \
       --word-score "${WORD_SCORE:--1.0}" --beam "${BEAM:-500}"
}

# results_table DIR: the WERs of DIR/MODEL/DECODER/generate-*.txt, printed and in DIR/table.md.
results_table() {
  "$PYTHON" -m birq_fairseq.results_table "$1" | tee "$1/table.md"
}

# run_stages "KNOWN STAGES" STAGE...: calls stage_NAME for each, "all" = every known stage.
run_stages() {
  local known=$1; shift
  [[ $# -ge 1 ]] || { echo "usage: $0 STAGE... ($known, or all)" >&2; exit 1; }
  local stages=("$@")
  [[ ${stages[*]} == all ]] && read -r -a stages <<< "$known"
  for stage in "${stages[@]}"; do
    if [[ " $known " == *" $stage "* ]]; then
      log "== stage $stage"; "stage_$stage"
    else
      echo "unknown stage '$stage' ($known, or all)" >&2; exit 1
    fi
  done
}
