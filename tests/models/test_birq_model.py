"""The ``birq`` model and criterion on a tiny config: where the labels come from, where
the gradient goes, what BEST-RQ (w1 = 0) skips, the loss formula, frozen quantizers, the
fine-tuning interface, config checks and reproducibility."""

import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fairseq.logging import metrics

import birq_fairseq.models.birq as birq_module
from birq_fairseq.criterions.birq import BirqCriterion
from birq_fairseq.models.birq import BirqConfig, BirqModel
from birq_fairseq.modules.logmel import stack_frames

LAYERS, K, DIM = 3, 2, 32
CODES = 64
BATCH_SAMPLES = [24000, 20000]  # 1.5 s and 1.25 s at 16 kHz
ENC_FRAMES = [37, 30]  # (n - 400) // 160 + 1 frames, rounded down to 4, then / 4
ENC_T = max(ENC_FRAMES)


def small_config(**overrides) -> BirqConfig:
    fields = dict(
        encoder_layers=LAYERS,
        encoder_embed_dim=DIM,
        encoder_ffn_embed_dim=64,
        encoder_attention_heads=4,
        subsampling_channels=8,
        conv_kernel_size=5,
        codebook_size=CODES,
        enhanced_codebook_size=CODES,
        enhanced_layer=K,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        mask_length=3,
    )
    fields.update(overrides)
    return BirqConfig(**fields)


def build(**overrides) -> BirqModel:
    torch.manual_seed(0)
    return BirqModel(small_config(**overrides))


def padded_batch(seed: int = 0) -> dict:
    """net_input of two utterances, the second one padded."""
    generator = torch.Generator().manual_seed(seed)
    source = torch.zeros(len(BATCH_SAMPLES), max(BATCH_SAMPLES))
    padding_mask = torch.ones_like(source, dtype=torch.bool)
    for row, samples in enumerate(BATCH_SAMPLES):
        source[row, :samples] = 0.1 * torch.randn(samples, generator=generator)
        padding_mask[row, :samples] = False
    return {"source": source, "padding_mask": padding_mask, "rng_seed": 1234}


def fixed_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """Frames t with t % 5 < 2 inside each utterance."""
    frames = torch.arange(max_length)
    return ((frames % 5) < 2)[None, :] & (frames[None, :] < lengths[:, None])


@pytest.fixture
def known_mask(monkeypatch) -> torch.Tensor:
    """Replaces the model's span masks by ``fixed_mask``; returns it for the test batch."""

    def fake_span_mask(lengths, max_length, *_, **__):
        return fixed_mask(lengths, max_length)

    monkeypatch.setattr(birq_module, "span_mask", fake_span_mask)
    return fixed_mask(torch.tensor(ENC_FRAMES), ENC_T)


def capture_subsampling_input(model: BirqModel) -> list[torch.Tensor]:
    """Log-mel features each call of the subsampling receives (what the encoder sees)."""
    seen: list[torch.Tensor] = []
    model.subsampling.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
    return seen


def criterion_for(model: BirqModel) -> BirqCriterion:
    return BirqCriterion(None, model.cfg.enhanced_weight, model.cfg.anchor_weight)


# --- (a) anchor labels -------------------------------------------------------------------------
@pytest.mark.parametrize("enhanced_weight", [0.0, 0.1])
def test_anchor_labels_come_from_unmasked_input(known_mask, enhanced_weight):
    """BEST-RQ labels are the quantized clean features at the masked frames, not the noise
    the encoder sees there (with and without the enhanced branch)."""
    model = build(enhanced_weight=enhanced_weight).train()
    net_input = padded_batch()
    seen = capture_subsampling_input(model)

    out = model(**net_input)

    clean, _ = model.frontend(net_input["source"], net_input["padding_mask"])
    masked = seen[0][: len(BATCH_SAMPLES)]
    from_clean = model.anchor_quantizer(stack_frames(clean, 4)[known_mask])
    from_masked = model.anchor_quantizer(stack_frames(masked, 4)[known_mask])
    assert out["anchor_targets"].shape == (int(known_mask.sum()), 1)
    assert torch.equal(out["anchor_targets"], from_clean)
    assert (from_masked != from_clean).float().mean() > 0.5


