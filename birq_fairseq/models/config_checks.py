"""Checks of a ``birq`` config that fail at build time, naming the field and the fix."""

from .birq_config import BirqConfig

ENHANCED_LAYER_FRACTION = 0.7  # the paper's k = 7 for K = 10


def resolve_enhanced_layer(cfg: BirqConfig) -> int:
    """k, the 1-based layer whose output makes the enhanced labels."""
    if cfg.enhanced_layer > 0:
        return cfg.enhanced_layer
    return max(1, round(ENHANCED_LAYER_FRACTION * cfg.encoder_layers))


def _require(condition: bool, field: str, value, rule: str):
    if not condition:
        raise ValueError(f"model.{field}={value!r} is invalid: {rule}")


def check_birq_config(cfg: BirqConfig):
    """Raises ValueError on the first setting that cannot work."""
    _require(cfg.sample_rate > 0, "sample_rate", cfg.sample_rate, "must be positive")
    _require(cfg.n_mels >= 4, "n_mels", cfg.n_mels, "needs at least 4 mel bins")
    _require(0 < cfg.hop_ms <= cfg.win_ms, "hop_ms", cfg.hop_ms, "must be in (0, win_ms]")
    _require(cfg.encoder_layers >= 1, "encoder_layers", cfg.encoder_layers, "must be >= 1")
    _require(
        cfg.encoder_embed_dim % cfg.encoder_attention_heads == 0,
        "encoder_attention_heads",
        cfg.encoder_attention_heads,
        f"must divide encoder_embed_dim={cfg.encoder_embed_dim}",
    )
    head_dim = cfg.encoder_embed_dim // cfg.encoder_attention_heads
    _require(
        str(cfg.pos_enc_type) != "rope" or head_dim % 2 == 0,
        "pos_enc_type",
        cfg.pos_enc_type,
        f"rope needs an even head dimension, got {head_dim}",
    )
    _require(cfg.conv_kernel_size % 2 == 1, "conv_kernel_size", cfg.conv_kernel_size, "must be odd")
    _require(cfg.attention_window >= 0, "attention_window", cfg.attention_window, "must be >= 0")
    for name in ("dropout", "attention_dropout", "activation_dropout", "dropout_input",
                 "encoder_layerdrop"):
        value = getattr(cfg, name)
        _require(0.0 <= value < 1.0, name, value, "must be in [0, 1)")
    _require(0.0 <= cfg.mask_prob <= 1.0, "mask_prob", cfg.mask_prob, "must be in [0, 1]")
    _require(cfg.mask_length >= 1, "mask_length", cfg.mask_length, "must be >= 1 frame")
    _require(cfg.mask_noise_std >= 0, "mask_noise_std", cfg.mask_noise_std, "must be >= 0")
    _require(
        0.0 <= cfg.mask_channel_prob <= 1.0,
        "mask_channel_prob",
        cfg.mask_channel_prob,
        "must be in [0, 1]",
    )
    _require(
        1 <= cfg.mask_channel_length <= cfg.n_mels,
        "mask_channel_length",
        cfg.mask_channel_length,
        f"must be between 1 and n_mels={cfg.n_mels}",
    )
    _require(cfg.codebook_size >= 2, "codebook_size", cfg.codebook_size, "must be >= 2")
    _require(cfg.codebook_dim >= 1, "codebook_dim", cfg.codebook_dim, "must be >= 1")
    _require(cfg.num_codebooks >= 1, "num_codebooks", cfg.num_codebooks, "must be >= 1")
    _require(cfg.enhanced_weight >= 0, "enhanced_weight", cfg.enhanced_weight, "w1 must be >= 0")
    _require(cfg.anchor_weight >= 0, "anchor_weight", cfg.anchor_weight, "w2 must be >= 0")
    _require(
        cfg.enhanced_weight + cfg.anchor_weight > 0,
        "anchor_weight",
        cfg.anchor_weight,
        "w1 and w2 cannot both be 0",
    )
    if cfg.enhanced_weight == 0:
        return
    k = resolve_enhanced_layer(cfg)
    _require(
        1 <= k < cfg.encoder_layers,
        "enhanced_layer",
        cfg.enhanced_layer,
        f"k must be between 1 and encoder_layers - 1 = {cfg.encoder_layers - 1} "
        "(0 picks round(0.7 * encoder_layers))",
    )
    _require(cfg.gumbel_tau > 0, "gumbel_tau", cfg.gumbel_tau, "the temperature must be > 0")
    _require(
        cfg.enhanced_target_grad_scale >= 0,
        "enhanced_target_grad_scale",
        cfg.enhanced_target_grad_scale,
        "must be >= 0 (use detach_enhanced_targets=true to stop the gradient)",
    )
    _require(
        cfg.enhanced_diversity_weight >= 0,
        "enhanced_diversity_weight",
        cfg.enhanced_diversity_weight,
        "must be >= 0 (0 turns the penalty off)",
    )
    _require(
        not cfg.enhanced_teacher or cfg.detach_enhanced_targets,
        "enhanced_teacher",
        cfg.enhanced_teacher,
        "a teacher's labels carry no gradient to this model; set detach_enhanced_targets=true",
    )
    for name in ("enhanced_warmup_updates", "enhanced_ramp_updates"):
        _require(getattr(cfg, name) >= 0, name, getattr(cfg, name), "must be >= 0")
    _require(
        cfg.enhanced_logit_scale > 0,
        "enhanced_logit_scale",
        cfg.enhanced_logit_scale,
        "must be > 0",
    )
    _require(
        cfg.enhanced_codebook_size >= 2,
        "enhanced_codebook_size",
        cfg.enhanced_codebook_size,
        "must be >= 2",
    )
    _require(
        cfg.enhanced_codebook_dim >= 1,
        "enhanced_codebook_dim",
        cfg.enhanced_codebook_dim,
        "must be >= 1",
    )


TEACHER_MUST_MATCH = ("encoder_embed_dim", "sample_rate", "n_mels", "win_ms", "hop_ms")


def check_teacher_fits(teacher: BirqConfig, student: BirqConfig, path: str) -> None:
    """The teacher sees the student's log-mel features and feeds the student's enhanced
    quantizer, so both must agree on the features, the width and the existence of layer k."""
    for name in TEACHER_MUST_MATCH:
        if getattr(teacher, name) != getattr(student, name):
            raise ValueError(
                f"model.enhanced_teacher={path}: its {name} is {getattr(teacher, name)}, this "
                f"model's {getattr(student, name)}; pick a teacher of the same {name}")
    k = resolve_enhanced_layer(student)
    if teacher.encoder_layers < k:
        raise ValueError(f"model.enhanced_teacher={path}: it has {teacher.encoder_layers} "
                         f"layers, fewer than enhanced_layer = {k}")
