"""fairseq's ``FileAudioDataset`` with every random draw tied to the batch it serves."""

import numpy as np
import torch
from fairseq.data import FileAudioDataset

from ..alignment.phone_alignments import PHONE_FRAME_MS

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


    With ``set_phones`` each batch also carries ``phones`` (B, N) at 10 ms per frame (-1
    where an utterance has no alignment or the crop ran past it), cut to the batch's crops,
    and ``num_phones``, for measuring label quality during validation.
    """

    def __init__(self, *args, seed: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.epoch = 1
        self._crop_rng: np.random.Generator | None = None
        self._crop_starts: list[int] = []
        self.phones: list[np.ndarray | None] | None = None
        self.num_phones = 0

    def set_phones(self, phones: list[np.ndarray | None], num_phones: int) -> None:
        """Phone ids per 10 ms frame for every item (index order), None where unaligned."""
        if len(phones) != len(self):
            raise ValueError(f"{len(phones)} phone alignments for {len(self)} utterances")
        self.phones, self.num_phones = phones, num_phones

    def manifest_paths(self) -> list[str]:
        """Every item's audio path as its manifest line gives it (index order)."""
        names = (self.fnames[i] if isinstance(self.fnames, list) else self.fnames[i].as_py()
                 for i in range(len(self)))
        return [self.text_compressor.decompress(name) for name in names]

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def crop_to_max_size(self, t, target_size, dim=0):
        size = t.size(dim)
        excess = size - target_size
        if excess <= 0 or self._crop_rng is None:
            return super().crop_to_max_size(t, target_size, dim)
        start = int(self._crop_rng.integers(0, excess + 1))
        self._crop_starts.append(start)
        return t.narrow(dim, start, target_size)

    def collater(self, samples):
        ids = [s["id"] for s in samples if s["source"] is not None]
        seed = batch_seed(self.seed, self.epoch, ids)
        self._crop_rng = np.random.default_rng(seed)
        self._crop_starts = []
        try:
            batch = super().collater(samples)
        finally:
            self._crop_rng = None
        if batch:
            batch["net_input"]["rng_seed"] = seed
            if self.phones is not None:
                batch["phones"] = self._collate_phones(samples, batch["net_input"]["source"])
                batch["num_phones"] = self.num_phones
        return batch

    def _collate_phones(self, samples, source: torch.Tensor) -> torch.Tensor:
        """Phones of each utterance's crop (the crops were drawn in sample order)."""
        samples_per_frame = self.sample_rate * PHONE_FRAME_MS // 1000
        target = source.size(1)
        phones = torch.full((source.size(0), target // samples_per_frame + 1), -1)
        starts = iter(self._crop_starts)
        for row, sample in enumerate(s for s in samples if s["source"] is not None):
            start = next(starts) if len(sample["source"]) > target else 0
            ids = self.phones[sample["id"]]
            if ids is None:
                continue
            ids = ids[round(start / samples_per_frame):][: phones.size(1)]
            phones[row, : len(ids)] = torch.from_numpy(ids)
        return phones
