#!/usr/bin/env bash
# The paper's LibriSpeech table, stage by stage: prepare -> pretrain C2 BiRQ and BEST-RQ on
# 960 h -> CTC fine-tune on 100 h and 10 h -> decode test-clean/test-other greedy and with
# the official 4-gram LM -> a results table.
#
# Usage: run.sh STAGE [STAGE ...]   stages: prepare pretrain finetune decode decode_lm table
#                                   ("all" runs every stage in order)
# Settings (environment variables):
#   LIBRISPEECH  the extracted corpus (train-clean-100, ..., test-other)  [stage prepare]
#   WORK         where manifests/, checkpoints/ and results/ go (default exp/librispeech)
#   LM           the 4-gram LM, ARPA or KenLM binary                       [stage decode_lm]
#   LM_WEIGHT, WORD_SCORE, BEAM   LM decoding (default 2.0, -1.0, 500; tune on dev_other)
#   NGPUS        GPUs per run on this node (default: all visible, at most 8); the configs
#                are sized for 8 GPUs and update_freq keeps their batch on fewer
#   SYSTEMS      default "birq bestrq";  FINETUNES  default "100h 10h"
#   TEST_SETS    default "dev_clean dev_other test_clean test_other"
#   PRETRAIN_OVERRIDES, FINETUNE_OVERRIDES   extra hydra overrides, space-separated
#
# Every stage can be rerun: fairseq-hydra-train resumes from checkpoint_last.pt (and stops
# at once when max_update is reached); decoding skips splits already scored.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../recipe_lib.sh"
WORK=${WORK:-exp/librispeech}
DATA=$WORK/manifests
FINETUNES=${FINETUNES:-"100h 10h"}
TEST_SETS=${TEST_SETS:-"dev_clean dev_other test_clean test_other"}

stage_prepare() {
  [[ -n ${LIBRISPEECH:-} ]] || { echo "set LIBRISPEECH=/path/to/LibriSpeech" >&2; exit 1; }
  PYTHON=$PYTHON bash examples/librispeech/prepare.sh "$LIBRISPEECH" "$DATA"
}

stage_pretrain() {
  local gpu; gpu=$(gpu_overrides 8)
  need "$DATA/train_960.tsv" "run the prepare stage"
  for system in $SYSTEMS; do
    log "pretrain ${system}_base_librispeech -> $WORK/checkpoints/$system"
    "$BIN/fairseq-hydra-train" "task.data=$DATA" "dataset.train_subset=train_960" \
      "dataset.valid_subset=dev_other" "checkpoint.save_dir=$WORK/checkpoints/$system" \
      $gpu "${PRETRAIN_EXTRA[@]}" \
      --config-dir config/pretraining --config-name "${system}_base_librispeech"
  done
}

stage_finetune() {
  local gpu; gpu=$(gpu_overrides 8)
  for system in $SYSTEMS; do
    pretrained=$WORK/checkpoints/$system/checkpoint_last.pt
    need "$pretrained" "run the pretrain stage"
    for hours in $FINETUNES; do
      log "fine-tune $system on $hours -> $WORK/checkpoints/${system}_ft_$hours"
      "$BIN/fairseq-hydra-train" "task.data=$DATA" "model.w2v_path=$pretrained" \
        "checkpoint.save_dir=$WORK/checkpoints/${system}_ft_$hours" \
        $gpu "${FINETUNE_EXTRA[@]}" \
        --config-dir config/finetuning --config-name "base_$hours"
    done
  done
}

decode_all() {  # decode_all NAME [fairseq-generate options...]
  local name=$1; shift
  for system in $SYSTEMS; do
    for hours in $FINETUNES; do
      score "$DATA" "$WORK/checkpoints/${system}_ft_$hours/checkpoint_best.pt" \
        "$WORK/results/${system}_ft_$hours/$name" "$TEST_SETS" "$@"
    done
  done
}

stage_decode() { decode_all greedy --ctc-decoder greedy; }
stage_decode_lm() { local options; options=$(lm_options); decode_all 4gram $options; }
stage_table() { results_table "$WORK/results"; }

run_stages "prepare pretrain finetune decode decode_lm table" "$@"
