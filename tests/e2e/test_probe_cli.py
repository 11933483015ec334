"""The frozen-encoder probe (``config/finetuning/probe_demo.yaml``): stock CTC fine-tuning
in which only the CTC head trains."""

import math
import re

import pytest
import torch

from .cli import finetune, generate, pretrain, train_metric

pytestmark = pytest.mark.slow

PREFIX = "w2v_encoder.w2v_model."


def test_probe_trains_only_the_ctc_head_and_leaves_the_encoder_bit_identical(
    tiny_corpus, tmp_path
):
    pretrain("bestrq_demo", tiny_corpus / "pretrain", tmp_path / "pre",
             "optimization.max_update=2", "dataset.validate_interval_updates=100")
    pretrained = torch.load(tmp_path / "pre" / "checkpoint_last.pt", map_location="cpu",
                            weights_only=False)
    log = finetune(tiny_corpus / "finetune", tmp_path / "pre" / "checkpoint_last.pt",
                   tmp_path / "probe", "optimization.max_update=6", "common.log_interval=1",
                   "dataset.validate_interval_updates=6", config="probe_demo")
    probed = torch.load(tmp_path / "probe" / "checkpoint_last.pt", map_location="cpu",
                        weights_only=False)

    encoder = {k[len(PREFIX):]: v for k, v in probed["model"].items() if k.startswith(PREFIX)}
    assert encoder, "the fine-tuned model holds the encoder"
    for name, weight in encoder.items():
        assert torch.equal(weight, pretrained["model"][name]), f"{name} changed"
    head = {k: v for k, v in probed["model"].items() if not k.startswith(PREFIX)}
    assert set(head) == {"w2v_encoder.proj.weight", "w2v_encoder.proj.bias"}
    # The optimiser kept moments for the head's two tensors only: nothing else had a gradient.
    moments = probed["last_optimizer_state"]["state"]
    assert sorted(tuple(s["exp_avg"].shape) for s in moments.values()) == sorted(
        tuple(v.shape) for v in head.values())
    assert all(math.isfinite(v) for v in train_metric(log, "loss"))
    assert "valid on 'valid' subset" in log and "| uer " in log

    generate(tiny_corpus / "finetune", tmp_path / "probe" / "checkpoint_last.pt", "test_synth",
             tmp_path / "results")
    assert re.search(r"WER: [\d.]+", (tmp_path / "results" / "generate-test_synth.txt").read_text())
