"""fairseq's ``FileAudioDataset`` with every random draw tied to the batch it serves."""

import numpy as np
from fairseq.data import FileAudioDataset

SEED_BITS = 63


def batch_seed(seed: int, epoch: int, ids: list[int]) -> int:
    """A 63-bit seed that depends only on the run's seed, the epoch and the utterances."""
    state = np.random.SeedSequence([seed, epoch, *ids]).generate_state(2, dtype=np.uint64)
    return int(state[0]) >> (64 - SEED_BITS)


class SeededFileAudioDataset(FileAudioDataset):
    """Crops with a generator seeded from the batch, and hands the model the same seed
    (``net_input["rng_seed"]``) for its masks, noise and Gumbel draws.

    fairseq's own crops use the global numpy RNG, which a resumed run restarts from the
    configured seed; here a resumed run, or the same batches split over several processes,
    draws exactly what the original run drew.
    """

    def __init__(self, *args, seed: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.epoch = 1
        self._crop_rng: np.random.Generator | None = None

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def crop_to_max_size(self, t, target_size, dim=0):
        size = t.size(dim)
        excess = size - target_size
        if excess <= 0 or self._crop_rng is None:
            return super().crop_to_max_size(t, target_size, dim)
        start = int(self._crop_rng.integers(0, excess + 1))
        return t.narrow(dim, start, target_size)

    def collater(self, samples):
        ids = [s["id"] for s in samples if s["source"] is not None]
        seed = batch_seed(self.seed, self.epoch, ids)
        self._crop_rng = np.random.default_rng(seed)
        try:
            batch = super().collater(samples)
        finally:
            self._crop_rng = None
        if batch:
            batch["net_input"]["rng_seed"] = seed
        return batch
