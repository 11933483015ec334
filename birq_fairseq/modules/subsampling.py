"""4x time subsampling from log-mel frames (10 ms) to encoder frames (40 ms)."""

import warnings

import torch
from torch import Tensor, nn

SUBSAMPLING_FACTOR = 4


def _time_mask(lengths: Tensor, frames: int) -> Tensor:
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def _contiguous_grad(parameter: Tensor) -> None:
    parameter.grad = parameter.grad.contiguous()


# With update_freq > 1 the next backward adds a channels-last gradient to the contiguous one
# _contiguous_grad left, and autograd warns that the two layouts differ (a 37k-number add).
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout",
                        category=UserWarning)


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
        # oneDNN's channels-last convolutions run this module's forward and backward at
        # 0.78-0.91x the contiguous ones on one CPU thread, the demo BEST-RQ step at
        # 0.83-0.92x (examples/benchmarks/conv_layout.py).
        # Their weight gradients would be channels-last too, and fairseq's legacy_ddp
        # all-reduce flattens each gradient with .view(-1): the hook makes them contiguous
        # once accumulated (one copy of 37k numbers per step). (Converting the weights inside
        # forward instead made the module 1.37x slower.)
        for conv in (self.conv1, self.conv2):
            conv.to(memory_format=torch.channels_last)
        self._register_gradient_hooks()

    def _register_gradient_hooks(self) -> None:
        for conv in (self.conv1, self.conv2):
            conv.weight.register_post_accumulate_grad_hook(_contiguous_grad)

    def __setstate__(self, state: dict) -> None:
        """copy.deepcopy and pickle rebuild the parameters without their hooks."""
        super().__setstate__(state)
        self._register_gradient_hooks()

    def forward(self, feats: Tensor, lengths: Tensor | None) -> Tensor:
        """``feats`` (B, T, n_mels) with T a multiple of 4, ``lengths`` (B,) valid frames,
        a multiple of 4, or None when every frame is valid (a cropped batch: the masks are
        then skipped, two elementwise passes over the largest activation). Returns
        (B, T / 4, output_dim)."""
        x = self.activation(self.conv1(feats.unsqueeze(1)))
        if lengths is not None:
            x = x * _time_mask(lengths // 2, x.size(2))[:, None, :, None]
        x = self.activation(self.conv2(x))
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
