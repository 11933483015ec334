"""Batch-seeded crops: a batch's crops and model seed depend on (seed, epoch, ids) only."""

import numpy as np
import pytest
import soundfile as sf
import torch

from birq_fairseq.data.seeded_audio_dataset import SeededFileAudioDataset, batch_seed

RATE = 16000
FILE_SAMPLES = [3000, 3500, 4000, 4500]
MAX_SAMPLES = 2000


def test_batch_seed_depends_on_seed_epoch_and_ids_only():
    base = batch_seed(1, 1, [0, 1, 2])

    np.random.seed(123)  # the global RNG plays no part
    assert batch_seed(1, 1, [0, 1, 2]) == base
    others = {batch_seed(2, 1, [0, 1, 2]), batch_seed(1, 2, [0, 1, 2]), batch_seed(1, 1, [0, 1, 3])}
    assert base not in others and len(others) == 3


def test_batch_seed_fits_in_63_bits():
    seeds = [batch_seed(seed, epoch, [i, i + 1]) for seed in range(5) for epoch in range(5)
             for i in range(8)]

    assert all(0 <= s < 2**63 for s in seeds)
    # Uses the high bits too (a seed squeezed into 32 bits would collide more easily).
    assert max(seeds) > 2**62


@pytest.fixture
def audio(tmp_path) -> tuple[str, list[np.ndarray]]:
    """A manifest of 4 float wavs longer than MAX_SAMPLES, and their samples."""
    rng = np.random.default_rng(0)
    signals, lines = [], [str(tmp_path)]
    for i, samples in enumerate(FILE_SAMPLES):
        signal = rng.uniform(-0.5, 0.5, samples).astype(np.float32)
        sf.write(tmp_path / f"utt{i}.wav", signal, RATE, subtype="FLOAT")
        signals.append(signal)
        lines.append(f"utt{i}.wav\t{samples}")
    manifest = tmp_path / "train.tsv"
    manifest.write_text("\n".join(lines) + "\n")
    return str(manifest), signals


def make_dataset(manifest: str, seed: int = 1) -> SeededFileAudioDataset:
    return SeededFileAudioDataset(
        manifest, sample_rate=RATE, max_sample_size=MAX_SAMPLES, shuffle=False, seed=seed
    )


def collate(dataset: SeededFileAudioDataset, ids: list[int]) -> dict:
    return dataset.collater([dataset[i] for i in ids])


def crop_starts(batch: dict, signals: list[np.ndarray]) -> list[int]:
    """Where each collated row starts in its file (asserts it is a contiguous window)."""
    starts = []
    for row, utt in zip(batch["net_input"]["source"].numpy(), batch["id"].tolist()):
        signal = signals[utt]
        matches = [s for s in range(len(signal) - len(row) + 1)
                   if np.array_equal(signal[s : s + len(row)], row)]
        assert len(matches) == 1
        starts.append(matches[0])
    return starts


def test_collating_the_same_ids_twice_crops_identically(audio):
    manifest, signals = audio
    dataset = make_dataset(manifest)

    np.random.seed(0)
    first = collate(dataset, [0, 1, 2, 3])
    np.random.seed(999)  # fairseq's own crop would follow the global RNG
    second = collate(dataset, [0, 1, 2, 3])

    assert first["net_input"]["source"].shape == (4, MAX_SAMPLES)
    assert torch.equal(first["net_input"]["source"], second["net_input"]["source"])
    starts = crop_starts(first, signals)
    assert len(set(starts)) > 1 and any(s > 0 for s in starts)


def test_collater_hands_the_batch_seed_to_the_model(audio):
    manifest, _ = audio
    dataset = make_dataset(manifest, seed=7)
    dataset.set_epoch(3)

    batch = collate(dataset, [2, 0])

    assert batch["net_input"]["rng_seed"] == batch_seed(7, 3, [2, 0])


def test_other_epoch_gives_other_crops_and_seed(audio):
    manifest, signals = audio
    dataset = make_dataset(manifest)
    dataset.set_epoch(1)
    first = collate(dataset, [0, 1, 2, 3])
    dataset.set_epoch(2)
    second = collate(dataset, [0, 1, 2, 3])

    assert first["net_input"]["rng_seed"] != second["net_input"]["rng_seed"]
    assert crop_starts(first, signals) != crop_starts(second, signals)
    dataset.set_epoch(1)
    assert torch.equal(collate(dataset, [0, 1, 2, 3])["net_input"]["source"],
                       first["net_input"]["source"])


def test_manifest_paths_are_the_manifest_lines_in_index_order(audio):
    manifest, _ = audio
    assert make_dataset(manifest).manifest_paths() == [f"utt{i}.wav" for i in range(4)]


def test_batch_phones_follow_each_utterances_crop(audio):
    """Each 10 ms frame's phone id is its frame index in the file, so a crop that starts at
    sample s must hand over phones starting at round(s / 160)."""
    manifest, signals = audio
    dataset = make_dataset(manifest)
    frames = [n // 160 for n in FILE_SAMPLES]
    phones = [np.arange(count) for count in frames]
    phones[2] = None  # an utterance without an alignment
    dataset.set_phones(phones, num_phones=max(frames))
    batch = dataset.collater([dataset[i] for i in range(4)])
    assert batch["num_phones"] == max(frames)
    assert batch["phones"].shape == (4, MAX_SAMPLES // 160 + 1)
    for row, signal in enumerate(signals):
        source = batch["net_input"]["source"][row].numpy()
        start = int(np.flatnonzero(np.isclose(signal, source[0]))[0])
        assert np.array_equal(signal[start:start + MAX_SAMPLES], source)
        if phones[row] is None:
            assert (batch["phones"][row] == -1).all()
            continue
        expected = phones[row][round(start / 160):][: batch["phones"].size(1)]
        assert batch["phones"][row, : len(expected)].tolist() == expected.tolist()
        assert (batch["phones"][row, len(expected):] == -1).all()


def test_set_phones_refuses_a_list_of_the_wrong_length(audio):
    manifest, _ = audio
    with pytest.raises(ValueError, match="3 phone alignments for 4 utterances"):
        make_dataset(manifest).set_phones([None] * 3, 5)
