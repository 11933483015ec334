"""Differentiable discrete selection of a code with the Gumbel-softmax trick."""

import torch
import torch.nn.functional as F
from torch import Tensor

_UNIFORM_EPSILON = 1e-10


def gumbel_softmax_select(
    logits: Tensor,
    tau: float,
    hard: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Draws one code per row of ``logits`` (..., num_codes).

    Returns ``(targets, picks)``: ``targets`` (..., num_codes) is a distribution that
    carries gradient back to ``logits`` and ``picks`` (...) the drawn indices. With
    ``hard`` the targets are exactly one-hot in the forward pass and pass the soft
    distribution's gradient backwards (straight-through); otherwise they are the soft
    distribution ``softmax((logits + g) / tau)``.

    Written here rather than calling ``F.gumbel_softmax`` because that takes no
    ``generator``, and the noise must be reproducible per batch. Runs in float32.
    """
    logits = logits.float()
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device)
    uniform = uniform.clamp(_UNIFORM_EPSILON, 1.0 - _UNIFORM_EPSILON)
    gumbel = -torch.log(-torch.log(uniform))
    soft = F.softmax((logits + gumbel) / tau, dim=-1)
    picks = soft.argmax(dim=-1)
    if not hard:
        return soft, picks
    one_hot = torch.zeros_like(soft).scatter_(-1, picks.unsqueeze(-1), 1.0)
    return one_hot - soft.detach() + soft, picks
