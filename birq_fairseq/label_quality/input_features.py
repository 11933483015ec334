"""The input's own features at the 40 ms label rate: the floor that learnt labels must
beat (HuBERT reports MFCC k-means PNMI near 0.25 at K = 100 on LibriSpeech)."""

import numpy as np
from scipy.fft import dct

MFCC_COEFFICIENTS = 13
DELTA_WINDOW = 2


def deltas(features: np.ndarray) -> np.ndarray:
    """Regression deltas over time (frames, dims), Kaldi/HTK formula, window 2."""
    frames = len(features)
    padded = np.pad(features, ((DELTA_WINDOW, DELTA_WINDOW), (0, 0)), mode="edge")
    weights = np.arange(1, DELTA_WINDOW + 1)
    numerator = sum(
        n * (padded[DELTA_WINDOW + n:DELTA_WINDOW + n + frames]
             - padded[DELTA_WINDOW - n:DELTA_WINDOW - n + frames])
        for n in weights
    )
    return numerator / (2 * (weights**2).sum())


def mfcc_from_log_mel(log_mel: np.ndarray) -> np.ndarray:
    """(frames, n_mels) log-mel energies -> (frames, 39) MFCC (DCT-II, 13) + deltas +
    delta-deltas, as HuBERT's first-iteration features."""
    cepstra = dct(log_mel, type=2, axis=1, norm="ortho")[:, :MFCC_COEFFICIENTS]
    first = deltas(cepstra)
    return np.concatenate([cepstra, first, deltas(first)], axis=1).astype(np.float32)


def stack(features: np.ndarray, factor: int, frames: int) -> np.ndarray:
    """(factor * frames or more, dims) 10 ms frames -> (frames, factor * dims) 40 ms frames."""
    return features[: factor * frames].reshape(frames, -1)
