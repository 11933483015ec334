"""4x time subsampling from log-mel frames (10 ms) to encoder frames (40 ms)."""

import torch
from torch import Tensor, nn

SUBSAMPLING_FACTOR = 4


def _time_mask(lengths: Tensor, frames: int) -> Tensor:
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


class Conv2dSubsampling(nn.Module):
    """Two Conv2d(3x3, stride 2) + SiLU over (time, mel), then Linear to ``output_dim``.

    (B, T, n_mels) -> (B, T / 4, output_dim). Outputs past each utterance's length are
    zeroed after every convolution, so a padded batch computes exactly what each
    utterance computes alone (the convolution's own zero padding sees the same zeros).
    """

    def __init__(self, n_mels: int, channels: int, output_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)
        self.activation = nn.SiLU()
        freq_out = (n_mels + 1) // 2
        freq_out = (freq_out + 1) // 2
        self.linear = nn.Linear(channels * freq_out, output_dim)
        # Channels-last weights would make this 0.84x as slow on one CPU thread (0.92x the
        # BEST-RQ step: examples/benchmarks/conv_layout.py), but their gradients are
        # channels-last too, and fairseq's legacy_ddp all-reduce flattens each gradient with
        # .view(-1), which fails on them: the weights stay contiguous.

    def forward(self, feats: Tensor, lengths: Tensor) -> Tensor:
        """``feats`` (B, T, n_mels) with T a multiple of 4, ``lengths`` (B,) valid frames,
        a multiple of 4. Returns (B, T / 4, output_dim)."""
        x = self.activation(self.conv1(feats.unsqueeze(1)))
        x = x * _time_mask(lengths // 2, x.size(2))[:, None, :, None]
        x = self.activation(self.conv2(x))
        batch, channels, frames, freqs = x.shape
        x = x.permute(0, 2, 1, 3).reshape(batch, frames, channels * freqs)
        return self.linear(x) * _time_mask(lengths // 4, frames)[..., None]


class StackingSubsampling(nn.Module):
    """Four frames side by side, then Linear: the cheapest 4x subsampling."""

    def __init__(self, n_mels: int, output_dim: int):
        super().__init__()
        self.linear = nn.Linear(SUBSAMPLING_FACTOR * n_mels, output_dim)

    def forward(self, feats: Tensor, lengths: Tensor) -> Tensor:
        batch, frames, channels = feats.shape
        stacked = feats.reshape(batch, frames // SUBSAMPLING_FACTOR, SUBSAMPLING_FACTOR * channels)
        return self.linear(stacked)
