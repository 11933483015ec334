"""4x time subsampling from log-mel frames (10 ms) to encoder frames (40 ms)."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SUBSAMPLING_FACTOR = 4


def _time_mask(lengths: Tensor, frames: int) -> Tensor:
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def _channels_last_conv(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """``conv(x)`` with the convolution library's channels-last kernels, chosen by a
    channels-last copy of the weight. ``.to`` rather than ``.contiguous``: a 1-channel
    weight counts as contiguous in both layouts, and only ``.to`` gives it the strides that
    make the convolution pick the channels-last kernel."""
    weight = conv.weight.to(memory_format=torch.channels_last)
    return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding)


class Conv2dSubsampling(nn.Module):
    """Two Conv2d(3x3, stride 2) + SiLU over (time, mel), then Linear to ``output_dim``.

    (B, T, n_mels) -> (B, T / 4, output_dim). Outputs past each utterance's length are
    zeroed after every convolution, so a padded batch computes exactly what each
    utterance computes alone (the convolution's own zero padding sees the same zeros).

    With ``channels_last`` the convolutions run channels-last kernels: on one CPU thread
    (oneDNN) the module's forward and backward take 0.86-0.92x the time, the demo BEST-RQ
    step about 0.9x (examples/benchmarks/conv_layout.py). The parameters themselves stay
    contiguous: fairseq flattens gradients with ``.view(-1)`` in its legacy_ddp all-reduce
    and broadcasts a resumed checkpoint's tensors (weights and Adam moments) as flat
    buffers, which scrambles channels-last ones on the other ranks. (Channels-last
    parameters were as fast and failed the CPU DDP resume test.)
    """

    def __init__(self, n_mels: int, channels: int, output_dim: int, channels_last: bool = True):
        super().__init__()
        self.channels_last = channels_last
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)
        self.activation = nn.SiLU()
        freq_out = (n_mels + 1) // 2
        freq_out = (freq_out + 1) // 2
        self.linear = nn.Linear(channels * freq_out, output_dim)

    def _conv(self, layer: nn.Conv2d, x: Tensor) -> Tensor:
        return _channels_last_conv(layer, x) if self.channels_last else layer(x)

    def forward(self, feats: Tensor, lengths: Tensor | None) -> Tensor:
        """``feats`` (B, T, n_mels) with T a multiple of 4, ``lengths`` (B,) valid frames,
        a multiple of 4, or None when every frame is valid (a cropped batch: the masks are
        then skipped, two elementwise passes over the largest activation). Returns
        (B, T / 4, output_dim)."""
        x = self.activation(self._conv(self.conv1, feats.unsqueeze(1)))
        if lengths is not None:
            x = x * _time_mask(lengths // 2, x.size(2))[:, None, :, None]
        x = self.activation(self._conv(self.conv2, x))
        batch, channels, frames, freqs = x.shape
        x = self.linear(x.permute(0, 2, 1, 3).reshape(batch, frames, channels * freqs))
        if lengths is not None:
            x = x * _time_mask(lengths // 4, frames)[..., None]
        return x


class StackingSubsampling(nn.Module):
    """Four frames side by side, then Linear: the cheapest 4x subsampling."""

    def __init__(self, n_mels: int, output_dim: int):
        super().__init__()
        self.linear = nn.Linear(SUBSAMPLING_FACTOR * n_mels, output_dim)

    def forward(self, feats: Tensor, lengths: Tensor | None) -> Tensor:
        batch, frames, channels = feats.shape
        stacked = feats.reshape(batch, frames // SUBSAMPLING_FACTOR, SUBSAMPLING_FACTOR * channels)
        return self.linear(stacked)
