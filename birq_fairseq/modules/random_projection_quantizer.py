"""BEST-RQ's random-projection quantizer: a frozen projection and a frozen codebook."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RandomProjectionQuantizer(nn.Module):
    """Maps vectors to the index of the nearest code after a random projection.

    For each of ``num_codebooks`` codebooks: project ``x`` with a Xavier-uniform matrix
    ``A`` (input_dim x code_dim), l2-normalise, and pick the code of the l2-normalised
    N(0, 1) codebook ``C`` (num_codes x code_dim) with the largest cosine similarity,
    i.e. ``argmin_i ||l2n(C_i) - l2n(A x)||``.

    Nothing here trains: ``A`` and ``C`` are buffers (saved in checkpoints, never seen by
    the optimiser) drawn from ``seed`` alone, so two models built with the same seed
    label identically.
    """

    def __init__(
        self,
        input_dim: int,
        code_dim: int = 16,
        num_codes: int = 8192,
        num_codebooks: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        bound = math.sqrt(6.0 / (input_dim + code_dim))
        projection = torch.rand(num_codebooks, input_dim, code_dim, generator=generator)
        codebook = torch.randn(num_codebooks, num_codes, code_dim, generator=generator)
        self.register_buffer("projection", (2 * projection - 1) * bound)
        self.register_buffer("codebook", F.normalize(codebook, dim=-1))

    @property
    def num_codes(self) -> int:
        return self.codebook.size(1)

    @property
    def num_codebooks(self) -> int:
        return self.codebook.size(0)

    def project(self, x: Tensor) -> Tensor:
        """(..., input_dim) -> (..., num_codebooks, code_dim), in float32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return torch.einsum("...d,gdc->...gc", x.float(), self.projection.float())

    def code_similarities(self, projected: Tensor) -> Tensor:
        """Cosine similarity of projections (..., G, code_dim) to every code: (..., G, N).

        Computed in float32: the nearest code of 8192 is often ahead by ~0.01.
        """
        with torch.autocast(device_type=projected.device.type, enabled=False):
            unit = F.normalize(projected.float(), dim=-1)
            return torch.einsum("...gc,gnc->...gn", unit, self.codebook.float())

    def similarities(self, x: Tensor) -> Tensor:
        """(..., input_dim) -> (..., num_codebooks, num_codes) cosine similarities."""
        return self.code_similarities(self.project(x))

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Nearest-code indices: (..., input_dim) -> (..., num_codebooks) int64."""
        return self.similarities(x).argmax(dim=-1)
