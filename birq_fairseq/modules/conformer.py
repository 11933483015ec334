"""Conformer encoder on ``torch.nn.functional.scaled_dot_product_attention``.

Written here rather than taken from fairseq: fairseq's wav2vec2 Conformer crashes when
built with relative or rotary positions, and its ``ConformerEncoderLayer`` uses
BatchNorm in the convolution module (statistics that depend on the batch and its padding)
and an attention path that cannot use fused kernels. This one uses LayerNorm, zeroes
padded frames before the depthwise convolution, and lets PyTorch pick the fastest
attention kernel.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

ROPE_BASE = 10000.0


def rotary_tables(frames: int, head_dim: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin tables (T, head_dim / 2) of rotary position embeddings."""
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, device=device).float() / head_dim)
    angles = torch.arange(frames, device=device).float()[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotates channel pairs (first half, second half) of x (B, H, T, D) by position."""
    first, second = x.float().chunk(2, dim=-1)
    rotated = torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)
    return rotated.to(x.dtype)


class AttentionInputs(NamedTuple):
    """What every layer's attention needs besides its input, built once per encoder
    forward rather than in each layer (host time and small kernels per step)."""

    keep: Tensor | None  # bool (B|1, 1, 1|T, T), True = may attend; None = attend to all
    cos: Tensor | None  # rope: (T, head_dim / 2)
    sin: Tensor | None
    relative: Tensor | None  # rel_pos: (T, T) index of each clipped distance into the bias


class MultiHeadSelfAttention(nn.Module):
    """Self-attention with rotary (``rope``), learned clipped relative (``rel_pos``) or no
    position information, and an optional local window.

    ``rel_pos`` adds a learned per-head bias for each distance clipped to
    ``max_relative_position`` frames (Shaw et al., as a bias as in T5). ``attention_window``
    > 0 lets each frame see only frames at most ``attention_window // 2`` away.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float,
        pos_enc_type: str,
        max_relative_position: int,
        attention_window: int,
    ):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(
                f"encoder_embed_dim={embed_dim} is not divisible by "
                f"encoder_attention_heads={num_heads}"
            )
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.pos_enc_type = pos_enc_type
        self.max_relative_position = max_relative_position
        self.attention_window = attention_window
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        if pos_enc_type == "rel_pos":
            self.relative_bias = nn.Embedding(2 * max_relative_position + 1, num_heads)

    def shared_inputs(
        self, frames: int, padding_mask: Tensor | None, device: torch.device
    ) -> AttentionInputs:
        """What attention needs besides x that depends only on the frames and padding (the
        same for every layer with these settings); see ``AttentionInputs``."""
        keep = None
        if padding_mask is not None:
            keep = (~padding_mask)[:, None, None, :]
        if self.attention_window > 0:
            positions = torch.arange(frames, device=device)
            distance = (positions[None, :] - positions[:, None]).abs()
            window = (distance <= self.attention_window // 2)[None, None]
            keep = window if keep is None else keep & window
            # A padded frame inside a window may see no valid frame; letting every frame see
            # itself keeps such rows finite (some fused kernels return NaN for empty rows).
            # Without a window the (B, 1, 1, T) padding mask never empties a row.
            keep = keep | torch.eye(frames, dtype=torch.bool, device=device)
        cos = sin = relative = None
        if self.pos_enc_type == "rope":
            cos, sin = rotary_tables(frames, self.head_dim, device)
        elif self.pos_enc_type == "rel_pos":
            positions = torch.arange(frames, device=device)
            relative = positions[None, :] - positions[:, None]
            limit = self.max_relative_position
            relative = relative.clamp(-limit, limit) + limit
        return AttentionInputs(keep, cos, sin, relative)

    def _attention_mask(self, inputs: AttentionInputs) -> Tensor | None:
        """The ``attn_mask`` of SDPA: None (no padding, no window, no bias: fused kernels
        stay eligible), the bool ``keep`` mask, or with ``rel_pos`` a float (1|B, H, T, T)
        bias with -inf where ``keep`` is False."""
        if self.pos_enc_type != "rel_pos":
            return inputs.keep
        bias = self.relative_bias(inputs.relative).permute(2, 0, 1).unsqueeze(0)
        if inputs.keep is None:
            return bias
        return bias.masked_fill(~inputs.keep, float("-inf"))

    def forward(
        self, x: Tensor, padding_mask: Tensor | None, inputs: AttentionInputs | None = None
    ) -> Tensor:
        """x (B, T, C), padding_mask (B, T) True = padded -> (B, T, C). ``inputs`` from
        ``shared_inputs`` (built here when not given)."""
        batch, frames, channels = x.shape
        if inputs is None:
            inputs = self.shared_inputs(frames, padding_mask, x.device)
        qkv = self.qkv(x).view(batch, frames, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.pos_enc_type == "rope":
            query = apply_rotary(query, inputs.cos, inputs.sin)
            key = apply_rotary(key, inputs.cos, inputs.sin)
        mask = self._attention_mask(inputs)
        if mask is not None and mask.dtype != torch.bool:
            mask = mask.to(query.dtype)
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, frames, channels))


