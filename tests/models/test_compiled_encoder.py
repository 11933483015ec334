"""``compile_encoder``: the compiled subsampling and Conformer layers train like the eager
ones and leave the checkpoint format alone. One tiny model, compiled once per shape (tens of
seconds on two CPU cores)."""

import shutil

import pytest
import torch

from birq_fairseq.criterions.birq import BirqCriterion
from birq_fairseq.models.birq import BirqConfig, BirqModel

pytestmark = pytest.mark.skipif(
    not hasattr(torch, "compile") or shutil.which("g++") is None,
    reason="needs torch.compile and a C++ compiler for inductor's CPU kernels",
)

TINY = dict(
    encoder_layers=2,
    encoder_embed_dim=16,
    encoder_ffn_embed_dim=32,
    encoder_attention_heads=2,
    subsampling_channels=4,
    conv_kernel_size=3,
    codebook_size=16,
    enhanced_weight=0.0,
    anchor_weight=1.0,
    dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    mask_length=2,
)


def build(compile_encoder: bool, **overrides) -> BirqModel:
    torch.manual_seed(0)
    return BirqModel(BirqConfig(**{**TINY, **overrides}, compile_encoder=compile_encoder)).train()


def loss_and_grads(model: BirqModel, samples: int) -> tuple[torch.Tensor, dict]:
    source = 0.1 * torch.randn(2, samples, generator=torch.Generator().manual_seed(samples))
    criterion = BirqCriterion(None, 0.0, 1.0)
    model.zero_grad(set_to_none=True)
    loss = criterion(model, {"net_input": {"source": source, "rng_seed": 7}})[0]
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def test_compiled_layers_give_eager_loss_and_gradients_and_keep_state_dict_keys():
    eager, compiled = build(False), build(True)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    assert not any("_orig_mod" in key for key in compiled.state_dict())

    eager_loss, eager_grads = loss_and_grads(eager, 8000)
    loss, grads = loss_and_grads(compiled, 8000)

    torch.testing.assert_close(loss, eager_loss, rtol=1e-4, atol=1e-6)
    assert grads.keys() == eager_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, eager_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    # The compiled subsampling leaves contiguous gradients (fairseq flattens them).
    assert grads["subsampling.conv2.weight"].is_contiguous()
    # A batch of another length recompiles (or reuses a dynamic graph), never fails.
    other_loss, _ = loss_and_grads(compiled, 6400)
    torch.testing.assert_close(other_loss, loss_and_grads(eager, 6400)[0], rtol=1e-4, atol=1e-6)
    BirqModel(BirqConfig(**TINY)).load_state_dict(compiled.state_dict())


def test_with_eager_random_the_compiled_layers_draw_eager_dropout_masks():
    """On CPU the layers compile with inductor's ``fallback_random``: with dropout on,
    the same seed gives the eager loss and gradients (the same masks)."""
    dropout = dict(dropout=0.1, attention_dropout=0.1, activation_dropout=0.1)
    eager = build(False, **dropout)
    compiled = build(False, **dropout)
    compiled.encoder.compile_layers(eager_random=True)
    torch.manual_seed(5)
    eager_loss, eager_grads = loss_and_grads(eager, 8000)
    torch.manual_seed(5)
    loss, grads = loss_and_grads(compiled, 8000)
    torch.testing.assert_close(loss, eager_loss, rtol=1e-4, atol=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, eager_grads[name], rtol=1e-4, atol=1e-5, msg=name)
    # Without it, inductor's own random kernels draw other masks: the check can fail.
    other = build(False, **dropout)
    other.encoder.compile_layers(eager_random=False)
    torch.manual_seed(5)
    assert not torch.allclose(loss_and_grads(other, 8000)[0], eager_loss, rtol=1e-4)


def test_eager_random_accepts_a_compile_mode():
    """torch.compile refuses a mode together with options: the mode's own options are used."""
    model = build(False)
    model.encoder.compile_layers(eager_random=True, mode="max-autotune-no-cudagraphs")
    eager_loss, _ = loss_and_grads(build(False), 8000)
    torch.testing.assert_close(loss_and_grads(model, 8000)[0], eager_loss, rtol=1e-4, atol=1e-6)
