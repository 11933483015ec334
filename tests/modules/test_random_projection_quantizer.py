"""The frozen random-projection quantizer against a brute-force numpy nearest-code search,
and the public BEST-RQ bugs it must not have (wrong l2 dimension, flat argmin, trainable or
unsaved buffers)."""

import io

import numpy as np
import torch

from birq_fairseq.modules.random_projection_quantizer import RandomProjectionQuantizer

INPUT_DIM, CODE_DIM, NUM_CODES = 24, 8, 50


def brute_force_labels(x: np.ndarray, projection: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Frame by frame: argmin_i || C_i / |C_i| - A x / |A x| ||, one codebook at a time.

    x (B, T, D); projection (G, D, c); codebook (G, N, c) -> (B, T, G)."""
    batch, frames, _ = x.shape
    groups = projection.shape[0]
    labels = np.zeros((batch, frames, groups), dtype=np.int64)
    for g in range(groups):
        codes = codebook[g] / np.linalg.norm(codebook[g], axis=1, keepdims=True)
        for b in range(batch):
            for t in range(frames):
                projected = x[b, t] @ projection[g]
                projected = projected / np.linalg.norm(projected)
                distances = np.linalg.norm(codes - projected[None, :], axis=1)
                labels[b, t, g] = int(np.argmin(distances))
    return labels


def buffers_as_numpy(quantizer: RandomProjectionQuantizer) -> tuple[np.ndarray, np.ndarray]:
    return quantizer.projection.double().numpy(), quantizer.codebook.double().numpy()


def test_labels_equal_brute_force_nearest_normalised_code():
    quantizer = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=0)
    x = torch.randn(3, 7, INPUT_DIM, generator=torch.Generator().manual_seed(1))

    labels = quantizer(x)

    assert labels.shape == (3, 7, 1) and labels.dtype == torch.int64
    expected = brute_force_labels(x.double().numpy(), *buffers_as_numpy(quantizer))
    np.testing.assert_array_equal(labels.numpy(), expected)


def test_multiple_codebooks_each_use_their_own_projection_and_codes():
    quantizer = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, num_codebooks=3, seed=2)
    x = torch.randn(2, 9, INPUT_DIM, generator=torch.Generator().manual_seed(3))

    labels = quantizer(x)

    assert labels.shape == (2, 9, 3)
    np.testing.assert_array_equal(
        labels.numpy(), brute_force_labels(x.double().numpy(), *buffers_as_numpy(quantizer))
    )
    # Independent codebooks disagree somewhere (a shared codebook would not).
    assert not torch.equal(labels[..., 0], labels[..., 1])


def test_codebook_rows_are_unit_vectors_along_the_code_dimension():
    """Each code (row) has norm 1; normalising along the codes instead would not give
    unit rows."""
    quantizer = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, num_codebooks=2, seed=4)

    row_norms = quantizer.codebook.norm(dim=-1)

    torch.testing.assert_close(row_norms, torch.ones(2, NUM_CODES))
    column_norms = quantizer.codebook.norm(dim=-2)
    assert (column_norms - 1).abs().max() > 0.5


def test_projection_is_xavier_uniform():
    quantizer = RandomProjectionQuantizer(320, 16, 64, seed=5)
    bound = np.sqrt(6.0 / (320 + 16))

    projection = quantizer.projection.numpy()

    assert np.abs(projection).max() <= bound
    assert np.abs(projection).max() > 0.95 * bound
    assert abs(projection.var() - bound**2 / 3) < 0.1 * bound**2 / 3


def test_labels_do_not_depend_on_input_scale():
    """Only the direction of A x matters (the projection is l2-normalised per frame)."""
    quantizer = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=6)
    x = torch.randn(4, 5, INPUT_DIM, generator=torch.Generator().manual_seed(7))

    assert torch.equal(quantizer(x), quantizer(37.0 * x))


def test_argmin_is_per_frame_not_flat_over_the_batch():
    """Labels are code indices in [0, num_codes), and a frame's label is the same whatever
    else is in the batch."""
    quantizer = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=8)
    x = torch.randn(5, 11, INPUT_DIM, generator=torch.Generator().manual_seed(9))

    labels = quantizer(x)

    assert labels.min() >= 0 and labels.max() < NUM_CODES
    assert len(labels.unique()) > 10
    for b in range(5):
        assert torch.equal(quantizer(x[b : b + 1]), labels[b : b + 1])
        for t in (0, 6, 10):
            assert torch.equal(quantizer(x[b, t]), labels[b, t])


def test_projection_and_codebook_are_frozen_buffers_not_parameters():
    quantizer = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=10)

    assert list(quantizer.parameters()) == []
    buffer_names = {name for name, _ in quantizer.named_buffers()}
    assert buffer_names == {"projection", "codebook"}
    assert not quantizer.projection.requires_grad and not quantizer.codebook.requires_grad
    assert set(quantizer.state_dict()) == {"projection", "codebook"}


def test_labels_carry_no_gradient():
    quantizer = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=11)
    x = torch.randn(2, 3, INPUT_DIM, requires_grad=True)

    assert not quantizer(x).requires_grad


def test_same_seed_gives_identical_buffers_and_other_seed_differs():
    first, second, other = (
        RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=s) for s in (12, 12, 13)
    )

    assert torch.equal(first.projection, second.projection)
    assert torch.equal(first.codebook, second.codebook)
    assert not torch.equal(first.projection, other.projection)
    assert not torch.equal(first.codebook, other.codebook)


def test_buffers_survive_a_state_dict_save_load_round_trip():
    """A checkpoint restores the exact quantizer even into one built with another seed."""
    saved = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=14)
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)

    restored = RandomProjectionQuantizer(INPUT_DIM, CODE_DIM, NUM_CODES, seed=15)
    restored.load_state_dict(torch.load(buffer))

    assert torch.equal(restored.projection, saved.projection)
    assert torch.equal(restored.codebook, saved.codebook)
    x = torch.randn(2, 6, INPUT_DIM)
    assert torch.equal(restored(x), saved(x))
