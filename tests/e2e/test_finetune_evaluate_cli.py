"""The researcher's loop with fairseq's own tools: pretrain with the plugin, fine-tune with
stock ``audio_finetuning`` + ``wav2vec_ctc`` + ``ctc``, score with ``fairseq-generate``."""

import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from .cli import finetune, generate, hypotheses, pretrain, run_cli, train_metric

pytestmark = pytest.mark.slow

FINETUNE_UPDATES = 8


@pytest.fixture(scope="module")
def pretrained(tiny_corpus, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("pretrained")
    pretrain(
        "birq_demo",
        tiny_corpus / "pretrain",
        save_dir,
        "optimization.max_update=4",
        "dataset.validate_interval_updates=100",
    )
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def finetuned(tiny_corpus, pretrained, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("finetuned")
    log = finetune(
        tiny_corpus / "finetune",
        pretrained,
        save_dir,
        f"optimization.max_update={FINETUNE_UPDATES}",
        "model.freeze_finetune_updates=2",
        "dataset.validate_interval_updates=4",
        "checkpoint.save_interval_updates=4",
        "common.log_interval=1",
    )
    return save_dir, log


def test_stock_ctc_finetuning_loads_the_pretrained_checkpoint(finetuned):
    save_dir, log = finetuned
    losses = train_metric(log, "loss")
    assert losses and all(math.isfinite(v) for v in losses)
    assert re.search(r"valid on 'valid' subset .*\| wer ", log), "stock CTC validation ran"
    state = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["cfg"]["model"]["_name"] == "wav2vec_ctc"
    assert state["cfg"]["task"]["_name"] == "audio_finetuning"
    assert state["cfg"]["criterion"]["_name"] == "ctc"
    encoder_keys = [k for k in state["model"] if k.startswith("w2v_encoder.w2v_model.")]
    assert any(".encoder.layers.0." in k for k in encoder_keys)
    assert not any("quantizer" in k or "_head" in k for k in encoder_keys)


def test_fairseq_generate_scores_every_test_utterance(tiny_corpus, finetuned, tmp_path):
    save_dir, _ = finetuned
    data = tiny_corpus / "finetune"
    output = generate(data, save_dir / "checkpoint_last.pt", "test", tmp_path)
    assert "Translated" in output
    results = (tmp_path / "generate-test.txt").read_text()
    wer = re.search(r"WER: ([\d.]+)", results)
    assert wer and float(wer.group(1)) >= 0
    num_utterances = len((data / "test.tsv").read_text().splitlines()) - 1
    assert len(hypotheses(tmp_path, "test")) == num_utterances
    assert results.count("\nT-") + results.startswith("T-") == num_utterances


def test_decoding_does_not_depend_on_batch_size(tiny_corpus, finetuned, tmp_path):
    """Padding in a batch of 8 must not change any utterance's scores or hypothesis."""
    save_dir, _ = finetuned
    data = tiny_corpus / "finetune"
    checkpoint = save_dir / "checkpoint_last.pt"
    generate(data, checkpoint, "test", tmp_path / "one", "--batch-size", "1")
    generate(data, checkpoint, "test", tmp_path / "eight", "--batch-size", "8")
    alone = hypotheses(tmp_path / "one", "test")
    batched = hypotheses(tmp_path / "eight", "test")
    assert alone.keys() == batched.keys()
    for utt, (score, text) in alone.items():
        assert batched[utt][1] == text
        assert batched[utt][0] == pytest.approx(score, rel=1e-4, abs=1e-3)


def test_finetuning_resumes_from_its_last_checkpoint(tiny_corpus, pretrained, finetuned):
    save_dir, _ = finetuned
    log = finetune(
        tiny_corpus / "finetune",
        pretrained,
        save_dir,
        f"optimization.max_update={FINETUNE_UPDATES + 2}",
        "model.freeze_finetune_updates=2",
        "dataset.validate_interval_updates=100",
        "common.log_interval=1",
    )
    assert re.search(rf"Loaded checkpoint .*\(epoch \d+ @ {FINETUNE_UPDATES} updates\)", log)
    state = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == FINETUNE_UPDATES + 2


def test_generate_refuses_a_missing_split(tiny_corpus, finetuned, tmp_path):
    save_dir, _ = finetuned
    with pytest.raises(AssertionError, match="no_such_split"):
        run_cli(
            "fairseq-generate", str(tiny_corpus / "finetune"), "--user-dir", "birq_fairseq",
            "--task", "birq_ctc_eval", "--path", str(save_dir / "checkpoint_last.pt"),
            "--gen-subset", "no_such_split", "--max-tokens", "4000000",
        )


def test_fairseq_generate_decodes_with_a_beam_and_a_word_lm(tiny_corpus, finetuned, tmp_path):
    """The documented LM command line: an ARPA LM built from the fine-tuning transcripts,
    --ctc-decoder beam with --lm-path/--lm-weight/--word-score and fairseq's --beam."""
    save_dir, _ = finetuned
    data = tiny_corpus / "finetune"
    lm = tmp_path / "lm.arpa"
    run_cli(str(Path(sys.executable).name), "-m", "birq_fairseq.lm.build_arpa", "--order", "3",
            "--out", str(lm), str(data / "train.wrd"))
    generate(data, save_dir / "checkpoint_last.pt", "test", tmp_path, "--ctc-decoder", "beam",
             "--lm-path", str(lm), "--lm-weight", "0.5", "--word-score", "1.0", "--beam", "16")
    results = (tmp_path / "generate-test.txt").read_text()
    assert re.search(r"WER: [\d.]+", results)
    num_utterances = len((data / "test.tsv").read_text().splitlines()) - 1
    assert len(hypotheses(tmp_path, "test")) == num_utterances


def test_lm_options_without_beam_are_refused(tiny_corpus, finetuned, tmp_path):
    save_dir, _ = finetuned
    with pytest.raises(AssertionError, match="add --ctc-decoder beam"):
        generate(tiny_corpus / "finetune", save_dir / "checkpoint_last.pt", "test", tmp_path,
                 "--lm-path", str(tmp_path))


def test_features_export_from_a_finetuned_checkpoint(tiny_corpus, finetuned, tmp_path):
    """export_features reads the birq encoder inside a stock wav2vec_ctc checkpoint."""
    save_dir, _ = finetuned
    checkpoint = save_dir / "checkpoint_last.pt"
    run_cli(str(Path(sys.executable).name), "-m", "birq_fairseq.export_features",
            str(checkpoint), str(tiny_corpus / "finetune"), "valid", str(tmp_path),
            "--layer", "4")
    features = np.load(tmp_path / "valid_0_1.npy")
    lengths = [int(n) for n in (tmp_path / "valid_0_1.len").read_text().split()]
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert features.shape == (sum(lengths), state["cfg"]["model"]["w2v_args"]["model"][
        "encoder_embed_dim"])
    assert np.isfinite(features).all()
