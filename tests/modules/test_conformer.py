"""Conformer encoder: padding invariance for every position encoding, rotary embeddings
against a numpy rotation, and the local attention window."""

import numpy as np
import pytest
import torch

from birq_fairseq.modules.conformer import (
    ConformerEncoder,
    ConformerLayer,
    MultiHeadSelfAttention,
    apply_rotary,
    rotary_tables,
)

DIM, FFN, HEADS = 16, 32, 2


def build_encoder(
    pos_enc_type: str, attention_window: int = 0, layers: int = 2, kernel: int = 5
) -> ConformerEncoder:
    torch.manual_seed(0)
    encoder = ConformerEncoder(
        [
            ConformerLayer(
                DIM, FFN, HEADS, kernel, 0.1, 0.1, 0.1, pos_enc_type, 4, attention_window
            )
            for _ in range(layers)
        ],
        layerdrop=0.0,
        checkpoint_layers=False,
    )
    if pos_enc_type == "rel_pos":
        # A zero-initialised bias would hide a wrong relative-distance lookup.
        for layer in encoder.layers:
            torch.nn.init.normal_(layer.attention.relative_bias.weight)
    return encoder.eval()


@pytest.mark.parametrize(
    "pos_enc_type, attention_window",
    [("rope", 0), ("rel_pos", 0), ("none", 0), ("rope", 6), ("rel_pos", 6)],
)
def test_padded_batch_matches_each_utterance_alone(pos_enc_type, attention_window):
    """Padded frames must not reach valid ones through attention or the depthwise conv."""
    encoder = build_encoder(pos_enc_type, attention_window)
    lengths = [19, 12, 5]
    x = torch.randn(3, 19, DIM, generator=torch.Generator().manual_seed(1))
    padding_mask = torch.arange(19)[None, :] >= torch.tensor(lengths)[:, None]
    # Garbage in the padding must not matter either.
    garbage = 100 * torch.randn(x.shape, generator=torch.Generator().manual_seed(6))
    x = torch.where(padding_mask[..., None], garbage, x)

    with torch.no_grad():
        batched = encoder(x, padding_mask)
        for b, length in enumerate(lengths):
            alone = encoder(x[b : b + 1, :length], None)
            torch.testing.assert_close(batched[b : b + 1, :length], alone, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(batched[~padding_mask]).all()


def numpy_rotate(x: np.ndarray, position: int, base: float = 10000.0) -> np.ndarray:
    """RoPE on one vector (D,): channel pair (i, i + D/2) rotated by position * base^(-2i/D)."""
    half = x.shape[0] // 2
    angles = position * base ** (-2.0 * np.arange(half) / x.shape[0])
    first, second = x[:half], x[half:]
    return np.concatenate(
        [first * np.cos(angles) - second * np.sin(angles),
         first * np.sin(angles) + second * np.cos(angles)]
    )


def test_rotary_embedding_matches_numpy_rotation_and_preserves_norms():
    frames, head_dim = 12, 8
    x = torch.randn(2, 3, frames, head_dim, generator=torch.Generator().manual_seed(2))
    cos, sin = rotary_tables(frames, head_dim, torch.device("cpu"))

    rotated = apply_rotary(x, cos, sin)

    for t in range(frames):
        expected = numpy_rotate(x[1, 2, t].double().numpy(), t)
        np.testing.assert_allclose(rotated[1, 2, t].numpy(), expected, atol=1e-5)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    assert not torch.allclose(rotated[..., 1:, :], x[..., 1:, :])


def test_rotary_dot_product_depends_only_on_relative_offset():
    """<R_m q, R_n k> is the same for every (m, n) with the same m - n."""
    frames, head_dim = 30, 8
    generator = torch.Generator().manual_seed(3)
    q, k = torch.randn(2, head_dim, generator=generator)
    cos, sin = rotary_tables(frames, head_dim, torch.device("cpu"))
    rotated_q = apply_rotary(q.expand(1, 1, frames, head_dim), cos, sin)[0, 0]
    rotated_k = apply_rotary(k.expand(1, 1, frames, head_dim), cos, sin)[0, 0]
    scores = rotated_q @ rotated_k.T  # scores[m, n] = <R_m q, R_n k>

    for offset in (-7, 0, 3, 11):
        diagonal = torch.diagonal(scores, offset=-offset)  # entries with m - n = offset
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal), atol=1e-4, rtol=0)
        m = max(offset, 0)
        q_m = numpy_rotate(q.double().numpy(), m)
        expected = q_m @ numpy_rotate(k.double().numpy(), m - offset)
        assert diagonal[0].item() == pytest.approx(expected, abs=1e-4)
    assert scores.diagonal(offset=-3)[0] != pytest.approx(scores.diagonal(0)[0].item(), abs=1e-3)


@pytest.mark.parametrize("pos_enc_type", ["rope", "rel_pos", "none"])
def test_attention_window_blocks_far_frames(pos_enc_type):
    """With attention_window = 6 frame 0 sees frames 0..3 only: changing frame 4 leaves
    its output alone, changing frame 3 does not."""
    torch.manual_seed(4)
    attention = MultiHeadSelfAttention(DIM, HEADS, 0.0, pos_enc_type, 4, attention_window=6)
    attention.eval()
    x, change = torch.randn(2, 1, 10, DIM).unbind(0)

    def output_at_0_after_changing(frame: int) -> torch.Tensor:
        changed = x.clone()
        changed[0, frame] += 3 * change[0, frame]
        return attention(changed, None)[0, 0]

    with torch.no_grad():
        reference = attention(x, None)[0, 0]
        torch.testing.assert_close(output_at_0_after_changing(4), reference, atol=0, rtol=0)
        torch.testing.assert_close(output_at_0_after_changing(9), reference, atol=0, rtol=0)
        assert (output_at_0_after_changing(3) - reference).abs().max() > 1e-3


