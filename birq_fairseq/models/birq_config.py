"""Every setting of the ``birq`` model, with its meaning and where its default comes from."""

from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum, FairseqDataclass

POS_ENC_CHOICES = ChoiceEnum(["rope", "rel_pos", "none"])
SUBSAMPLING_CHOICES = ChoiceEnum(["conv2d", "stack"])


@dataclass
class BirqConfig(FairseqDataclass):
    # --- frontend -------------------------------------------------------------------------
    sample_rate: int = field(
        default=16000, metadata={"help": "sample rate (Hz) the model expects; no resampling"}
    )
    n_mels: int = field(default=80, metadata={"help": "log-mel bins"})
    win_ms: float = field(default=25.0, metadata={"help": "STFT window (ms)"})
    hop_ms: float = field(default=10.0, metadata={"help": "STFT hop (ms)"})
    subsampling: SUBSAMPLING_CHOICES = field(
        default="conv2d",
        metadata={"help": "4x subsampling into the encoder: two Conv2d(3x3, stride 2) "
                  "(conv2d) or four frames stacked + Linear (stack)"},
    )
    subsampling_channels: int = field(
        default=256, metadata={"help": "channels of the Conv2d subsampling"}
    )
    # --- encoder --------------------------------------------------------------------------
    encoder_layers: int = field(default=10, metadata={"help": "Conformer layers (K)"})
    encoder_embed_dim: int = field(default=768, metadata={"help": "model width"})
    encoder_ffn_embed_dim: int = field(default=3072, metadata={"help": "feed-forward width"})
    encoder_attention_heads: int = field(default=12, metadata={"help": "attention heads"})
    conv_kernel_size: int = field(
        default=31, metadata={"help": "depthwise convolution kernel (frames, odd)"}
    )
    pos_enc_type: POS_ENC_CHOICES = field(
        default="rope",
        metadata={"help": "positions in attention: rotary (rope), learned clipped relative "
                  "bias (rel_pos) or none"},
    )
    max_relative_position: int = field(
        default=64, metadata={"help": "rel_pos: distances are clipped to this many frames"}
    )
    attention_window: int = field(
        default=0,
        metadata={"help": "if > 0, each frame attends only to frames at most "
                  "attention_window // 2 away (40 ms frames); 0 = full attention"},
    )
    dropout: float = field(default=0.1, metadata={"help": "dropout on each block's output"})
    attention_dropout: float = field(
        default=0.1, metadata={"help": "dropout on attention weights"}
    )
    activation_dropout: float = field(
        default=0.0, metadata={"help": "dropout inside the feed-forward blocks"}
    )
    dropout_input: float = field(
        default=0.0, metadata={"help": "dropout on the subsampled input of the encoder"}
    )
    encoder_layerdrop: float = field(
        default=0.0, metadata={"help": "probability of skipping a whole layer (LayerDrop)"}
    )
    feature_grad_mult: float = field(
        default=1.0,
        metadata={"help": "scales the gradient reaching the subsampling (0 freezes it), as "
                  "wav2vec 2.0's feature_grad_mult"},
    )
    checkpoint_activations: bool = field(
        default=False, metadata={"help": "recompute each layer in backward to save memory"}
    )
    compile_encoder: bool = field(
        default=False,
        metadata={"help": "compile the subsampling and each Conformer layer with "
                  "torch.compile (inductor) at build time: fewer, fused kernels per step; the "
                  "first steps and every new batch shape pay the compilation (see "
                  "ConformerEncoder.compile_layers)"},
    )
    # --- masking (wav2vec 2.0 names and meanings, so fine-tuning turns it into SpecAugment) -
    mask_prob: float = field(
        default=0.4,
        metadata={"help": "spans per utterance = mask_prob * frames / mask_length; with "
                  "overlaps about 1 - exp(-mask_prob) of the frames are masked (0.33)"},
    )
    mask_length: int = field(
        default=10, metadata={"help": "span length in encoder frames (40 ms each): 400 ms"}
    )
    mask_noise_std: float = field(
        default=0.1,
        metadata={"help": "masked input frames are replaced by N(0, mask_noise_std^2) noise"},
    )
    mask_channel_prob: float = field(
        default=0.0, metadata={"help": "like mask_prob, over mel channels (zeroed)"}
    )
    mask_channel_length: int = field(
        default=10, metadata={"help": "mel channels per channel mask span"}
    )
    # --- anchor quantizer (BEST-RQ) ---------------------------------------------------------
    codebook_size: int = field(default=8192, metadata={"help": "codes per anchor codebook"})
    codebook_dim: int = field(default=16, metadata={"help": "dimension of the codes"})
    num_codebooks: int = field(
        default=1, metadata={"help": "anchor codebooks, each with its own prediction head"}
    )
    quantizer_seed: int = field(
        default=1, metadata={"help": "seed of the frozen projections and codebooks"}
    )
    # --- enhanced targets (BiRQ) and the bilevel loss ---------------------------------------
    enhanced_weight: float = field(
        default=0.1,
        metadata={"help": "w1, weight of the enhanced loss F; 0 gives BEST-RQ and builds no "
                  "enhanced branch"},
    )
    anchor_weight: float = field(
        default=2.4, metadata={"help": "w2, weight of the anchor loss G"}
    )
    enhanced_layer: int = field(
        default=0,
        metadata={"help": "k: layer (1-based) whose output on the unmasked input is "
                  "quantized into enhanced labels; 0 = round(0.7 * encoder_layers)"},
    )
    enhanced_codebook_size: int = field(
        default=8192, metadata={"help": "codes of the enhanced codebook"}
    )
    enhanced_codebook_dim: int = field(
        default=16, metadata={"help": "dimension of the enhanced codes"}
    )
    gumbel_tau: float = field(default=0.5, metadata={"help": "Gumbel-softmax temperature"})
    gumbel_hard: bool = field(
        default=True,
        metadata={"help": "straight-through one-hot targets; false: soft Gumbel-softmax targets"},
    )
    enhanced_logit_scale: float = field(
        default=50.0,
        metadata={"help": "Gumbel logits = scale * cosine(code, projection); cosines lie in "
                  "[-1, 1], so a small scale makes the pick random (see the README)"},
    )
    enhanced_projection_norm: bool = field(
        default=True,
        metadata={"help": "standardise the enhanced quantizer's projections per utterance "
                  "and channel over time, so the encoder cannot collapse every frame onto "
                  "one code; false: LayerNorm alone"},
    )
    enhanced_grad_through_subsampling: bool = field(
        default=False,
        metadata={"help": "let F's gradient through the targets reach the subsampling too "
                  "(it always reaches layers 1..k); false runs the clean pass's subsampling "
                  "without autograd: ~1.5x instead of ~1.9x BEST-RQ's step on CPU, and "
                  "1.2x instead of 1.9x its peak memory"},
    )
    enhanced_target_grad_scale: float = field(
        default=1.0,
        metadata={"help": "scale of F's gradient through the enhanced targets into layers "
                  "1..k (fairseq's GradMultiply on the unmasked pass); at the defaults that "
                  "gradient is ~5x the prediction path's and collapses the labels; 1: the "
                  "published method, 0 < scale < 1 keeps the bilevel term but smaller"},
    )
    enhanced_clean_dropout: bool = field(
        default=True,
        metadata={"help": "run the unmasked pass with dropout (and LayerDrop), in one batch "
                  "with the masked pass; false runs it as a separate pass without them, as a "
                  "teacher's forward, keeping the gradient (slower: two passes)"},
    )
    enhanced_warmup_updates: int = field(
        default=0,
        metadata={"help": "train with w1 = 0 (anchor loss only) for this many updates, so that "
                  "layer k learns something before its labels are trusted; these steps skip "
                  "the unmasked pass and cost a BEST-RQ step (validation still scores the "
                  "labels)"},
    )
    enhanced_ramp_updates: int = field(
        default=0,
        metadata={"help": "after the warm-up, raise w1 linearly from 0 to enhanced_weight "
                  "over this many updates"},
    )
    detach_enhanced_targets: bool = field(
        default=False,
        metadata={"help": "stop F's gradient at the enhanced targets (the unmasked pass then "
                  "runs without autograd, dropout or LayerDrop)"},
    )
    enhanced_teacher: str = field(
        default="",
        metadata={"help": "a diagnostic, not BiRQ: take the enhanced labels from layer k of this "
                  "frozen encoder (a birq pretraining checkpoint or a wav2vec_ctc fine-tuning of "
                  "one; absolute path, same width and features) instead of the model's own "
                  "unmasked pass. Bounds what better labels can do for the encoder at w1; needs "
                  "detach_enhanced_targets=true. Empty: the model's own layer k"},
    )
    enhanced_diversity_weight: float = field(
        default=0.0,
        metadata={"help": "weight of wav2vec 2.0's diversity penalty on the enhanced quantizer: "
                  "adds weight * M * (N - exp(H(p))) / N, p the batch average of "
                  "softmax(enhanced_logit_scale * cosine) over the M masked frames and N the "
                  "codes; its gradient reaches layers 1..k through the target path (scaled by "
                  "enhanced_target_grad_scale) and spreads the picks over the codebook; 0: off"},
    )
    enhanced_centred_target_gradient: bool = field(
        default=False,
        metadata={"help": "through the targets, F's gradient uses the predictor's log-probs "
                  "centred over the batch's masked frames (per code) instead of the raw ones: "
                  "targets are then rewarded for codes the predictor favours at that frame "
                  "more than elsewhere, not for codes it favours everywhere (the pull that "
                  "collapses them). F's value and the predictor's gradient are unchanged"},
    )
