"""The label definitions that ``quantizer_variants`` compares, each against an independent
reference: the training path's own modules (per-utterance standardisation, the enhanced
quantizer) or the definition itself (identity covariance after whitening)."""

import numpy as np
import torch

from birq_fairseq.label_quality.quantizer_variants import (
    anchor_variants,
    code_dim_variants,
    enhanced_variants,
    input_beside_variants,
    per_group_standardise,
    zca_whiten,
)
from birq_fairseq.modules.enhanced_targets import EnhancedTargetQuantizer
from birq_fairseq.modules.logmel import normalize_per_utterance
from birq_fairseq.modules.random_projection_quantizer import RandomProjectionQuantizer


def test_per_group_standardise_matches_the_training_normalisation():
    rng = np.random.default_rng(0)
    lengths = [7, 12, 5]
    padded = torch.from_numpy(rng.normal(3.0, 2.0, (3, 12, 6)))
    valid = torch.arange(12)[None, :] < torch.tensor(lengths)[:, None]
    reference = normalize_per_utterance(padded, valid)[valid].numpy()
    groups = np.repeat([4, 9, 2], lengths)  # any labels, in any order
    ours = per_group_standardise(padded[valid].numpy(), groups)
    np.testing.assert_allclose(ours, reference, atol=1e-10)


def test_whitening_gives_identity_covariance():
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(5, 5)) * np.array([10.0, 3.0, 1.0, 0.3, 0.1])
    x = rng.normal(size=(4000, 5)) @ mixing + 7.0
    white = zca_whiten(x, eps=1e-12)
    np.testing.assert_allclose(white.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.cov(white, rowvar=False), np.eye(5), atol=1e-6)


def _training_labels(frames: int, dim: int, seed: int):
    """One utterance of layer output, the training path's enhanced quantizer (8-dim codes, 64
    of them) and the nearest codes it labels the frames with."""
    torch.manual_seed(seed)
    hidden = torch.randn(1, frames, dim, dtype=torch.float64) * 3 + torch.randn(dim)
    valid = torch.ones(1, frames, dtype=torch.bool)
    module = EnhancedTargetQuantizer(dim, 8, 64, logit_scale=50.0, tau=0.5, hard=True,
                                     seed=seed, normalize_projection=True)
    return hidden, module, module(hidden, valid, valid).nearest.numpy()


def test_published_enhanced_variant_is_the_training_quantizer():
    hidden, module, reference = _training_labels(60, 32, seed=3)
    ours = enhanced_variants(hidden[0].numpy(), np.zeros(60, dtype=int), module.quantizer,
                             normalize_projection=True)
    np.testing.assert_array_equal(ours["enhanced, published"], reference)
    assert set(ours) == {"enhanced, published", "enhanced, instance norm first",
                         "enhanced, whitened first"}


def test_anchor_variants_remove_the_frame_level():
    """A frame's overall level (the same offset on every mel channel) moves the published
    anchor code but not the mean-removed one."""
    rng = np.random.default_rng(2)
    stacked = rng.normal(size=(200, 4 * 10))
    quantizer = RandomProjectionQuantizer(40, 8, 128, 1, seed=5)
    louder = stacked + np.repeat(rng.normal(0, 5, (200, 4)), 10, axis=1)
    plain, moved = (anchor_variants(x, quantizer, 10, seed=1) for x in (stacked, louder))
    name = "anchor, per-frame mel mean removed"
    np.testing.assert_array_equal(plain[name][0], moved[name][0])
    assert (plain["anchor, published"][0] != moved["anchor, published"][0]).mean() > 0.3
    assert plain["anchor, 256 codes"][1] == 256 and plain["anchor, 8192 codes"][1] == 8192


def test_held_out_code_accuracy_reads_codes_as_their_training_majority():
    from birq_fairseq.label_quality.probe import held_out_code_accuracy, held_out_utterances

    rng = np.random.default_rng(3)
    utterance = np.repeat(np.arange(50), 40)
    phones = rng.integers(0, 6, len(utterance))
    test = np.isin(utterance, held_out_utterances(50, seed=1))
    # Codes that name the phone: perfect. Codes unique to each frame: never seen in
    # training, so every held-out frame reads as the overall majority phone.
    assert held_out_code_accuracy(phones * 3 + 1, phones, utterance, seed=1) == 1.0
    unique = np.arange(len(phones))
    majority = np.bincount(phones[~test]).argmax()
    expected = (phones[test] == majority).mean()
    assert held_out_code_accuracy(unique, phones, utterance, seed=1) == expected


def test_code_dim_draws_are_new_quantizers_of_the_published_chain():
    """The first draw of a width, seeded as the training quantizer, labels as it does; the
    next draw is another quantizer, and a wider one another again."""
    hidden, _, reference = _training_labels(80, 24, seed=7)
    ours = code_dim_variants(hidden[0].numpy(), np.zeros(80, dtype=int), 64, [8, 32], 2,
                             seed=7, normalize_projection=True)
    assert list(ours) == [f"enhanced, {d}-dim codes, draw {i}" for d in (8, 32) for i in (1, 2)]
    np.testing.assert_array_equal(ours["enhanced, 8-dim codes, draw 1"], reference)
    for other in ("enhanced, 8-dim codes, draw 2", "enhanced, 32-dim codes, draw 1"):
        assert (ours[other] != reference).mean() > 0.5


def test_input_beside_weighs_blocks_by_their_size_not_their_scale():
    """Scaling either block leaves the labels as they are (each is brought to unit mean
    square); at weight 0 layer k is ignored, at weight 1 it changes the labels."""
    rng = np.random.default_rng(3)
    hidden, stacked = rng.normal(size=(200, 24)), rng.normal(size=(200, 40))
    utterance = np.repeat(np.arange(4), 50)

    def label(h, s, w):
        return input_beside_variants(h, s, utterance, 64, 8, [w], 1, seed=5,
                                     normalize_projection=True)[
            f"enhanced, input beside (weight {w:g}), draw 1"]
    np.testing.assert_array_equal(label(hidden, stacked, 1), label(hidden * 7, stacked * 0.1, 1))
    shuffled = hidden[rng.permutation(len(hidden))]
    np.testing.assert_array_equal(label(hidden, stacked, 0), label(shuffled, stacked, 0))
    assert (label(hidden, stacked, 1) != label(shuffled, stacked, 1)).mean() > 0.3
