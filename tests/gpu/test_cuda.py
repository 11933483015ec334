"""The model and fairseq's tools on a CUDA device (skipped where there is none).

CPU and GPU agree on everything deterministic (features, anchor labels, encoder output),
a batch's seed gives the same masks on the GPU, mixed-precision steps stay finite with the
enhanced targets' gradient intact, and ``fairseq-hydra-train`` pretrains under fairseq's AMP,
resumes, fine-tunes and decodes on the GPU. ``examples/benchmarks/gpu_check.sh`` times it."""

import copy
import math
import re

import pytest
import torch
from omegaconf import OmegaConf

from birq_fairseq.criterions.birq import BirqCriterion
from birq_fairseq.models.birq import BirqConfig, BirqModel
from birq_fairseq.modules.logmel import stack_frames
from birq_fairseq.modules.subsampling import SUBSAMPLING_FACTOR

from ..e2e.cli import (
    REPO_ROOT,
    finetune,
    generate,
    hypotheses,
    pretrain,
    train_metric,
    update_losses,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")
DEMO_CONFIG = REPO_ROOT / "config" / "pretraining" / "birq_demo.yaml"
SAMPLES = [48000, 40000]  # 3 s and 2.5 s


def demo_sized(**overrides) -> BirqConfig:
    """The model of config/pretraining/birq_demo.yaml, without dropout."""
    fields = OmegaConf.to_container(OmegaConf.load(DEMO_CONFIG).model)
    del fields["_name"]
    fields.update(dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, dropout_input=0.0)
    fields.update(overrides)
    return BirqConfig(**fields)


def padded_audio(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    source = torch.zeros(len(SAMPLES), max(SAMPLES))
    padding = torch.ones_like(source, dtype=torch.bool)
    for row, samples in enumerate(SAMPLES):
        source[row, :samples] = 0.1 * torch.randn(samples, generator=generator)
        padding[row, :samples] = False
    return source.to(device), padding.to(device)


@pytest.fixture
def exact_float32():
    """fp32 matmuls and convolutions without TF32, so CPU and GPU differ by rounding only."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_encoder_features_and_anchor_labels_match_cpu(exact_float32):
    torch.manual_seed(0)
    cpu_model = BirqModel(demo_sized()).eval()
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    outputs = {}
    for device, model in (("cpu", cpu_model), ("cuda", gpu_model)):
        source, padding = padded_audio(torch.device(device))
        with torch.no_grad():
            feats, lengths = model.frontend(source, padding)
            labels = model.anchor_quantizer(stack_frames(feats, SUBSAMPLING_FACTOR))
            encoded = model.extract_features(source, padding)
        outputs[device] = feats.cpu(), labels.cpu(), encoded["x"].cpu(), lengths.cpu()

    (cpu_feats, cpu_labels, cpu_x, cpu_len), (gpu_feats, gpu_labels, gpu_x, gpu_len) = (
        outputs["cpu"], outputs["cuda"]
    )
    assert torch.equal(cpu_len, gpu_len)
    torch.testing.assert_close(gpu_feats, cpu_feats, atol=1e-3, rtol=1e-4)
    # nearest-code search: a frame may sit on a tie between two codes, nothing more
    assert (gpu_labels == cpu_labels).float().mean() > 0.99
    torch.testing.assert_close(gpu_x, cpu_x, atol=2e-3, rtol=1e-3)


def test_the_batch_seed_fixes_masks_and_gumbel_picks_on_the_gpu():
    torch.manual_seed(0)
    model = BirqModel(demo_sized()).to(CUDA).train()
    source, padding = padded_audio(CUDA)
    with torch.no_grad():
        first = model(source, padding, rng_seed=7)
        again = model(source, padding, rng_seed=7)
        other = model(source, padding, rng_seed=8)
    assert torch.equal(first["anchor_targets"], again["anchor_targets"])
    assert torch.equal(first["enhanced_picks"], again["enhanced_picks"])
    assert first["anchor_targets"].shape != other["anchor_targets"].shape or not torch.equal(
        first["anchor_targets"], other["anchor_targets"]
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_step_is_finite_and_trains_through_the_targets(dtype):
    """Under autocast the loss and every gradient are finite, and the enhanced term alone
    (w2 = 0) reaches the layers below k through the targets as well as through the
    predictions: detaching the targets changes those layers' gradient."""
    grads = {}
    for detach in (False, True):
        torch.manual_seed(0)
        cfg = demo_sized(enhanced_weight=1.0, anchor_weight=0.0, detach_enhanced_targets=detach)
        model = BirqModel(cfg).to(CUDA).train()
        criterion = BirqCriterion(None, cfg.enhanced_weight, cfg.anchor_weight)
        source, padding = padded_audio(CUDA)
        sample = {"net_input": {"source": source, "padding_mask": padding, "rng_seed": 3}}
        with torch.autocast("cuda", dtype=dtype):
            loss = criterion(model, sample)[0]
        assert torch.isfinite(loss)
        loss.backward()
        for name, param in model.named_parameters():
            if param.grad is not None:
                assert torch.isfinite(param.grad).all(), name
        grads[detach] = torch.cat(
            [p.grad.float().flatten() for p in model.encoder.layers[0].parameters()]
        )
    assert grads[False].abs().sum() > 0
    assert not torch.allclose(grads[False], grads[True])


@pytest.mark.slow
def test_fairseq_pretrains_with_amp_resumes_finetunes_and_decodes_on_the_gpu(
    tiny_corpus, tmp_path
):
    pretrained = tmp_path / "pretrained"
    few = ("dataset.validate_interval_updates=100", "common.log_interval=1", "common.amp=true")
    log = pretrain("birq_demo", tiny_corpus / "pretrain", pretrained,
                   "optimization.max_update=4", "checkpoint.save_interval_updates=4", *few)
    assert "rank   0: capabilities" in log, "fairseq did not train on the GPU"
    losses = train_metric(log, "loss") + train_metric(log, "loss_enhanced")
    assert losses and all(math.isfinite(v) for v in losses)

    resumed = pretrain("birq_demo", tiny_corpus / "pretrain", pretrained,
                       "optimization.max_update=6", *few)
    assert sorted(update_losses(resumed)) == [5, 6], "resumed after update 4"
    state = torch.load(pretrained / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 6

    finetuned = tmp_path / "finetuned"
    finetune(tiny_corpus / "finetune", pretrained / "checkpoint_last.pt", finetuned,
             "optimization.max_update=6", "model.freeze_finetune_updates=2",
             "dataset.validate_interval_updates=6", "common.amp=true")
    results = tmp_path / "results"
    generate(tiny_corpus / "finetune", finetuned / "checkpoint_last.pt", "test", results)
    assert re.search(r"WER: [\d.]+", (results / "generate-test.txt").read_text())
    utterances = len((tiny_corpus / "finetune" / "test.tsv").read_text().splitlines()) - 1
    assert len(hypotheses(results, "test")) == utterances


@pytest.mark.slow
def test_paper_c2_configs_pretrain_and_finetune_at_full_size_on_one_gpu(tiny_corpus, tmp_path):
    """``birq_base_librispeech`` and ``base_10h`` as shipped (153 M parameters, 8192 codes,
    AMP, data-loader workers), on one GPU instead of 8 and the tiny corpus's split names; one
    checkpoint save per run (each is ~1.8 GB with the optimiser state)."""
    one_gpu = ("distributed_training.distributed_world_size=1", "optimization.max_update=3",
               "dataset.train_subset=train", "dataset.valid_subset=valid",
               "dataset.validate_interval_updates=3", "common.log_interval=1",
               "common.log_format=simple", "checkpoint.save_interval=1000")
    pretrained = tmp_path / "pretrained"
    log = pretrain("birq_base_librispeech", tiny_corpus / "pretrain", pretrained, *one_gpu)
    losses = train_metric(log, "loss") + train_metric(log, "loss_enhanced")
    assert losses and all(math.isfinite(v) for v in losses)
    state = torch.load(pretrained / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["model"]["enhanced_quantizer.quantizer.codebook"].shape[-2] == 8192
    assert sum(v.numel() for k, v in state["model"].items() if "quantizer" not in k) > 140e6

    finetuned = tmp_path / "finetuned"
    finetune(tiny_corpus / "finetune", pretrained / "checkpoint_last.pt", finetuned, *one_gpu,
             "model.freeze_finetune_updates=0", config="base_10h")
    results = tmp_path / "results"
    generate(tiny_corpus / "finetune", finetuned / "checkpoint_last.pt", "test", results)
    assert re.search(r"WER: [\d.]+", (results / "generate-test.txt").read_text())


@pytest.mark.slow
def test_pure_fp16_pretraining_keeps_losses_finite(tiny_corpus, tmp_path):
    """fairseq's ``common.fp16=true`` casts the whole model, quantizer buffers included, to
    half precision (dynamic loss scaling); the frontend, distances and losses stay float32."""
    log = pretrain("birq_demo", tiny_corpus / "pretrain", tmp_path, "common.fp16=true",
                   "optimization.max_update=6", "common.log_interval=1",
                   "dataset.validate_interval_updates=100")
    losses = train_metric(log, "loss") + train_metric(log, "loss_enhanced")
    assert losses and all(math.isfinite(v) for v in losses)
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 6
