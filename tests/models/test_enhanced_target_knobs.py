"""The knobs against the enhanced-label collapse: a scale on the gradient through the
targets, the unmasked pass without dropout, and a warm-up of w1."""

import pytest
import torch

from birq_fairseq.criterions.birq import BirqCriterion
from birq_fairseq.models.birq import BirqModel

from .test_birq_model import (
    BATCH_SAMPLES,
    K,
    build,
    criterion_for,
    grads_of_targets,
    padded_batch,
    small_config,
)


def target_gradient(**overrides) -> list[torch.Tensor]:
    model = build(**overrides).train()
    return grads_of_targets(model, list(model.encoder.layers[0].parameters()))


def loss_gradient(**overrides) -> list[torch.Tensor]:
    """Gradient of the whole loss w1 F + w2 G on layer 1 (the same masks and draws)."""
    model = build(**overrides).train()
    loss, _, _ = BirqCriterion(None, model.cfg.enhanced_weight, model.cfg.anchor_weight)(
        model, {"net_input": padded_batch()})
    return torch.autograd.grad(loss, list(model.encoder.layers[0].parameters()))


def test_target_gradient_scale_multiplies_the_gradient_through_the_targets():
    full = target_gradient()
    scaled = target_gradient(enhanced_target_grad_scale=0.25)
    for f, s in zip(full, scaled):
        torch.testing.assert_close(s, 0.25 * f)


