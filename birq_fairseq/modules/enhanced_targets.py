"""BiRQ's enhanced labels: a frozen random-projection quantizer on the model's own
layer-k output, with a Gumbel-softmax pick that keeps the gradient."""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .gumbel import gumbel_softmax_select
from .logmel import normalize_per_utterance
from .random_projection_quantizer import RandomProjectionQuantizer


class EnhancedLabels(NamedTuple):
    targets: Tensor  # (M, num_codes) distributions that carry gradient to the hidden states
    picks: Tensor  # (M,) the Gumbel-picked codes
    nearest: Tensor  # (M,) the nearest codes
    projections: Tensor  # (M, code_dim) what was compared with the codes, detached
    mean_probs: Tensor  # (num_codes,) softmax of the logits averaged over the M frames, with
    # gradient: the batch's soft code usage that a diversity penalty spreads out


def effective_rank(vectors: Tensor) -> Tensor:
    """exp(entropy of the normalised singular values) of ``vectors`` (M, D), between 1 and D
    (Roy and Vetterli, 2007). Projections whose rank falls towards 1 all point one way, the
    collapse that per-utterance standardisation does not prevent. The singular values come
    from the D x D Gram matrix (in float64: the square root magnifies float32 rounding of the
    small eigenvalues), which is cheap for the 16-dim projections."""
    vectors = vectors.double()
    gram = vectors.transpose(0, 1) @ vectors
    singular = torch.linalg.eigvalsh(gram).clamp(min=0).sqrt()
    probs = singular / singular.sum().clamp(min=torch.finfo(singular.dtype).tiny)
    return torch.exp(-torch.special.xlogy(probs, probs).sum())


class EnhancedTargetQuantizer(nn.Module):
    """Hidden states (M, D) -> Gumbel-selected code distributions (M, num_codes).

    The states are layer-normalised without affine parameters (so nothing here trains),
    projected and compared with the codes by cosine similarity; ``logit_scale * cosine``
    are the Gumbel-softmax logits. Cosines of 16-dim unit vectors lie in [-1, 1] and the
    best code is only a few hundredths ahead of the next, so without a scale of tens the
    Gumbel noise decides the pick alone.

    With ``normalize_projection`` the projections are standardised per utterance and
    channel over time before the code lookup, as BEST-RQ standardises its input: since
    the gradient reaches the targets, the encoder could otherwise make the projected
    layer-k output constant and every frame the same code (F then costs nothing).
    """

    def __init__(
        self,
        input_dim: int,
        code_dim: int,
        num_codes: int,
        logit_scale: float,
        tau: float,
        hard: bool,
        seed: int,
        normalize_projection: bool,
    ):
        super().__init__()
        self.norm = nn.LayerNorm(input_dim, elementwise_affine=False)
        self.quantizer = RandomProjectionQuantizer(input_dim, code_dim, num_codes, 1, seed)
        self.logit_scale = logit_scale
        self.tau = tau
        self.hard = hard
        self.normalize_projection = normalize_projection

    def forward(
        self,
        hidden: Tensor,
        valid: Tensor,
        selected: Tensor,
        generator: torch.Generator | None = None,
    ) -> EnhancedLabels:
        """Labels for the ``selected`` frames of ``hidden`` (B, T, D); ``valid`` (B, T) marks
        real frames (over which the projections are standardised)."""
        projected = self.quantizer.project(self.norm(hidden.float()))
        if self.normalize_projection:
            batch, frames, groups, dim = projected.shape
            flat = normalize_per_utterance(projected.reshape(batch, frames, groups * dim), valid)
            projected = flat.view(batch, frames, groups, dim)
        projected = projected[selected]
        similarities = self.quantizer.code_similarities(projected).squeeze(-2)
        logits = self.logit_scale * similarities
        targets, picks = gumbel_softmax_select(logits, self.tau, self.hard, generator)
        nearest = similarities.detach().argmax(dim=-1)
        mean_probs = logits.float().softmax(dim=-1).sum(dim=0) / max(logits.size(0), 1)
        return EnhancedLabels(targets, picks, nearest, projected.detach().flatten(1), mean_probs)
