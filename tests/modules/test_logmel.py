"""Log-mel frontend against a pure-numpy reference: framing, Hann window, power spectrum,
HTK mel filters, log, and per-utterance / per-channel normalisation over valid frames."""

import numpy as np
import pytest
import torch

from birq_fairseq.modules.logmel import LogMelFrontend, stack_frames

RATE = 16000
WIN, HOP = 400, 160  # 25 ms and 10 ms at 16 kHz
N_MELS = 80
FRAME_MULTIPLE = 4


# --- numpy reference ----------------------------------------------------------------------
def numpy_mel_filterbank(n_freqs: int, n_mels: int, rate: int) -> np.ndarray:
    """(n_freqs, n_mels) HTK triangles between mel points evenly spaced from 0 to Nyquist."""
    nyquist = rate / 2
    mel_max = 2595.0 * np.log10(1.0 + nyquist / 700.0)
    mel_points = np.linspace(0.0, mel_max, n_mels + 2)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    freqs = np.arange(n_freqs) * rate / (2 * (n_freqs - 1))
    bank = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        lo, mid, hi = hz_points[m], hz_points[m + 1], hz_points[m + 2]
        for i, f in enumerate(freqs):
            if lo < f <= mid:
                bank[i, m] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[i, m] = (hi - f) / (hi - mid)
    return bank


