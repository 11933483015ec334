"""Span masking drawn on the model's device.

fairseq's ``compute_mask_indices`` draws masks in numpy on the host with a Python loop
over utterances, so every step would copy lengths to the host and masks back. These
functions draw the same kind of masks (wav2vec 2.0's ``mask_prob`` / ``mask_length``
meanings, "static" span lengths, overlaps allowed) with a handful of vectorised tensor
operations, from an optional ``torch.Generator`` so a batch's masks can be reproduced.
"""

import torch
from torch import Tensor


def span_mask(
    lengths: Tensor,
    max_length: int,
    mask_prob: float,
    span_length: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random spans over time, (B, max_length) bool, True = masked.

    As in wav2vec 2.0, utterance ``b`` gets ``floor(mask_prob * lengths[b] / span_length + u)``
    spans (``u`` uniform in [0, 1), so the count is right on average), each of
    ``span_length`` frames starting uniformly inside the utterance. Spans may overlap, so
    the masked fraction is about ``1 - exp(-mask_prob)`` (0.33 for mask_prob = 0.4).
    Frames at or past ``lengths[b]`` are never masked.
    """
    batch = lengths.numel()
    device = lengths.device
    if mask_prob <= 0 or max_length == 0:
        return torch.zeros(batch, max_length, dtype=torch.bool, device=device)
    max_spans = int(mask_prob * max_length / span_length) + 1
    rounding = torch.rand(batch, generator=generator, device=device)
    num_spans = torch.floor(mask_prob * lengths / span_length + rounding).long()
    num_spans = num_spans.clamp(max=max_spans)
    start_range = (lengths - span_length + 1).clamp(min=1)
    starts = torch.rand(batch, max_spans, generator=generator, device=device)
    starts = torch.floor(starts * start_range[:, None]).long()
    active = torch.arange(max_spans, device=device)[None, :] < num_spans[:, None]
    # +1 where a span opens, -1 where it closes; a running sum > 0 marks covered frames.
    edges = torch.zeros(batch, max_length + 1, dtype=torch.long, device=device)
    edges.scatter_add_(1, starts, active.long())
    ends = (starts + span_length).clamp(max=max_length)
    edges.scatter_add_(1, ends, -active.long())
    covered = edges.cumsum(dim=1)[:, :max_length] > 0
    inside = torch.arange(max_length, device=device)[None, :] < lengths[:, None]
    return covered & inside


def channel_mask(
    batch: int,
    channels: int,
    mask_prob: float,
    span_length: int,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SpecAugment-style frequency masks, (B, channels) bool, True = masked."""
    full = torch.full((batch,), channels, device=device)
    return span_mask(full, channels, mask_prob, span_length, generator)
