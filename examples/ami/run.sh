#!/usr/bin/env bash
# The paper's large-corpus recipe: pretrain C3 (attention window 200) BiRQ and BEST-RQ on
# any large corpus given as wav2vec manifests (the paper: YODAS English, 5k h) -> CTC
# fine-tune on AMI IHM + SDM (150 h) -> decode AMI eval IHM and SDM -> a results table.
#
# Usage: run.sh STAGE [STAGE ...]   stages: prepare pretrain finetune decode decode_lm table
#                                   ("all" runs every stage in order)
# Settings (environment variables):
#   AMI_AUDIO        the amicorpus folder (MEETING/audio/MEETING.Headset-N.wav, ...)
#   AMI_ANNOTATIONS  the unpacked ami_public_manual_1.6.2 (words/, segments/, ...)
#   PRETRAIN_DATA    folder with the pretraining manifests train.tsv and valid.tsv (make
#                    them with python -m birq_fairseq.data.prepare_corpus or
#                    fairseq's wav2vec_manifest.py)                         [stage pretrain]
#   WORK             where manifests/, checkpoints/ and results/ go (default exp/ami)
#   LM               a word n-gram LM (ARPA or KenLM binary)                [stage decode_lm]
#   LM_WEIGHT, WORD_SCORE, BEAM   LM decoding (default 2.0, -1.0, 500; tune on dev)
#   NGPUS            GPUs per run on this node (default: all visible, at most 8); the C3
#                    configs are sized for 16 GPUs, ami_150h for 8
#   SYSTEMS          default "birq bestrq"
#   TEST_SETS        default "dev_ihm dev_sdm eval_ihm eval_sdm"
#   PRETRAIN_OVERRIDES, FINETUNE_OVERRIDES   extra hydra overrides, space-separated
#
# Every stage can be rerun: segments already cut are kept, fairseq-hydra-train resumes
# from checkpoint_last.pt, decoding skips splits already scored.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../recipe_lib.sh"
WORK=${WORK:-exp/ami}
DATA=$WORK/manifests
TEST_SETS=${TEST_SETS:-"dev_ihm dev_sdm eval_ihm eval_sdm"}

stage_prepare() {
  [[ -n ${AMI_AUDIO:-} && -n ${AMI_ANNOTATIONS:-} ]] || {
    echo "set AMI_AUDIO=/path/to/amicorpus AMI_ANNOTATIONS=/path/to/ami_public_manual_1.6.2" >&2
    exit 1; }
  "$PYTHON" -m birq_fairseq.data.ami --audio "$AMI_AUDIO" --annotations "$AMI_ANNOTATIONS" \
    --dest "$DATA"
}

stage_pretrain() {
  local gpu; gpu=$(gpu_overrides 16)
  [[ -n ${PRETRAIN_DATA:-} ]] || { echo "set PRETRAIN_DATA=/path/to/manifests" >&2; exit 1; }
  need "$PRETRAIN_DATA/train.tsv" "PRETRAIN_DATA must hold train.tsv and valid.tsv"
  for system in $SYSTEMS; do
    log "pretrain ${system}_large_yodas -> $WORK/checkpoints/$system"
    "$BIN/fairseq-hydra-train" "task.data=$PRETRAIN_DATA" \
      "checkpoint.save_dir=$WORK/checkpoints/$system" $gpu "${PRETRAIN_EXTRA[@]}" \
      --config-dir config/pretraining --config-name "${system}_large_yodas"
  done
}

stage_finetune() {
  local gpu; gpu=$(gpu_overrides 8)
  need "$DATA/train_ihm_sdm.tsv" "run the prepare stage"
  for system in $SYSTEMS; do
    pretrained=$WORK/checkpoints/$system/checkpoint_last.pt
    need "$pretrained" "run the pretrain stage"
    log "fine-tune $system on AMI 150 h -> $WORK/checkpoints/${system}_ft_ami"
    "$BIN/fairseq-hydra-train" "task.data=$DATA" "model.w2v_path=$pretrained" \
      "checkpoint.save_dir=$WORK/checkpoints/${system}_ft_ami" $gpu "${FINETUNE_EXTRA[@]}" \
      --config-dir config/finetuning --config-name ami_150h
  done
}

decode_all() {  # decode_all NAME [fairseq-generate options...]
  local name=$1; shift
  for system in $SYSTEMS; do
    score "$DATA" "$WORK/checkpoints/${system}_ft_ami/checkpoint_best.pt" \
      "$WORK/results/${system}_ft_ami/$name" "$TEST_SETS" "$@"
  done
}

stage_decode() { decode_all greedy --ctc-decoder greedy; }
stage_decode_lm() { local options; options=$(lm_options); decode_all lm $options; }
stage_table() { results_table "$WORK/results"; }

run_stages "prepare pretrain finetune decode decode_lm table" "$@"
