"""Gumbel-softmax selection: one-hot straight-through targets, the Gumbel-max pick
distribution, the soft mode's formula and reproducibility."""

import pytest
import torch

from birq_fairseq.modules.gumbel import gumbel_softmax_select


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_hard_targets_are_exactly_one_hot_at_the_picks():
    logits = torch.randn(6, 5, 11)

    targets, picks = gumbel_softmax_select(logits, tau=0.5, hard=True, generator=seeded(0))

    assert targets.shape == (6, 5, 11) and picks.shape == (6, 5)
    assert set(targets.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(targets.sum(-1), torch.ones(6, 5))
    assert torch.equal(targets.argmax(-1), picks)


def test_hard_gradient_is_the_soft_distributions_gradient():
    """Straight-through: backwards, the one-hot targets pass the gradient of
    softmax((logits + g) / tau), i.e. (s * (w - s.w)) / tau for a loss sum(w * s)."""
    tau = 0.7
    weights = torch.randn(4, 9, generator=seeded(1))
    logits = torch.randn(4, 9, generator=seeded(2), requires_grad=True)
    soft, _ = gumbel_softmax_select(logits, tau, hard=False, generator=seeded(3))
    hard, _ = gumbel_softmax_select(logits, tau, hard=True, generator=seeded(3))

    (soft_grad,) = torch.autograd.grad((soft * weights).sum(), logits)
    (hard_grad,) = torch.autograd.grad((hard * weights).sum(), logits)

    s = soft.detach()
    formula = s * (weights - (s * weights).sum(-1, keepdim=True)) / tau
    torch.testing.assert_close(soft_grad, formula)
    torch.testing.assert_close(hard_grad, soft_grad)
    assert hard_grad.abs().max() > 1e-3


def test_soft_targets_are_softmax_of_noisy_logits_over_tau():
    """Soft targets sum to 1 and tau * log(targets) - logits is the same noise g (up to a
    per-row constant) for every tau: targets = softmax((logits + g) / tau)."""
    logits = torch.randn(8, 13, generator=seeded(4))
    noise_by_tau = []
    for tau in (0.5, 2.0):
        soft, _ = gumbel_softmax_select(logits, tau, hard=False, generator=seeded(5))
        torch.testing.assert_close(soft.sum(-1), torch.ones(8))
        assert (soft > 0).all()
        noise = tau * soft.double().log() - logits.double()
        noise_by_tau.append(noise - noise.mean(-1, keepdim=True))

    torch.testing.assert_close(noise_by_tau[0], noise_by_tau[1], atol=1e-4, rtol=0)
    # ... and it is real noise, not zero.
    assert noise_by_tau[0].std() > 0.5


def test_picks_follow_the_gumbel_max_distribution():
    """argmax(logits + g) with standard Gumbel g picks code i with probability
    softmax(logits)_i."""
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0, 0.5])
    draws = 40000

    _, picks = gumbel_softmax_select(
        logits.expand(draws, -1), tau=0.5, hard=True, generator=seeded(6)
    )

    frequencies = torch.bincount(picks, minlength=5).float() / draws
    torch.testing.assert_close(frequencies, torch.softmax(logits, -1), atol=0.01, rtol=0)


def test_tau_does_not_change_the_picks():
    logits = torch.randn(200, 17, generator=seeded(7))

    _, cold = gumbel_softmax_select(logits, tau=0.5, hard=True, generator=seeded(8))
    _, warm = gumbel_softmax_select(logits, tau=2.0, hard=True, generator=seeded(8))

    assert torch.equal(cold, warm)


@pytest.mark.parametrize("hard", [True, False])
def test_same_generator_seed_reproduces_the_draw(hard):
    logits = torch.randn(50, 30, generator=seeded(9))

    first = gumbel_softmax_select(logits, 0.5, hard=hard, generator=seeded(10))
    again = gumbel_softmax_select(logits, 0.5, hard=hard, generator=seeded(10))
    other = gumbel_softmax_select(logits, 0.5, hard=hard, generator=seeded(11))

    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])
