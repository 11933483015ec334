"""``fairseq-hydra-train`` with the shipped pretraining configs, on real audio files."""

import math

import pytest
import torch

from .cli import (
    REPO_ROOT,
    pretrain,
    printed_metrics,
    tensorboard_scalars,
    train_metric,
    update_losses,
)

pytestmark = pytest.mark.slow

FEW_UPDATES = ("optimization.max_update=6", "dataset.validate_interval_updates=3",
               "checkpoint.save_interval_updates=3", "common.log_interval=1")


@pytest.mark.parametrize("config", ["birq_demo", "birq_demo_paper", "bestrq_demo"])
def test_demo_config_pretrains_and_writes_checkpoint(config, tiny_corpus, tmp_path):
    outputs_before = (REPO_ROOT / "outputs").exists()
    log = pretrain(config, tiny_corpus / "pretrain", tmp_path, *FEW_UPDATES)

    losses = train_metric(log, "loss")
    assert losses and all(math.isfinite(v) for v in losses)
    assert (REPO_ROOT / "outputs").exists() == outputs_before, "hydra wrote outputs/"
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["cfg"]["model"]["_name"] == "birq"
    assert state["optimizer_history"][-1]["num_updates"] == 6
    if config == "birq_demo":  # the measured default: a centred tenth of the target gradient
        assert state["cfg"]["model"]["enhanced_centred_target_gradient"] is True
        assert state["cfg"]["model"]["enhanced_target_grad_scale"] == 0.1
    if config == "birq_demo_paper":  # the published full, uncentred gradient
        assert state["cfg"]["model"]["enhanced_centred_target_gradient"] is False
        assert state["cfg"]["model"]["enhanced_target_grad_scale"] == 1.0
    weights = state["model"]
    assert "anchor_quantizer.codebook" in weights and "anchor_quantizer.projection" in weights
    has_enhanced = "enhanced_quantizer.quantizer.codebook" in weights
    birq = config.startswith("birq")
    assert has_enhanced == birq
    if birq:
        assert train_metric(log, "loss_enhanced"), "BiRQ logs its enhanced loss"
    else:
        assert not train_metric(log, "loss_enhanced"), "BEST-RQ has no enhanced loss"


def test_bf16_pretraining_on_cpu_keeps_losses_finite(tiny_corpus, tmp_path):
    """fairseq's pure-bf16 mode casts the model, quantizer buffers included; the frontend,
    the distances and the Gumbel pick still run in float32."""
    log = pretrain(
        "birq_demo", tiny_corpus / "pretrain", tmp_path, "common.bf16=true",
        "optimization.max_update=2", "dataset.max_tokens=64000", "task.max_sample_size=64000",
        "common.log_interval=1",
        "dataset.validate_interval_updates=100",
    )
    losses = train_metric(log, "loss") + train_metric(log, "loss_enhanced")
    assert losses and all(math.isfinite(v) for v in losses)


def test_batch_too_small_for_the_longest_crop_is_refused_with_the_fix(tiny_corpus, tmp_path):
    with pytest.raises(AssertionError, match=r"raise dataset.max_tokens to at least \d+"):
        pretrain("birq_demo", tiny_corpus / "pretrain", tmp_path, "dataset.max_tokens=64000",
                 "optimization.max_update=1")


def test_data_loader_workers_give_the_same_batches_and_losses(tiny_corpus, tmp_path):
    """The paper configs load audio in worker processes (``dataset.num_workers``); crops and
    masks are seeded per batch, so the run matches one that loads in the main process."""
    runs = {}
    for workers in (0, 2):
        log = pretrain("birq_demo", tiny_corpus / "pretrain", tmp_path / f"workers{workers}",
                       f"dataset.num_workers={workers}", "optimization.max_update=4",
                       "common.log_interval=1", "dataset.validate_interval_updates=100")
        runs[workers] = update_losses(log)
    assert sorted(runs[0]) == [1, 2, 3, 4]
    assert runs[2] == runs[0]


def test_tensorboard_gets_the_training_and_validation_scalars(tiny_corpus, tmp_path):
    """``common.tensorboard_logdir`` with what ``make install`` installs (tensorboardX):
    every metric fairseq prints at the end of training and validation is in the event files,
    per update too, and nothing asks for a TensorBoard package."""
    data = tiny_corpus / "pretrain"
    logdir = tmp_path / "tensorboard"
    log = pretrain("birq_demo", data, tmp_path / "checkpoints", "optimization.max_update=2",
                   "common.log_interval=1", "dataset.validate_interval_updates=2",
                   "++task.phone_alignments=phn", f"common.tensorboard_logdir={logdir}")

    assert "tensorboardX" not in log and "tensorboard not found" not in log
    runs = tensorboard_scalars(logdir)
    trained = {"loss", "loss_anchor", "loss_enhanced", "acc_anchor", "acc_enhanced",
               "anchor_codes_used", "enhanced_codes_used"}
    label_quality = {"pnmi_anchor", "pnmi_enhanced", "phone_purity_anchor"}
    validated = trained | (label_quality if (data / "valid.phn").exists() else set())
    for run, printed, expected in (("train", printed_metrics(log), trained),
                                   ("valid", printed_metrics(log, "valid"), validated)):
        assert expected <= printed, f"fairseq did not print {expected - printed} for {run}"
        assert printed - {"num_updates"} <= runs[run].keys(), f"missing in TensorBoard {run}"
        assert all(steps[-1][0] == 2 for steps in runs[run].values())
    per_update = runs["train_inner"]
    assert [step for step, _ in per_update["loss"]] == [1, 2]
    assert all(math.isfinite(value) for _, value in per_update["loss_enhanced"])