def numpy_log_mel(signal: np.ndarray) -> np.ndarray:
    """(L,) -> (frames, n_mels): uncentred frames, periodic Hann, |rfft|^2, mel, log."""
    frames = (len(signal) - WIN) // HOP + 1
    samples = np.ascontiguousarray(signal, dtype=np.float64)
    step = samples.strides[0]
    strided = np.lib.stride_tricks.as_strided(
        samples, shape=(frames, WIN), strides=(HOP * step, step), writeable=False
    )
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)
    power = np.abs(np.fft.rfft(strided * window, axis=1)) ** 2
    return np.log(power @ numpy_mel_filterbank(WIN // 2 + 1, N_MELS, RATE) + 1e-6)


def numpy_normalise(feats: np.ndarray) -> np.ndarray:
    """Zero mean and unit variance per channel (over time)."""
    return (feats - feats.mean(axis=0)) / np.sqrt(feats.var(axis=0) + 1e-5)


def reference_features(signal: np.ndarray) -> np.ndarray:
    """Normalised features of one utterance, frames cut to a multiple of 4."""
    feats = numpy_log_mel(signal)
    feats = feats[: len(feats) - len(feats) % FRAME_MULTIPLE]
    return numpy_normalise(feats)


def speech_like(samples: int, seed: int) -> np.ndarray:
    """Noise plus two tones, so the spectrum has structure and no band is silent."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    tones = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 2500 * t)
    return (tones + 0.1 * rng.standard_normal(samples)).astype(np.float32)


@pytest.fixture(scope="module")
def frontend() -> LogMelFrontend:
    return LogMelFrontend(RATE, N_MELS, 25.0, 10.0, FRAME_MULTIPLE)


# --- tests ----------------------------------------------------------------------------------
def test_numpy_filterbank_reference_has_no_empty_band():
    """Sanity of the reference itself: every band sees some FFT bin, none exceeds 1, and
    the wide high bands reach their peak of 1 closely."""
    bank = numpy_mel_filterbank(WIN // 2 + 1, N_MELS, RATE)
    assert (bank.max(axis=0) > 0).all() and bank.max() <= 1.0
    assert (bank[:, -20:].max(axis=0) > 0.9).all()


def test_log_mel_matches_numpy_reference(frontend):
    signal = speech_like(4000, seed=0)
    expected = numpy_log_mel(signal)

    got = frontend.log_mel(torch.from_numpy(signal)[None])[0].numpy()

    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=1e-4)


def test_features_match_normalised_numpy_reference(frontend):
    """End to end: log-mel, cut to a multiple of 4 frames, normalised per channel."""
    signal = speech_like(5123, seed=1)
    expected = reference_features(signal)

    feats, lengths = frontend(torch.from_numpy(signal)[None])

    assert feats.shape == (1, len(expected), N_MELS)
    assert lengths.tolist() == [len(expected)]
    np.testing.assert_allclose(feats[0].numpy(), expected, atol=2e-3)


@pytest.mark.parametrize("samples", [880, 1039, 1040, 1199, 1200, 16000, 16123])
def test_frame_count_is_uncentred_stft_rounded_down_to_multiple_of_4(frontend, samples):
    raw_frames = (samples - WIN) // HOP + 1
    expected = raw_frames - raw_frames % FRAME_MULTIPLE

    feats, lengths = frontend(torch.zeros(1, samples) + 0.01)

    assert feats.shape[1] == expected and lengths.item() == expected
    assert frontend.num_frames(torch.tensor([samples])).item() == expected


def test_normalisation_is_per_channel_over_valid_frames(frontend):
    """Each mel channel has zero mean and unit variance over time; frames do not (the
    statistic runs along time, not along channels)."""
    signal = speech_like(8000, seed=2)
    feats, _ = frontend(torch.from_numpy(signal)[None])
    feats = feats[0].double().numpy()

    np.testing.assert_allclose(feats.mean(axis=0), 0.0, atol=1e-4)
    # var / (var + 1e-5) keeps a nearly constant channel (the 440 Hz tone) just below 1.
    np.testing.assert_allclose(feats.std(axis=0), 1.0, atol=5e-3)
    assert np.abs(feats.mean(axis=1)).max() > 0.1


def test_padded_batch_gives_each_utterance_its_own_features(frontend):
    """Padding changes neither the valid features nor their normalisation statistics;
    padded frames, and frames past a multiple of 4, are zero."""
    long_signal = speech_like(6000, seed=3)
    # 3000 samples -> 17 raw frames -> 16 valid; 2600 -> 14 raw frames -> 12 valid.
    short_lengths = [3000, 2600]
    shorts = [speech_like(n, seed=4 + i) for i, n in enumerate(short_lengths)]
    batch = torch.zeros(3, len(long_signal))
    padding_mask = torch.ones(3, len(long_signal), dtype=torch.bool)
    for row, signal in enumerate([long_signal, *shorts]):
        batch[row, : len(signal)] = torch.from_numpy(signal)
        padding_mask[row, : len(signal)] = False

    feats, lengths = frontend(batch, padding_mask)

    for row, signal in enumerate([long_signal, *shorts]):
        expected = reference_features(signal)
        alone, _ = frontend(torch.from_numpy(signal)[None])
        valid = len(expected)
        assert lengths[row].item() == valid
        np.testing.assert_allclose(feats[row, :valid].numpy(), expected, atol=2e-3)
        torch.testing.assert_close(feats[row, :valid], alone[0], atol=1e-5, rtol=1e-5)
        assert (feats[row, valid:] == 0).all()


def test_frames_past_a_multiple_of_4_are_invalid_and_excluded_from_statistics(frontend):
    """An utterance with 4n + 3 raw frames keeps 4n; the 3 leftover frames (whose audio is
    real, not padding) are zero and do not enter the mean / variance."""
    long_signal = speech_like(4000, seed=6)
    short = speech_like(WIN + HOP * (4 * 4 + 2), seed=7)  # 19 raw frames -> 16 valid
    batch = torch.zeros(2, len(long_signal))
    batch[0] = torch.from_numpy(long_signal)
    batch[1, : len(short)] = torch.from_numpy(short)
    padding_mask = torch.zeros_like(batch, dtype=torch.bool)
    padding_mask[1, len(short):] = True

    feats, lengths = frontend(batch, padding_mask)

    assert lengths[1].item() == 16
    assert (feats[1, 16:] == 0).all()
    expected = numpy_normalise(numpy_log_mel(short)[:16])
    np.testing.assert_allclose(feats[1, :16].numpy(), expected, atol=2e-3)


def test_too_short_input_raises_helpful_value_error(frontend):
    shortest = WIN + (FRAME_MULTIPLE - 1) * HOP
    assert frontend.min_samples() == shortest
    frontend(torch.randn(1, shortest))  # exactly enough for one label frame

    with pytest.raises(ValueError, match=r"(?s)879 samples.*880 samples.*min_sample_size"):
        frontend(torch.randn(1, shortest - 1))


def test_stack_frames_puts_consecutive_frames_side_by_side():
    feats = torch.arange(2 * 8 * 3, dtype=torch.float32).view(2, 8, 3)

    stacked = stack_frames(feats, 4)

    assert stacked.shape == (2, 2, 12)
    for b in range(2):
        for t in range(2):
            expected = torch.cat([feats[b, 4 * t + i] for i in range(4)])
            assert torch.equal(stacked[b, t], expected)