class FeedForward(nn.Module):
    """Pre-LN position-wise feed-forward block with SiLU."""

    def __init__(self, embed_dim: int, hidden_dim: int, activation_dropout: float, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(embed_dim),
            nn.Linear(embed_dim, hidden_dim),
            nn.SiLU(),
            nn.Dropout(activation_dropout),
            nn.Linear(hidden_dim, embed_dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvolutionModule(nn.Module):
    """Pre-LN pointwise conv + GLU, depthwise conv, LayerNorm, SiLU, pointwise conv.

    Padded frames are zeroed before the depthwise convolution so they cannot leak into
    valid frames near the end of an utterance.
    """

    def __init__(self, embed_dim: int, kernel_size: int, dropout: float):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size={kernel_size} must be odd")
        self.layer_norm = nn.LayerNorm(embed_dim)
        self.pointwise_in = nn.Linear(embed_dim, 2 * embed_dim)
        self.depthwise = nn.Conv1d(
            embed_dim, embed_dim, kernel_size, padding=kernel_size // 2, groups=embed_dim
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.pointwise_out = nn.Linear(embed_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, padding_mask: Tensor | None) -> Tensor:
        x = F.glu(self.pointwise_in(self.layer_norm(x)), dim=-1)
        if padding_mask is not None:
            x = x.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        x = self.depthwise(x.transpose(1, 2)).transpose(1, 2)
        x = self.pointwise_out(F.silu(self.norm(x)))
        return self.dropout(x)


class ConformerLayer(nn.Module):
    """Macaron Conformer block: ½FFN, MHSA, conv, ½FFN, final LayerNorm (all pre-LN)."""

    def __init__(
        self,
        embed_dim: int,
        ffn_dim: int,
        num_heads: int,
        conv_kernel_size: int,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
        pos_enc_type: str,
        max_relative_position: int,
        attention_window: int,
    ):
        super().__init__()
        self.ffn1 = FeedForward(embed_dim, ffn_dim, activation_dropout, dropout)
        self.attn_layer_norm = nn.LayerNorm(embed_dim)
        self.attention = MultiHeadSelfAttention(
            embed_dim,
            num_heads,
            attention_dropout,
            pos_enc_type,
            max_relative_position,
            attention_window,
        )
        self.attn_dropout = nn.Dropout(dropout)
        self.conv = ConvolutionModule(embed_dim, conv_kernel_size, dropout)
        self.ffn2 = FeedForward(embed_dim, ffn_dim, activation_dropout, dropout)
        self.final_layer_norm = nn.LayerNorm(embed_dim)

    def forward(
        self, x: Tensor, padding_mask: Tensor | None, inputs: AttentionInputs | None = None
    ) -> Tensor:
        """x (B, T, C), padding_mask (B, T) True = padded -> (B, T, C); ``inputs`` as
        ``MultiHeadSelfAttention.forward`` takes them."""
        x = x + 0.5 * self.ffn1(x)
        x = x + self.attn_dropout(self.attention(self.attn_layer_norm(x), padding_mask, inputs))
        x = x + self.conv(x, padding_mask)
        x = x + 0.5 * self.ffn2(x)
        return self.final_layer_norm(x)


def inductor_options(eager_random: bool | None = None, **options) -> dict:
    """``torch.compile`` keyword arguments for the encoder's modules.

    ``eager_random`` (default: on a machine without CUDA) has inductor draw the dropout
    masks with aten's random operators (its ``fallback_random``), so they are eager's
    masks: on one CPU thread inductor's own random kernels made the compiled demo step
    1.24x eager, aten's 1.04x. On a GPU inductor's fused random kernels are faster."""
    if eager_random is None:
        eager_random = not torch.cuda.is_available()
    if eager_random:
        # torch.compile takes a mode or options, not both: a mode becomes its options.
        mode = options.pop("mode", None)
        mode_options = torch._inductor.list_mode_options(mode) if mode else {}
        options["options"] = {**mode_options, **options.get("options", {}),
                              "fallback_random": True}
    return options


class ConformerEncoder(nn.Module):
    """A stack of Conformer layers with LayerDrop and optional activation checkpointing.

    ``forward`` can run any contiguous range of layers, which lets BiRQ stop the unmasked
    pass at layer k and resume the masked pass from there. The attention mask and position
    tables are built once per call and shared by the layers, so every layer must have the
    same attention settings.
    """

    def __init__(self, layers: list[ConformerLayer], layerdrop: float, checkpoint_layers: bool):
        super().__init__()
        settings = {_attention_settings(layer.attention) for layer in layers}
        if len(settings) > 1:
            raise ValueError(f"layers differ in their attention settings: {sorted(settings)}")
        self.layers = nn.ModuleList(layers)
        self.layerdrop = layerdrop
        self.checkpoint_layers = checkpoint_layers

    def compile_layers(self, eager_random: bool | None = None, **options) -> None:
        """Compiles each layer's forward in place (``nn.Module.compile``): the state_dict
        keys stay those of the eager model, so checkpoints load in stock fairseq; LayerDrop
        and checkpointing stay eager around the compiled layers. ``eager_random`` and
        ``options`` as ``inductor_options`` takes them."""
        options = inductor_options(eager_random, **options)
        # Shapes: dynamo's default (dynamic=None) compiles the first batch shape statically
        # and, after a shape changes, retraces with dynamic sizes. Pretraining crops to
        # task.max_sample_size, so most batches share one frame count and get the static
        # graph; padding to length buckets would instead change what the layers compute
        # (a padding mask where there was none). With torch 2.13 on CPU the frame count
        # stays specialised (only the batch size becomes dynamic): each new frame count
        # compiles once, and past torch._dynamo.config.recompile_limit the layer runs eagerly.
        for layer in self.layers:
            layer.compile(**options)

    def forward(
        self,
        x: Tensor,
        padding_mask: Tensor | None,
        start: int = 0,
        end: int | None = None,
        layer_results: list[Tensor] | None = None,
    ) -> Tensor:
        """Runs layers ``start`` .. ``end - 1`` (0-based) on x (B, T, C); appends each layer's
        output to ``layer_results`` when given."""
        end = len(self.layers) if end is None else end
        if self.training and self.layerdrop > 0:
            keep = (torch.rand(end - start) >= self.layerdrop).tolist()
        else:
            keep = None
        if start >= end:
            return x
        inputs = self.layers[start].attention.shared_inputs(x.size(1), padding_mask, x.device)
        for offset, layer in enumerate(self.layers[start:end]):
            if keep is not None and not keep[offset]:
                continue
            if self.checkpoint_layers and self.training:
                x = checkpoint(layer, x, padding_mask, inputs, use_reentrant=False)
            else:
                x = layer(x, padding_mask, inputs)
            if layer_results is not None:
                layer_results.append(x)
        return x


def _attention_settings(attention: MultiHeadSelfAttention) -> tuple:
    return (
        attention.pos_enc_type,
        attention.head_dim,
        attention.max_relative_position,
        attention.attention_window,
    )