def test_masked_input_frames_are_replaced_by_small_noise(known_mask):
    """Masked frames (4 log-mel frames per encoder frame) become N(0, 0.1^2); the others
    are the unmasked features."""
    model = build(enhanced_weight=0.0).train()
    net_input = padded_batch()
    seen = capture_subsampling_input(model)

    model(**net_input)

    clean, _ = model.frontend(net_input["source"], net_input["padding_mask"])
    frame_mask = known_mask.repeat_interleave(4, dim=1)
    masked = seen[0]
    assert torch.equal(masked[~frame_mask], clean[~frame_mask])
    noise = masked[frame_mask]
    assert noise.std().item() == pytest.approx(0.1, rel=0.05)
    assert abs(noise.mean().item()) < 0.01


# --- (b) enhanced labels ---------------------------------------------------------------------
def numpy_enhanced_nearest(
    hidden: np.ndarray, lengths: list[int], mask: np.ndarray, projection: np.ndarray,
    codebook: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """LayerNorm (no affine), project, standardise per utterance and channel over valid
    frames, nearest unit code at masked frames. Returns (labels, gap to the runner-up)."""
    normed = (hidden - hidden.mean(-1, keepdims=True)) / np.sqrt(
        hidden.var(-1, keepdims=True) + 1e-5
    )
    projected = normed @ projection
    for b, length in enumerate(lengths):
        valid = projected[b, :length]
        projected[b, :length] = (valid - valid.mean(0)) / np.sqrt(valid.var(0) + 1e-5)
    selected = projected[mask]
    cosines = (selected / np.linalg.norm(selected, axis=1, keepdims=True)) @ codebook.T
    top2 = np.sort(cosines, axis=1)[:, -2:]
    return cosines.argmax(axis=1), top2[:, 1] - top2[:, 0]


@pytest.mark.parametrize("detach", [False, True])
def test_enhanced_targets_come_from_unmasked_pass_at_layer_k(known_mask, detach):
    model = build(detach_enhanced_targets=detach).train()
    net_input = padded_batch()
    layer_k_outputs: list[torch.Tensor] = []
    model.encoder.layers[K - 1].register_forward_hook(
        lambda _, __, output: layer_k_outputs.append(output.detach())
    )

    out = model(**net_input)

    reference = model.extract_features(
        net_input["source"], net_input["padding_mask"], mask=False, layer=K - 1
    )["x"].detach()
    quantizer = model.enhanced_quantizer.quantizer
    projection = quantizer.projection[0].double().numpy()
    codebook = quantizer.codebook[0].double().numpy()
    mask = known_mask.numpy()
    expected, gap = numpy_enhanced_nearest(
        reference.double().numpy(), ENC_FRAMES, mask, projection, codebook
    )
    nearest = out["enhanced_nearest"].numpy()
    assert out["enhanced_targets"].shape == (mask.sum(), CODES)
    assert ((nearest == expected) | (gap < 1e-4)).all()
    # The masked pass's layer-k output gives other labels.
    masked_hidden = layer_k_outputs[0][: len(BATCH_SAMPLES)].double().numpy()
    from_masked, _ = numpy_enhanced_nearest(masked_hidden, ENC_FRAMES, mask, projection, codebook)
    assert (from_masked != expected).mean() > 0.3


# --- (c) gradient through the enhanced targets ----------------------------------------------
def grads_of_targets(model: BirqModel, params: list[torch.nn.Parameter]) -> list:
    out = model(**padded_batch())
    targets = out["enhanced_targets"]
    if not targets.requires_grad:
        return [None] * len(params)
    weights = torch.randn(targets.shape, generator=torch.Generator().manual_seed(5))
    return torch.autograd.grad((targets * weights).sum(), params, allow_unused=True)


def is_nonzero(grad) -> bool:
    return grad is not None and grad.abs().max().item() > 0


def test_gumbel_gradient_reaches_layers_up_to_k_when_not_detached():
    """The targets depend on layer 1 (through the unmasked pass), not on layer k + 1 or
    the heads."""
    model = build(detach_enhanced_targets=False).train()
    first = list(model.encoder.layers[0].parameters())
    after_k = list(model.encoder.layers[K].parameters())
    heads = list(model.enhanced_head.parameters())

    grads = grads_of_targets(model, first + after_k + heads)

    assert any(is_nonzero(g) for g in grads[: len(first)])
    assert not any(is_nonzero(g) for g in grads[len(first) :])


def test_detached_enhanced_targets_carry_no_gradient():
    model = build(detach_enhanced_targets=True).train()

    grads = grads_of_targets(model, list(model.encoder.layers[0].parameters()))

    assert not any(is_nonzero(g) for g in grads)


# --- (d) BEST-RQ --------------------------------------------------------------------------------
def count_layer_calls(model: BirqModel) -> list[tuple[int, int]]:
    """(layer index, batch size) of every encoder layer call, in order."""
    calls: list[tuple[int, int]] = []
    for index, layer in enumerate(model.encoder.layers):
        layer.register_forward_pre_hook(
            lambda _, args, index=index: calls.append((index, args[0].size(0)))
        )
    return calls


def test_bestrq_builds_no_enhanced_branch():
    model = build(enhanced_weight=0.0)

    assert model.enhanced_head is None and model.enhanced_quantizer is None
    assert not any(name.startswith("enhanced") for name, _ in model.named_parameters())
    assert not any(name.startswith("enhanced") for name in model.state_dict())
    out = model(**padded_batch())
    assert not any(key.startswith("enhanced") for key in out)


def test_bestrq_never_runs_the_unmasked_pass():
    model = build(enhanced_weight=0.0).train()
    calls = count_layer_calls(model)

    model(**padded_batch())

    assert calls == [(i, 2) for i in range(LAYERS)]


def test_birq_runs_layers_up_to_k_on_masked_and_unmasked_batch_together():
    model = build().train()
    calls = count_layer_calls(model)

    model(**padded_batch())

    assert calls == [(i, 4) for i in range(K)] + [(i, 2) for i in range(K, LAYERS)]


def test_bestrq_loss_is_anchor_weight_times_cross_entropy():
    model = build(enhanced_weight=0.0, anchor_weight=2.4).train()
    sample = {"net_input": padded_batch()}

    loss, sample_size, logging_output = criterion_for(model)(model, sample)

    out = model(**sample["net_input"])
    expected = 2.4 * F.cross_entropy(
        out["anchor_logits"][:, 0], out["anchor_targets"][:, 0], reduction="sum"
    )
    torch.testing.assert_close(loss, expected)
    assert "loss_enhanced" not in logging_output


def test_criterion_with_enhanced_weight_refuses_a_bestrq_model():
    model = build(enhanced_weight=0.0)

    with pytest.raises(ValueError, match="enhanced_weight"):
        BirqCriterion(None, 0.1, 2.4)(model, {"net_input": padded_batch()})


# --- (e) the bilevel loss and its metrics -------------------------------------------------------
@pytest.mark.parametrize("num_codebooks", [1, 2])
def test_loss_is_w1_enhanced_plus_w2_anchor_cross_entropy(known_mask, num_codebooks):
    """loss = w1 * F + w2 * G with F the cross entropy against the one-hot Gumbel picks and
    G the anchor cross entropy averaged over codebooks, both summed over masked frames."""
    model = build(num_codebooks=num_codebooks, enhanced_weight=0.3, anchor_weight=1.7).train()
    sample = {"net_input": padded_batch()}

    loss, sample_size, log = criterion_for(model)(model, sample)

    out = model(**sample["net_input"])
    anchor = sum(
        F.cross_entropy(out["anchor_logits"][:, g], out["anchor_targets"][:, g], reduction="sum")
        for g in range(num_codebooks)
    ) / num_codebooks
    enhanced = F.cross_entropy(out["enhanced_logits"], out["enhanced_picks"], reduction="sum")
    torch.testing.assert_close(loss, 0.3 * enhanced + 1.7 * anchor)
    torch.testing.assert_close(log["loss_anchor"], anchor.detach())
    torch.testing.assert_close(log["loss_enhanced"], enhanced.detach())
    assert sample_size == int(known_mask.sum()) == log["sample_size"]
    assert out["num_frames"].item() == sum(ENC_FRAMES) == log["num_frames"].item()


def test_logging_outputs_are_sane_and_match_brute_force_counts():
    model = build().train()
    sample = {"net_input": padded_batch()}

    _, sample_size, log = criterion_for(model)(model, sample)

    out = model(**sample["net_input"])
    assert 0 <= log["correct_anchor"].item() <= sample_size
    assert 0 <= log["correct_enhanced"].item() <= sample_size
    assert 0 <= log["gumbel_nearest"].item() <= sample_size
    targets = out["anchor_targets"][:, 0].numpy()
    assert log["anchor_codes_used"].item() == len(np.unique(targets)) <= CODES
    probs = np.bincount(targets, minlength=CODES) / len(targets)
    perplexity = np.exp(-sum(p * np.log(p) for p in probs if p > 0))
    assert log["anchor_ppl"].item() == pytest.approx(perplexity, rel=1e-5)
    assert log["anchor_top_share"].item() == pytest.approx(probs.max(), rel=1e-6)
    assert log["enhanced_codes_used"].item() == len(out["enhanced_picks"].unique()) <= CODES
    picks = out["enhanced_picks"].numpy()
    assert log["enhanced_top_share"].item() == pytest.approx(
        np.bincount(picks).max() / len(picks), rel=1e-6
    )
    singular = np.linalg.svd(out["enhanced_projections"].double().numpy(), compute_uv=False)
    weights = singular / singular.sum()
    rank = np.exp(-(weights * np.log(weights)).sum())
    assert log["enhanced_rank"].item() == pytest.approx(rank, rel=1e-3)
    assert log["nsentences"] == 2


def test_frame_labels_equal_the_training_forward_labels_at_masked_frames(known_mask):
    """Validation's label-quality pass labels every unmasked frame exactly as the training
    forward labels the masked ones (anchor codes, nearest enhanced code)."""
    model = build().eval()
    batch = padded_batch()
    out = model(**batch)
    labels = model.frame_labels(batch["source"], batch["padding_mask"], batch["rng_seed"])
    valid = labels["valid"]
    assert valid.sum(dim=1).tolist() == ENC_FRAMES
    assert torch.equal(labels["anchor"][known_mask], out["anchor_targets"])
    assert torch.equal(labels["enhanced_nearest"][known_mask], out["enhanced_nearest"])
    assert (labels["enhanced_pick"][~valid] == -1).all()
    assert ((labels["enhanced_pick"][valid] >= 0) & (labels["enhanced_pick"][valid] < CODES)).all()


def test_frame_labels_with_all_layers_return_every_layer_as_extract_features_does():
    model = build().eval()
    batch = padded_batch()
    labels = model.frame_labels(batch["source"], batch["padding_mask"], all_layers=True)
    features = model.extract_features(batch["source"], batch["padding_mask"])
    assert len(labels["layers"]) == LAYERS
    for ours, theirs in zip(labels["layers"], features["layer_results"]):
        torch.testing.assert_close(ours, theirs)


def test_reduce_metrics_turns_sums_into_rates_over_masked_frames():
    model = build().train()
    criterion = criterion_for(model)
    logs = [criterion(model, {"net_input": padded_batch(seed)})[2] for seed in (0, 1)]

    with metrics.aggregate(new_root=True) as aggregated:
        BirqCriterion.reduce_metrics(logs)
        values = aggregated.get_smoothed_values()

    masked = sum(log["sample_size"] for log in logs)
    correct = sum(log["correct_anchor"].item() for log in logs)
    assert values["acc_anchor"] == pytest.approx(correct / masked, abs=1e-4)
    assert 0 <= values["acc_anchor"] <= 1 and 0 <= values["acc_enhanced"] <= 1
    assert values["mask_fraction"] == pytest.approx(masked / (2 * sum(ENC_FRAMES)), abs=1e-3)
    total_loss = sum(log["loss"].item() for log in logs)
    assert values["loss"] == pytest.approx(total_loss / masked, abs=1e-3)


# --- (f) frozen quantizers ---------------------------------------------------------------------
QUANTIZER_BUFFERS = (
    "anchor_quantizer.projection",
    "anchor_quantizer.codebook",
    "enhanced_quantizer.quantizer.projection",
    "enhanced_quantizer.quantizer.codebook",
)


def test_quantizer_buffers_are_frozen_through_an_optimiser_step():
    model = build().train()
    before = {name: model.state_dict()[name].clone() for name in QUANTIZER_BUFFERS}
    params_before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)

    loss, _, _ = criterion_for(model)(model, {"net_input": padded_batch()})
    loss.backward()
    optimizer.step()

    state = model.state_dict()
    for name in QUANTIZER_BUFFERS:
        assert torch.equal(state[name], before[name]), name
    parameter_names = {name for name, _ in model.named_parameters()}
    assert not parameter_names & set(QUANTIZER_BUFFERS)
    buffer_ids = {id(buffer) for buffer in model.buffers()}
    assert not any(id(p) in buffer_ids for p in model.parameters())
    assert any(not torch.equal(p, old) for p, old in zip(model.parameters(), params_before))


