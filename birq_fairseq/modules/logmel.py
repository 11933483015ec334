"""Log-mel features computed inside the model, on the model's device.

Computing features in the model (rather than in the data loader) keeps wav2vec-style
manifests of raw audio usable unchanged, and lets fairseq's stock CTC fine-tuning feed
raw waveforms to a pretrained checkpoint.
"""

import torch
from torch import Tensor, nn

LOG_EPSILON = 1e-6
NORM_EPSILON = 1e-5


def hz_to_mel(hz: Tensor) -> Tensor:
    """HTK mel scale."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int) -> Tensor:
    """Triangular HTK filters, (n_freqs, n_mels), mapping a power spectrum to mel bands.

    Filters are spaced evenly on the mel scale from 0 Hz to Nyquist; each filter peaks
    at 1, as in HTK and Kaldi (no area normalisation).
    """
    fft_freqs = torch.linspace(0.0, sample_rate / 2, n_freqs, dtype=torch.float64)
    mel_max = hz_to_mel(torch.tensor(sample_rate / 2, dtype=torch.float64))
    band_edges = mel_to_hz(torch.linspace(0.0, float(mel_max), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = band_edges[:-2], band_edges[1:-1], band_edges[2:]
    freqs = fft_freqs[:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class LogMelFrontend(nn.Module):
    """Waveform (B, L) in samples -> normalised log-mel features (B, T, n_mels).

    Frames use a Hann window of ``win_ms`` every ``hop_ms`` with no centring, so frame ``t``
    covers samples ``[t * hop, t * hop + win)`` and a padded batch gives the same valid
    frames as each utterance alone. Every utterance keeps a whole number of
    ``frame_multiple`` frames (one label frame of the stacked / subsampled rate); frames past
    that, and padded frames, are zeroed and marked invalid.

    Features are normalised to zero mean and unit variance per utterance and per mel
    channel over the valid frames only (BEST-RQ's quantizer collapses without it).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 80,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        frame_multiple: int = 4,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.win_length = int(round(sample_rate * win_ms / 1000))
        self.hop_length = int(round(sample_rate * hop_ms / 1000))
        self.frame_multiple = frame_multiple
        self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
        self.register_buffer(
            "mel_basis",
            mel_filterbank(self.win_length // 2 + 1, n_mels, sample_rate),
            persistent=False,
        )

    def num_frames(self, num_samples: Tensor) -> Tensor:
        """Valid frames of utterances of ``num_samples`` samples, rounded down to a multiple
        of ``frame_multiple``."""
        frames = torch.div(num_samples - self.win_length, self.hop_length, rounding_mode="floor")
        frames = torch.clamp(frames + 1, min=0)
        return frames - frames % self.frame_multiple

    def min_samples(self) -> int:
        """Shortest input (samples) that yields one label frame."""
        return self.win_length + (self.frame_multiple - 1) * self.hop_length

    def log_mel(self, waveform: Tensor) -> Tensor:
        """(B, L) -> (B, T, n_mels) log-mel energies, in float32 whatever the autocast."""
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            spec = torch.stft(
                waveform.float(),
                n_fft=self.win_length,
                hop_length=self.hop_length,
                window=self.window.float(),
                center=False,
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()
            mel = torch.matmul(power.transpose(1, 2), self.mel_basis.float())
            return torch.log(mel + LOG_EPSILON)

    def forward(
        self, waveform: Tensor, padding_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Returns features (B, T, n_mels), T a multiple of ``frame_multiple``, and the
        number of valid frames per utterance (B,)."""
        batch, samples = waveform.shape
        if samples < self.min_samples():
            raise ValueError(
                f"input of {samples} samples is shorter than the {self.min_samples()} samples "
                f"({1000 * self.min_samples() / self.sample_rate:.0f} ms) one label frame needs; "
                "raise task.min_sample_size or drop the utterance from the manifest"
            )
        if padding_mask is None:
            num_samples = torch.full((batch,), samples, device=waveform.device)
        else:
            num_samples = (~padding_mask).sum(dim=1)
        lengths = self.num_frames(num_samples)
        feats = self.log_mel(waveform)
        total = feats.size(1) - feats.size(1) % self.frame_multiple
        feats = feats[:, :total]
        valid = torch.arange(total, device=feats.device)[None, :] < lengths[:, None]
        return normalize_per_utterance(feats, valid), lengths


def normalize_per_utterance(feats: Tensor, valid: Tensor) -> Tensor:
    """Zero mean, unit variance per utterance and channel over valid frames; invalid
    frames become 0. ``feats`` (B, T, C), ``valid`` (B, T) bool."""
    weight = valid.unsqueeze(-1).to(feats.dtype)
    count = weight.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (feats * weight).sum(dim=1, keepdim=True) / count
    centred = (feats - mean) * weight
    var = centred.square().sum(dim=1, keepdim=True) / count
    return centred * torch.rsqrt(var + NORM_EPSILON)


def stack_frames(feats: Tensor, factor: int) -> Tensor:
    """(B, T, C) -> (B, T / factor, factor * C): consecutive frames side by side."""
    batch, frames, channels = feats.shape
    return feats.reshape(batch, frames // factor, factor * channels)
