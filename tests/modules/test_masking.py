"""Span masks: how much they cover, the shape of the runs, lengths and reproducibility."""

import math

import pytest
import torch

from birq_fairseq.modules.masking import channel_mask, span_mask


def masked_runs(row: torch.Tensor) -> list[tuple[int, int]]:
    """(start, length) of every maximal run of True in a 1-d bool tensor."""
    runs, start = [], None
    for t, value in enumerate(row.tolist() + [False]):
        if value and start is None:
            start = t
        elif not value and start is not None:
            runs.append((start, t - start))
            start = None
    return runs


@pytest.mark.parametrize("mask_prob", [0.1, 0.4, 0.8])
def test_masked_fraction_is_close_to_one_minus_exp_minus_mask_prob(mask_prob):
    """Spans overlap at random, so the covered fraction is 1 - exp(-mask_prob), not
    mask_prob itself (wav2vec 2.0's meaning of mask_prob)."""
    lengths = torch.full((8,), 20000)
    generator = torch.Generator().manual_seed(0)

    mask = span_mask(lengths, 20000, mask_prob, 10, generator)

    assert mask.float().mean().item() == pytest.approx(1 - math.exp(-mask_prob), abs=0.01)


def test_masked_runs_are_at_least_one_span_long():
    """Every run is one span or a union of overlapping spans, so none is shorter than
    span_length (spans start early enough to fit inside the utterance)."""
    lengths = torch.tensor([300, 157, 64, 11])
    generator = torch.Generator().manual_seed(1)

    mask = span_mask(lengths, 300, 0.4, 7, generator)

    for b, length in enumerate(lengths.tolist()):
        for start, run in masked_runs(mask[b]):
            assert run >= 7, (b, start, run)
            assert start + run <= length
    assert len(masked_runs(mask[0])) > 3


def test_isolated_spans_have_exactly_span_length():
    """With a small mask_prob most spans do not overlap: the typical run is exactly one span."""
    generator = torch.Generator().manual_seed(2)

    mask = span_mask(torch.full((4,), 5000), 5000, 0.05, 6, generator)

    runs = [run for b in range(4) for _, run in masked_runs(mask[b])]
    assert all(run >= 6 for run in runs)
    assert sum(run == 6 for run in runs) > 0.8 * len(runs)


def test_utterance_shorter_than_a_span_is_masked_only_up_to_its_length():
    lengths = torch.tensor([3, 0, 40])
    for seed in range(20):
        generator = torch.Generator().manual_seed(seed)
        mask = span_mask(lengths, 40, 1.0, 10, generator)
        assert not mask[0, 3:].any() and not mask[1].any()


def test_never_masks_past_the_lengths():
    lengths = torch.tensor([50, 23, 7, 1, 0])
    for seed in range(20):
        generator = torch.Generator().manual_seed(seed)
        mask = span_mask(lengths, 60, 0.9, 5, generator)
        for b, length in enumerate(lengths.tolist()):
            assert not mask[b, length:].any()
        assert mask[0].any()


def test_same_generator_seed_gives_same_mask_and_other_seeds_differ():
    lengths = torch.tensor([200, 150, 90])
    masks = [
        span_mask(lengths, 200, 0.4, 10, torch.Generator().manual_seed(seed))
        for seed in (5, 5, 6)
    ]

    assert torch.equal(masks[0], masks[1])
    assert not torch.equal(masks[0], masks[2])


def test_zero_mask_prob_masks_nothing():
    mask = span_mask(torch.tensor([100, 40]), 100, 0.0, 10, torch.Generator().manual_seed(0))

    assert mask.shape == (2, 100) and mask.dtype == torch.bool and not mask.any()


def test_channel_mask_has_batch_by_channels_shape_and_masks_channel_spans():
    generator = torch.Generator().manual_seed(3)

    mask = channel_mask(6, 80, 0.3, 8, torch.device("cpu"), generator)

    assert mask.shape == (6, 80) and mask.dtype == torch.bool
    assert mask.any()
    for b in range(6):
        assert all(run >= 8 for _, run in masked_runs(mask[b]))