def test_same_quantizer_seed_rebuilds_identical_quantizers():
    first = build(quantizer_seed=3)
    torch.manual_seed(99)  # other trainable weights, same quantizers
    second = BirqModel(small_config(quantizer_seed=3))
    other = build(quantizer_seed=4)

    for name in QUANTIZER_BUFFERS:
        assert torch.equal(first.state_dict()[name], second.state_dict()[name]), name
        assert not torch.equal(first.state_dict()[name], other.state_dict()[name]), name


# --- (g) extract_features -------------------------------------------------------------------------
def test_extract_features_without_padding_mask():
    model = build().eval()
    source = padded_batch()["source"]

    out = model.extract_features(source)

    assert out["x"].shape == (2, ENC_T, DIM)
    assert out["padding_mask"] is None
    assert len(out["layer_results"]) == LAYERS
    assert torch.equal(out["layer_results"][-1], out["x"])


def test_an_unpadded_batch_without_a_padding_mask_gives_the_same_outputs():
    """Without a padding mask the subsampling skips its length masks (pretraining crops every
    batch to one length); the features, losses and gradients are those of an all-False mask."""
    source = padded_batch()["source"][:, : min(BATCH_SAMPLES)]
    no_padding = torch.zeros_like(source, dtype=torch.bool)
    model = build().eval()
    with torch.no_grad():
        torch.testing.assert_close(model.extract_features(source)["x"],
                                   model.extract_features(source, no_padding)["x"])
    model.train()
    results = []
    for padding_mask in (None, no_padding):
        model.zero_grad(set_to_none=True)
        loss = criterion_for(model)(model, {"net_input": {
            "source": source, "padding_mask": padding_mask, "rng_seed": 3}})[0]
        loss.backward()
        results.append((loss.detach(), model.subsampling.conv2.weight.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_extract_features_padding_mask_marks_frames_past_each_length():
    model = build().eval()
    net_input = padded_batch()

    out = model.extract_features(net_input["source"], net_input["padding_mask"])

    padding = out["padding_mask"]
    assert padding.dtype == torch.bool and padding.shape == (2, ENC_T)
    assert (~padding).sum(dim=1).tolist() == ENC_FRAMES
    assert not padding[1, : ENC_FRAMES[1]].any() and padding[1, ENC_FRAMES[1] :].all()


@pytest.mark.parametrize("subsampling", ["conv2d", "stack"])
def test_extract_features_of_padded_batch_equal_each_utterance_alone(subsampling):
    """Frontend, subsampling and encoder together are padding-invariant (fine-tuning
    batches are padded)."""
    model = build(subsampling=subsampling).eval()
    net_input = padded_batch()

    with torch.no_grad():
        batched = model.extract_features(net_input["source"], net_input["padding_mask"])["x"]
        for row, (samples, frames) in enumerate(zip(BATCH_SAMPLES, ENC_FRAMES)):
            alone = model.extract_features(net_input["source"][row : row + 1, :samples])["x"]
            torch.testing.assert_close(batched[row, :frames], alone[0], atol=1e-4, rtol=1e-4)


def test_extract_features_layer_stops_after_that_layer():
    model = build().eval()
    source = padded_batch()["source"]

    full = model.extract_features(source)
    partial = model.extract_features(source, layer=0)

    assert len(partial["layer_results"]) == 1
    torch.testing.assert_close(partial["x"], full["layer_results"][0])


def test_extract_features_masking_changes_the_output_in_training():
    model = build(mask_prob=0.5).train()
    source = padded_batch()["source"]

    torch.manual_seed(0)
    masked = model.extract_features(source, mask=True)["x"]
    plain = model.extract_features(source, mask=False)["x"]

    assert not torch.allclose(masked, plain)
    torch.testing.assert_close(plain, model.extract_features(source, mask=False)["x"])


# --- (h) fine-tuning ----------------------------------------------------------------------------
def test_remove_pretraining_modules_then_strict_load_of_pretrained_state():
    pretrained = build()
    state = pretrained.state_dict()
    assert any(key.startswith("enhanced_head.") for key in state)

    fresh = BirqModel(small_config())
    fresh.remove_pretraining_modules()
    fresh.load_state_dict(state, strict=True)

    for child in ("anchor_quantizer", "anchor_head", "enhanced_quantizer", "enhanced_head"):
        assert getattr(fresh, child) is None
    source = padded_batch()["source"]
    pretrained.eval()
    fresh.eval()
    torch.testing.assert_close(
        fresh.extract_features(source)["x"], pretrained.extract_features(source)["x"]
    )
    with pytest.raises(RuntimeError, match="removed"):
        fresh(**padded_batch())


# --- (i) config checks -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value",
    [
        ("enhanced_layer", LAYERS),
        ("enhanced_layer", LAYERS + 2),
        ("gumbel_tau", 0.0),
        ("gumbel_tau", -0.5),
        ("enhanced_weight", -0.1),
        ("anchor_weight", -1.0),
        ("codebook_size", 1),
        ("mask_channel_length", 81),
        ("conv_kernel_size", 4),
        ("encoder_attention_heads", 5),
    ],
)
def test_invalid_config_value_raises_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        BirqModel(small_config(**{field: value}))


def test_build_model_refuses_a_task_with_another_sample_rate():
    task = types.SimpleNamespace(cfg=types.SimpleNamespace(sample_rate=8000))

    with pytest.raises(ValueError, match="sample_rate"):
        BirqModel.build_model(small_config(), task)


# --- (j) reproducibility ------------------------------------------------------------------------
def record_masks(monkeypatch) -> list[torch.Tensor]:
    masks: list[torch.Tensor] = []
    real = birq_module.span_mask

    def recording(*args, **kwargs):
        masks.append(real(*args, **kwargs))
        return masks[-1]

    monkeypatch.setattr(birq_module, "span_mask", recording)
    return masks


def test_same_rng_seed_reproduces_the_training_forward(monkeypatch):
    model = build().train()
    masks = record_masks(monkeypatch)
    net_input = padded_batch()

    torch.manual_seed(1)
    first = model(**net_input)
    torch.manual_seed(2)  # the global RNG must not matter
    second = model(**net_input)

    assert torch.equal(masks[0], masks[1])
    for key in ("anchor_logits", "anchor_targets", "enhanced_targets", "enhanced_picks"):
        assert torch.equal(first[key], second[key]), key


def test_different_rng_seeds_draw_different_masks(monkeypatch):
    model = build().train()
    masks = record_masks(monkeypatch)
    net_input = padded_batch()

    model(**net_input)
    model(**{**net_input, "rng_seed": 4321})

    assert masks[0].any() and not torch.equal(masks[0], masks[1])


# --- a frozen teacher's labels (the diagnostic enhanced_teacher) ------------------------------
def save_teacher(tmp_path, teacher: BirqModel) -> str:
    """``teacher`` as a fairseq pretraining checkpoint (what load_checkpoint_model reads)."""
    from omegaconf import OmegaConf

    model = OmegaConf.to_container(OmegaConf.structured(teacher.cfg), enum_to_str=True)
    cfg = OmegaConf.create({"model": {**model, "_name": "birq"}, "task": {"normalize": False}})
    path = tmp_path / "teacher.pt"
    torch.save({"cfg": cfg, "model": teacher.state_dict(), "extra_state": {},
                "optimizer_history": [{"criterion_name": "birq", "num_updates": 0,
                                       "lr_scheduler_state": {"best": None}}]}, path)
    return str(path)


def test_teacher_labels_come_from_the_teachers_layer_k_and_stay_out_of_the_model(
        known_mask, tmp_path):
    torch.manual_seed(5)
    teacher = BirqModel(small_config(enhanced_weight=0.0))
    model = build(detach_enhanced_targets=True, enhanced_teacher=save_teacher(tmp_path, teacher))
    own_parameters = {name for name, _ in model.named_parameters()}
    net_input = padded_batch()

    out = model.train()(**net_input)

    reference = teacher.eval().extract_features(
        net_input["source"], net_input["padding_mask"], mask=False, layer=K - 1)["x"]
    quantizer = model.enhanced_quantizer.quantizer
    expected, gap = numpy_enhanced_nearest(
        reference.detach().double().numpy(), ENC_FRAMES, known_mask.numpy(),
        quantizer.projection[0].double().numpy(), quantizer.codebook[0].double().numpy())
    assert ((out["enhanced_nearest"].numpy() == expected) | (gap < 1e-4)).all()
    assert not out["enhanced_targets"].requires_grad
    # Validation's labels are the teacher's too; the teacher is neither a parameter nor saved.
    frame = model.eval().frame_labels(**net_input)["enhanced_nearest"]
    assert (frame[known_mask].numpy() == expected).mean() > 0.95
    assert {name for name, _ in model.named_parameters()} == own_parameters
    assert not any(key.startswith("_teacher") for key in model.state_dict())


def test_a_teacher_needs_detached_targets_and_a_matching_width(tmp_path):
    torch.manual_seed(5)
    narrow = save_teacher(tmp_path, BirqModel(small_config(encoder_embed_dim=16)))
    with pytest.raises(ValueError, match="detach_enhanced_targets=true"):
        build(enhanced_teacher=narrow)
    model = build(detach_enhanced_targets=True, enhanced_teacher=narrow)
    with pytest.raises(ValueError, match="its encoder_embed_dim is 16, this model's 32"):
        model.train()(**padded_batch())
    missing = build(detach_enhanced_targets=True, enhanced_teacher=str(tmp_path / "none.pt"))
    with pytest.raises(FileNotFoundError, match="none.pt: no such checkpoint"):
        missing.train()(**padded_batch())