def test_encoder_with_window_and_pointwise_conv_has_bounded_receptive_field():
    """Two layers of window 6 (+-3) and conv kernel 1: frame 0 depends on frames 0..6 only."""
    encoder = build_encoder("rope", attention_window=6, layers=2, kernel=1)
    # A random change: a constant shift of all channels would vanish in the pre-LayerNorms.
    x, change = torch.randn(2, 1, 12, DIM, generator=torch.Generator().manual_seed(5)).unbind(0)

    with torch.no_grad():
        reference = encoder(x, None)[0, 0]
        far, near = x.clone(), x.clone()
        far[0, 7] += 3 * change[0, 7]
        near[0, 6] += 3 * change[0, 6]
        torch.testing.assert_close(encoder(far, None)[0, 0], reference, atol=0, rtol=0)
        assert (encoder(near, None)[0, 0] - reference).abs().max() > 1e-4


def test_layer_range_runs_compose_to_the_full_stack():
    """Running layers [0, k) then [k, K) equals one full run, and layer_results holds each
    layer's output (BiRQ splits the encoder at layer k)."""
    encoder = build_encoder("rope", layers=3)
    x = torch.randn(2, 8, DIM)

    with torch.no_grad():
        results: list[torch.Tensor] = []
        full = encoder(x, None, layer_results=results)
        split = encoder(encoder(x, None, 0, 2), None, 2, None)

    torch.testing.assert_close(split, full)
    assert len(results) == 3 and torch.equal(results[-1], full)


def test_odd_kernel_and_dividing_heads_are_required():
    with pytest.raises(ValueError, match="conv_kernel_size"):
        ConformerLayer(DIM, FFN, HEADS, 4, 0.0, 0.0, 0.0, "rope", 4, 0)
    with pytest.raises(ValueError, match="encoder_attention_heads"):
        ConformerLayer(DIM, FFN, 3, 5, 0.0, 0.0, 0.0, "rope", 4, 0)


@pytest.mark.parametrize(
    "pos_enc_type, attention_window",
    [("rope", 0), ("rel_pos", 0), ("none", 0), ("rope", 6), ("rel_pos", 6)],
)
@pytest.mark.parametrize("padded", [False, True])
def test_inputs_built_once_per_stack_match_per_layer_inputs(
    pos_enc_type, attention_window, padded
):
    """The stack's one mask and table build gives what each layer building its own gave."""
    encoder = build_encoder(pos_enc_type, attention_window, layers=3)
    x = torch.randn(3, 15, DIM, generator=torch.Generator().manual_seed(7))
    padding_mask = None
    if padded:
        padding_mask = torch.arange(15)[None, :] >= torch.tensor([15, 9, 4])[:, None]

    with torch.no_grad():
        shared = encoder(x, padding_mask)
        per_layer = x
        for layer in encoder.layers:  # each layer builds its own mask and tables
            per_layer = layer(per_layer, padding_mask)

    torch.testing.assert_close(shared, per_layer, atol=1e-6, rtol=1e-6)


def test_sdpa_gets_no_mask_without_padding_and_a_broadcast_bool_mask_with_it(monkeypatch):
    """attn_mask=None keeps the fused kernels eligible; a padding mask stays (B, 1, 1, T)
    rather than a materialised (B, H, T, T)."""
    from birq_fairseq.modules import conformer

    masks = []
    sdpa = conformer.F.scaled_dot_product_attention

    def spy(query, key, value, attn_mask=None, **kwargs):
        masks.append(attn_mask)
        return sdpa(query, key, value, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(conformer.F, "scaled_dot_product_attention", spy)
    encoder = build_encoder("rope")
    x = torch.randn(3, 10, DIM)
    padding_mask = torch.arange(10)[None, :] >= torch.tensor([10, 7, 3])[:, None]
    with torch.no_grad():
        encoder(x, None)
        unpadded, masks[:] = list(masks), []
        encoder(x, padding_mask)

    assert unpadded == [None, None]
    assert [(m.dtype, tuple(m.shape)) for m in masks] == [(torch.bool, (3, 1, 1, 10))] * 2


def test_checkpointed_layers_give_the_eager_loss_and_gradients():
    encoder = build_encoder("rope", layers=2)
    for module in encoder.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    for layer in encoder.layers:
        layer.attention.dropout = 0.0
    encoder.train()
    x = torch.randn(2, 9, DIM, generator=torch.Generator().manual_seed(8))
    padding_mask = torch.arange(9)[None, :] >= torch.tensor([9, 5])[:, None]

    def loss_and_grads(checkpoint_layers: bool):
        encoder.checkpoint_layers = checkpoint_layers
        encoder.zero_grad()
        loss = encoder(x, padding_mask).square().sum()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in encoder.parameters()]

    eager_loss, eager_grads = loss_and_grads(False)
    loss, grads = loss_and_grads(True)
    torch.testing.assert_close(loss, eager_loss)
    for grad, eager_grad in zip(grads, eager_grads):
        torch.testing.assert_close(grad, eager_grad)


def test_layers_with_different_attention_settings_are_refused():
    layers = [
        ConformerLayer(DIM, FFN, HEADS, 5, 0.0, 0.0, 0.0, pos, 4, 0) for pos in ("rope", "none")
    ]
    with pytest.raises(ValueError, match="attention settings"):
        ConformerEncoder(layers, layerdrop=0.0, checkpoint_layers=False)