def test_loss_gradient_is_prediction_path_plus_scaled_target_path():
    """grad(s) = g_prediction + s * g_target: s = 0 equals detached targets, and s = 0.5
    lies halfway between s = 0 and s = 1 (no dropout in the test model)."""
    detached = loss_gradient(detach_enhanced_targets=True)
    zero = loss_gradient(enhanced_target_grad_scale=0.0)
    half = loss_gradient(enhanced_target_grad_scale=0.5)
    full = loss_gradient()
    for d, z, h, f in zip(detached, zero, half, full):
        torch.testing.assert_close(z, d, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(h, (z + f) / 2, rtol=1e-4, atol=1e-6)
    assert any((f - z).abs().max() > 1e-6 for f, z in zip(full, zero))


def test_clean_pass_without_dropout_is_deterministic_and_keeps_the_gradient():
    overrides = dict(dropout=0.3, attention_dropout=0.3, enhanced_clean_dropout=False)
    model = build(**overrides).train()
    first = model(**padded_batch())
    torch.manual_seed(123)  # other dropout draws in the masked pass
    second = model(**padded_batch())
    torch.testing.assert_close(first["enhanced_targets"], second["enhanced_targets"])
    assert first["enhanced_targets"].requires_grad
    model.eval()
    labels = model.frame_labels(padded_batch()["source"], padded_batch()["padding_mask"])
    masked = first["enhanced_nearest"]
    assert set(masked.tolist()) <= set(labels["enhanced_nearest"].flatten().tolist())
    grads = grads_of_targets(model.train(), list(model.encoder.layers[0].parameters()))
    assert any(g is not None and g.abs().max() > 0 for g in grads)


def test_clean_pass_with_dropout_differs_between_draws():
    model = build(dropout=0.3, attention_dropout=0.3).train()
    torch.manual_seed(1)
    first = model(**padded_batch())["enhanced_targets"]
    torch.manual_seed(2)
    second = model(**padded_batch())["enhanced_targets"]
    assert not torch.equal(first, second)


@pytest.mark.parametrize(("update", "expected"), [(0, 0.0), (9, 0.0), (10, 0.25), (12, 0.75),
                                                  (13, 1.0), (500, 1.0)])
def test_w1_warms_up_then_ramps(update, expected):
    model = BirqModel(small_config(enhanced_warmup_updates=10, enhanced_ramp_updates=4))
    model.set_num_updates(update)
    assert model.enhanced_weight_scale() == pytest.approx(expected)


def test_during_the_warm_up_the_loss_is_the_anchor_loss_alone():
    model = build(enhanced_warmup_updates=5).train()
    criterion = BirqCriterion(None, model.cfg.enhanced_weight, model.cfg.anchor_weight)
    loss, _, log = criterion(model, {"net_input": padded_batch()})
    assert log["enhanced_weight_now"] == 0.0
    torch.testing.assert_close(loss.detach(), model.cfg.anchor_weight * log["loss_anchor"])
    model.set_num_updates(5)
    loss, _, log = criterion(model, {"net_input": padded_batch()})
    assert log["enhanced_weight_now"] == pytest.approx(model.cfg.enhanced_weight)
    expected = model.cfg.anchor_weight * log["loss_anchor"] + \
        model.cfg.enhanced_weight * log["loss_enhanced"]
    torch.testing.assert_close(loss.detach(), expected)


def encoder_rows_per_call(model: BirqModel) -> list[int]:
    """Batch rows each call of the first Conformer block receives."""
    rows: list[int] = []
    model.encoder.layers[0].register_forward_pre_hook(lambda _, args: rows.append(args[0].size(0)))
    return rows


def test_the_warm_up_skips_the_unmasked_pass_and_keeps_the_anchor_loss_and_gradient():
    """w1 = 0 during the warm-up, so training runs the masked pass alone (the encoder sees
    the batch once, not twice) and still gets the same anchor loss and encoder gradient as
    the full two-pass step at w1 = 0; every parameter still gets a gradient (zero for the
    enhanced head), as data-parallel training needs."""
    warming = build(enhanced_warmup_updates=5).train()
    full = build().train()  # both passes, scored by a criterion with w1 = 0
    rows = encoder_rows_per_call(warming)
    full_rows = encoder_rows_per_call(full)
    criteria = (criterion_for(warming), BirqCriterion(None, 0.0, full.cfg.anchor_weight))
    losses, grads = [], []
    for model, criterion in zip((warming, full), criteria):
        loss, _, log = criterion(model, {"net_input": padded_batch()})
        loss.backward()
        losses.append(log["loss_anchor"])
        grads.append([p.grad for p in model.parameters()])
        assert log["enhanced_weight_now"] == 0.0
    assert rows == [len(BATCH_SAMPLES)] and full_rows == [2 * len(BATCH_SAMPLES)]
    torch.testing.assert_close(losses[0], losses[1])
    for skipped, both in zip(*grads):
        assert skipped is not None
        torch.testing.assert_close(skipped, both, rtol=1e-4, atol=1e-6)
    assert all(p.grad.abs().max() == 0 for p in warming.enhanced_head.parameters())


def test_validation_during_the_warm_up_still_builds_the_labels():
    model = build(enhanced_warmup_updates=5).eval()
    out = model(**padded_batch())
    assert out["enhanced_targets"].size(0) == out["anchor_targets"].size(0) > 0
    model.train()
    assert "enhanced_targets" not in model(**padded_batch())
    model.set_num_updates(5)
    assert "enhanced_targets" in model(**padded_batch())


@pytest.mark.parametrize(("field", "value"), [("enhanced_target_grad_scale", -0.1),
                                              ("enhanced_diversity_weight", -0.5),
                                              ("enhanced_warmup_updates", -1),
                                              ("enhanced_ramp_updates", -5)])
def test_negative_knob_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"model.{field}="):
        BirqModel(small_config(**{field: value}))


def test_k_is_still_the_last_layer_with_target_gradient():
    model = build(enhanced_target_grad_scale=0.1).train()
    after_k = list(model.encoder.layers[K].parameters())
    assert not any(g is not None and g.abs().max() > 0 for g in grads_of_targets(model, after_k))


def test_centred_target_gradient_keeps_the_value_and_the_predictor_gradient():
    """Against the formula: F's value and d F / d log_probs are those of plain cross entropy,
    and d F / d targets is minus the log-probs centred per code over the frames."""
    from birq_fairseq.criterions.birq import enhanced_cross_entropy

    torch.manual_seed(0)
    logits = torch.randn(7, 5, requires_grad=True)
    targets = torch.softmax(torch.randn(7, 5), dim=-1).requires_grad_()
    log_probs = torch.log_softmax(logits, dim=-1)
    plain = enhanced_cross_entropy(targets, log_probs, centred=False)
    centred = enhanced_cross_entropy(targets, log_probs, centred=True)
    torch.testing.assert_close(centred, plain)
    d_logits_plain, d_targets_plain = torch.autograd.grad(plain, (logits, targets),
                                                          retain_graph=True)
    d_logits, d_targets = torch.autograd.grad(centred, (logits, targets))
    torch.testing.assert_close(d_logits, d_logits_plain)
    reference = log_probs.detach()
    torch.testing.assert_close(d_targets_plain, -reference)
    torch.testing.assert_close(d_targets, -(reference - reference.mean(dim=0)))
    # A target distribution that follows the predictor's global favourite earns nothing.
    assert d_targets.sum(dim=0).abs().max() < 1e-5


def test_centred_target_gradient_changes_only_the_target_path():
    """In the model: the prediction path's gradient (targets detached) is the same with and
    without centring; the full gradient on layer 1 differs."""
    def gradient(centred: bool, **overrides) -> list[torch.Tensor]:
        model = build(**overrides).train()
        criterion = BirqCriterion(None, model.cfg.enhanced_weight, model.cfg.anchor_weight,
                                  enhanced_centred_target_gradient=centred)
        loss, _, _ = criterion(model, {"net_input": padded_batch()})
        return torch.autograd.grad(loss, list(model.encoder.layers[0].parameters()))

    detached = [gradient(c, enhanced_target_grad_scale=0.0) for c in (False, True)]
    for a, b in zip(*detached):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    full = [gradient(c) for c in (False, True)]
    assert any((a - b).abs().max() > 1e-6 for a, b in zip(*full))


def test_diversity_penalty_against_numpy():
    """(N - exp(H(p))) / N: 0 for uniform use, (N - 1) / N for one code, and a numpy
    entropy for anything between."""
    import numpy as np

    from birq_fairseq.criterions.birq import diversity_penalty

    uniform, _ = diversity_penalty(torch.full((8,), 1 / 8))
    one, one_ppl = diversity_penalty(torch.tensor([1.0, 0, 0, 0]))
    torch.testing.assert_close(uniform, torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(one, torch.tensor(0.75))
    assert one_ppl.item() == pytest.approx(1.0)
    probs = np.random.default_rng(0).dirichlet(np.ones(16))
    value, perplexity = diversity_penalty(torch.tensor(probs))
    expected_ppl = np.exp(-(probs * np.log(probs)).sum())
    assert perplexity.item() == pytest.approx(expected_ppl)
    assert value.item() == pytest.approx((16 - expected_ppl) / 16)


@pytest.mark.parametrize("scale", [1e-3, 1e7])
def test_mean_probs_are_the_batch_average_softmax_of_the_logits(scale):
    """At a huge logit scale each frame's softmax is one-hot on its nearest code, so the
    average is the nearest codes' histogram; at a tiny one it is uniform."""
    from birq_fairseq.modules.enhanced_targets import EnhancedTargetQuantizer

    quantizer = EnhancedTargetQuantizer(12, 4, 32, scale, 0.5, True, 3, True)
    hidden = torch.randn(2, 30, 12, requires_grad=True)
    valid = torch.ones(2, 30, dtype=torch.bool)
    labels = quantizer(hidden, valid, valid, torch.Generator().manual_seed(0))
    assert labels.mean_probs.shape == (32,) and labels.mean_probs.requires_grad
    if scale > 1:
        expected = torch.bincount(labels.nearest, minlength=32).float() / 60
    else:
        expected = torch.full((32,), 1 / 32)
    torch.testing.assert_close(labels.mean_probs, expected, atol=1e-4, rtol=0)


def test_diversity_weight_adds_the_penalty_and_its_gradient_reaches_layer_1():
    def loss_and_log(weight: float):
        model = build().train()
        criterion = BirqCriterion(None, model.cfg.enhanced_weight, model.cfg.anchor_weight,
                                  enhanced_diversity_weight=weight)
        loss, masked, log = criterion(model, {"net_input": padded_batch()})
        grads = torch.autograd.grad(loss, list(model.encoder.layers[0].parameters()))
        return loss, masked, log, grads

    off, masked, log, grads_off = loss_and_log(0.0)
    on, _, log_on, grads_on = loss_and_log(0.5)
    assert 0 < log["loss_diversity"] < 1 and 1 <= log["enhanced_soft_ppl"]
    torch.testing.assert_close(on.detach(), off.detach() + 0.5 * masked * log["loss_diversity"])
    assert any((a - b).abs().max() > 1e-6 for a, b in zip(grads_on, grads_off))
    # Detached targets: the penalty has no path into the encoder.
    model = build(detach_enhanced_targets=True).train()
    assert not model(**padded_batch())["enhanced_mean_probs"].requires_grad
