"""The ``birq`` model: log-mel frontend -> span masking -> Conformer -> prediction heads.

One training step (see ``docs`` in the README):

* anchor labels: frozen random-projection quantizer on the stacked, *unmasked* log-mel
  frames (no gradient);
* enhanced labels (``enhanced_weight > 0``): the same encoder run on the *unmasked* input
  up to layer k, quantized with a Gumbel-softmax pick that keeps the gradient;
* predictions: two linear heads on the last layer of the *masked* pass, at masked frames.

The masked and unmasked passes share layers 1..k in one batch of 2B utterances. With
``enhanced_weight == 0`` (BEST-RQ) the unmasked pass is never built or run.
"""

import logging
from contextlib import contextmanager
from pathlib import Path

import torch
from fairseq.models import BaseFairseqModel, register_model
from fairseq.modules import GradMultiply
from torch import Tensor, nn

from ..modules.conformer import ConformerEncoder, ConformerLayer, inductor_options
from ..modules.enhanced_targets import EnhancedTargetQuantizer
from ..modules.logmel import LogMelFrontend, stack_frames
from ..modules.masking import channel_mask, span_mask
from ..modules.random_projection_quantizer import RandomProjectionQuantizer
from ..modules.subsampling import SUBSAMPLING_FACTOR, Conv2dSubsampling, StackingSubsampling
from .birq_config import BirqConfig
from .config_checks import check_birq_config, check_teacher_fits, resolve_enhanced_layer

logger = logging.getLogger(__name__)


@register_model("birq", dataclass=BirqConfig)
class BirqModel(BaseFairseqModel):
    def __init__(self, cfg: BirqConfig):
        super().__init__()
        check_birq_config(cfg)
        self.cfg = cfg
        dim = cfg.encoder_embed_dim
        self.frontend = LogMelFrontend(
            cfg.sample_rate, cfg.n_mels, cfg.win_ms, cfg.hop_ms, SUBSAMPLING_FACTOR
        )
        if cfg.subsampling == "conv2d":
            self.subsampling = Conv2dSubsampling(cfg.n_mels, cfg.subsampling_channels, dim)
        else:
            self.subsampling = StackingSubsampling(cfg.n_mels, dim)
        self.dropout_input = nn.Dropout(cfg.dropout_input)
        self.encoder = ConformerEncoder(
            [
                ConformerLayer(
                    dim,
                    cfg.encoder_ffn_embed_dim,
                    cfg.encoder_attention_heads,
                    cfg.conv_kernel_size,
                    cfg.dropout,
                    cfg.attention_dropout,
                    cfg.activation_dropout,
                    str(cfg.pos_enc_type),
                    cfg.max_relative_position,
                    cfg.attention_window,
                )
                for _ in range(cfg.encoder_layers)
            ],
            cfg.encoder_layerdrop,
            cfg.checkpoint_activations,
        )
        if cfg.compile_encoder:
            # The subsampling too: 0.95x eager with it, 1.04x without in one paired run of
            # examples/benchmarks/compile_variants.py; 1.05x either way in train_speed.py.
            self.encoder.compile_layers()
            self.subsampling.compile(**inductor_options())
        # Pretraining-only children; remove_pretraining_modules() sets them to None.
        self.anchor_quantizer = RandomProjectionQuantizer(
            SUBSAMPLING_FACTOR * cfg.n_mels,
            cfg.codebook_dim,
            cfg.codebook_size,
            cfg.num_codebooks,
            cfg.quantizer_seed,
        )
        self.anchor_head = nn.Linear(dim, cfg.num_codebooks * cfg.codebook_size)
        self.enhanced_layer = resolve_enhanced_layer(cfg)
        self.enhanced_quantizer = None
        self.enhanced_head = None
        if cfg.enhanced_weight > 0:
            self.enhanced_quantizer = EnhancedTargetQuantizer(
                dim,
                cfg.enhanced_codebook_dim,
                cfg.enhanced_codebook_size,
                cfg.enhanced_logit_scale,
                cfg.gumbel_tau,
                cfg.gumbel_hard,
                cfg.quantizer_seed + 1,
                cfg.enhanced_projection_norm,
            )
            self.enhanced_head = nn.Linear(dim, cfg.enhanced_codebook_size)
        # (teacher,) once loaded: a tuple keeps it out of the module tree, so that it is
        # neither trained, saved with this model, nor all-reduced.
        self._teacher_cache: tuple | None = None
        self.num_updates = 0

    @classmethod
    def build_model(cls, cfg: BirqConfig, task=None):
        task_rate = getattr(getattr(task, "cfg", None), "sample_rate", cfg.sample_rate)
        if task_rate != cfg.sample_rate:
            raise ValueError(
                f"task.sample_rate={task_rate} but model.sample_rate={cfg.sample_rate}: the "
                "log-mel frontend assumes the model's rate; resample the audio or set both"
            )
        return cls(cfg)

    def set_num_updates(self, num_updates: int):
        super().set_num_updates(num_updates)
        self.num_updates = num_updates

    @property
    def builds_enhanced_targets(self) -> bool:
        return self.enhanced_head is not None

    # --- shared pieces ------------------------------------------------------------------
    @staticmethod
    def _generator(rng_seed: int | None, device: torch.device) -> torch.Generator | None:
        """A generator for this batch's masks, noise and Gumbel draws, or None for the
        global RNG. Seeding per batch makes a resumed run and a run split over processes
        draw exactly what the original run drew."""
        if rng_seed is None:
            return None
        generator = torch.Generator(device=device)
        generator.manual_seed(int(rng_seed))
        return generator

    def _mask_input(
        self, feats: Tensor, time_mask: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """Replaces masked frames (time_mask at the encoder rate, (B, T / 4)) by noise and
        zeroes masked mel channels."""
        frame_mask = time_mask.repeat_interleave(SUBSAMPLING_FACTOR, dim=1).unsqueeze(-1)
        noise = torch.randn(feats.shape, generator=generator, device=feats.device)
        masked = torch.where(frame_mask, noise.to(feats.dtype) * self.cfg.mask_noise_std, feats)
        if self.cfg.mask_channel_prob > 0:
            channels = channel_mask(
                feats.size(0),
                feats.size(2),
                self.cfg.mask_channel_prob,
                self.cfg.mask_channel_length,
                feats.device,
                generator,
            )
            masked = masked.masked_fill(channels.unsqueeze(1), 0.0)
        return masked

    def _embed(self, feats: Tensor, lengths: Tensor | None) -> Tensor:
        """Log-mel (B, T, n_mels) -> encoder input (B, T / 4, C); ``lengths`` None when the
        input had no padding (the subsampling then skips its length masks)."""
        weight_dtype = self.subsampling.linear.weight.dtype
        x = self.subsampling(feats.to(weight_dtype), lengths)
        if self.cfg.feature_grad_mult != 1.0:
            x = GradMultiply.apply(x, self.cfg.feature_grad_mult)
        return self.dropout_input(x)

    @staticmethod
    def _padding_mask(lengths: Tensor, frames: int, input_padded: bool) -> Tensor | None:
        if not input_padded:
            return None
        return torch.arange(frames, device=lengths.device)[None, :] >= lengths[:, None]

    @contextmanager
    def _eval_mode(self):
        """Dropout and LayerDrop off for one pass (autograd is untouched)."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    def _teacher(self, device: torch.device) -> "BirqModel | None":
        """The frozen encoder of ``enhanced_teacher``, loaded at its first use: fine-tuning
        rebuilds this model from its config and never needs it."""
        if not self.cfg.enhanced_teacher:
            return None
        if self._teacher_cache is None:
            # label_quality.loading imports this module, hence the late import.
            from ..label_quality.loading import load_checkpoint_model

            path = Path(self.cfg.enhanced_teacher)
            if not path.is_file():
                raise FileNotFoundError(
                    f"model.enhanced_teacher={path}: no such checkpoint; give the absolute path "
                    "of a birq pretraining checkpoint or of a wav2vec_ctc fine-tuning of one")
            teacher = load_checkpoint_model(path).model
            check_teacher_fits(teacher.cfg, self.cfg, self.cfg.enhanced_teacher)
            self._teacher_cache = (teacher.requires_grad_(False).eval(),)
        teacher = self._teacher_cache[0]
        if next(teacher.encoder.parameters()).device != device:  # moved once, not every step
            teacher.to(device)
        return teacher

    @torch.no_grad()
    def _detached_clean_pass(
        self, feats: Tensor, lengths: Tensor | None, padding: Tensor | None, k: int
    ) -> Tensor:
        """Layers 1..k on the unmasked input for detached targets: no autograd, and no
        dropout or LayerDrop (like a teacher's forward), which also lets the attention use
        its fused kernel. With ``enhanced_teacher``, the teacher's layers 1..k."""
        teacher = self._teacher(feats.device)
        source = self if teacher is None else teacher
        with source._eval_mode():
            return source.encoder(source._embed(feats, lengths), padding, 0, k)

    def _clean_input(self, feats: Tensor, lengths: Tensor | None) -> Tensor:
        """The unmasked input of the target pass; its subsampling runs without autograd
        unless ``enhanced_grad_through_subsampling``."""
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and self.cfg.enhanced_grad_through_subsampling
        ):
            return self._embed(feats, lengths)

    def _clean_pass_without_dropout(
        self, feats: Tensor, lengths: Tensor | None, padding: Tensor | None, k: int
    ) -> Tensor:
        """Layers 1..k on the unmasked input with dropout and LayerDrop off (eval mode) but
        the gradient kept: the targets are then those the model would give at test time."""
        with self._eval_mode():
            return self.encoder(self._clean_input(feats, lengths), padding, 0, k)

    def enhanced_weight_scale(self) -> float:
        """The share of w1 in force at this update: 0 during the warm-up, then a linear ramp
        to 1 (``enhanced_warmup_updates``, ``enhanced_ramp_updates``)."""
        after_warmup = self.num_updates - self.cfg.enhanced_warmup_updates
        if after_warmup < 0:
            return 0.0
        if self.cfg.enhanced_ramp_updates == 0:
            return 1.0
        return min(1.0, (after_warmup + 1) / self.cfg.enhanced_ramp_updates)

    # --- pretraining --------------------------------------------------------------------
    def forward(
        self,
        source: Tensor,
        padding_mask: Tensor | None = None,
        rng_seed: int | None = None,
        **unused,
    ) -> dict:
        """One pretraining forward pass on raw audio ``source`` (B, L).

        Returns the predictions and labels at the M masked frames:
        ``anchor_logits`` (M, G, N), ``anchor_targets`` (M, G) and, with enhanced targets,
        ``enhanced_logits`` (M, N_e), ``enhanced_targets`` (M, N_e) distributions with
        gradient, ``enhanced_picks`` and ``enhanced_nearest`` (M,); plus ``num_frames``,
        the valid encoder frames of the batch.
        """
        if self.anchor_head is None:
            raise RuntimeError("pretraining modules were removed; use extract_features")
        generator = self._generator(rng_seed, source.device)
        feats, lengths = self.frontend(source, padding_mask)
        embed_lengths = None if padding_mask is None else lengths  # None: no masks
        enc_lengths = lengths // SUBSAMPLING_FACTOR
        enc_frames = feats.size(1) // SUBSAMPLING_FACTOR
        enc_padding = self._padding_mask(enc_lengths, enc_frames, padding_mask is not None)
        time_mask = span_mask(
            enc_lengths, enc_frames, self.cfg.mask_prob, self.cfg.mask_length, generator
        )
        masked_feats = self._mask_input(feats, time_mask, generator)
        k = self.enhanced_layer
        clean_hidden = None
        # During w1's warm-up F weighs nothing, so training skips the unmasked pass (the
        # step costs BEST-RQ's); validation still builds the labels to measure them.
        warming_up = (self.training and self.builds_enhanced_targets
                      and self.enhanced_weight_scale() == 0.0)
        builds_targets = self.builds_enhanced_targets and not warming_up
        shared_pass = (builds_targets and not self.cfg.detach_enhanced_targets
                       and self.cfg.enhanced_clean_dropout)
        if shared_pass:
            both_padding = None if enc_padding is None else torch.cat([enc_padding, enc_padding])
            masked_in = self._embed(masked_feats, embed_lengths)
            hidden = self.encoder(torch.cat([masked_in, self._clean_input(feats, embed_lengths)]),
                                  both_padding, 0, k)
            hidden, clean_hidden = hidden.chunk(2)
        else:
            hidden = self.encoder(self._embed(masked_feats, embed_lengths), enc_padding, 0, k)
            if builds_targets and self.cfg.detach_enhanced_targets:
                clean_hidden = self._detached_clean_pass(feats, embed_lengths, enc_padding, k)
            elif builds_targets:
                clean_hidden = self._clean_pass_without_dropout(
                    feats, embed_lengths, enc_padding, k)
        if clean_hidden is not None and self.cfg.enhanced_target_grad_scale != 1.0:
            clean_hidden = GradMultiply.apply(clean_hidden, self.cfg.enhanced_target_grad_scale)
        hidden = self.encoder(hidden, enc_padding, k, None)

        predicted_from = hidden[time_mask]
        num_masked = predicted_from.size(0)
        with torch.no_grad():
            stacked = stack_frames(feats, SUBSAMPLING_FACTOR)[time_mask]
            anchor_targets = self.anchor_quantizer(stacked)
        result = {
            "anchor_logits": self.anchor_head(predicted_from).view(
                num_masked, self.cfg.num_codebooks, self.cfg.codebook_size
            ),
            "anchor_targets": anchor_targets,
            "num_frames": enc_lengths.sum(),
        }
        if warming_up:  # the head's logits only, so that every parameter gets a gradient
            result.update(enhanced_logits=self.enhanced_head(predicted_from),
                          enhanced_weight_scale=0.0)
        elif builds_targets:
            valid = torch.arange(enc_frames, device=source.device)[None, :] < enc_lengths[:, None]
            labels = self.enhanced_quantizer(clean_hidden, valid, time_mask, generator)
            result.update(
                enhanced_logits=self.enhanced_head(predicted_from),
                enhanced_targets=labels.targets,
                enhanced_picks=labels.picks,
                enhanced_nearest=labels.nearest,
                enhanced_projections=labels.projections,
                enhanced_mean_probs=labels.mean_probs,
                enhanced_weight_scale=self.enhanced_weight_scale(),
            )
        return result

    @torch.no_grad()
    def frame_labels(
        self,
        source: Tensor,
        padding_mask: Tensor | None = None,
        rng_seed: int | None = None,
        all_layers: bool = False,
    ) -> dict:
        """The labels of every frame of the *unmasked* input, for measuring their quality.

        Returns ``valid`` (B, T) at 40 ms per frame, ``feats`` the normalised log-mel (B, 4T,
        n_mels), ``anchor`` (B, T, G) nearest anchor codes and, with an enhanced branch,
        ``enhanced_nearest`` and ``enhanced_pick`` (B, T) (-1 at padding) from layer k; with
        ``all_layers``, ``layers``: the output of every Conformer block (B, T, C). Runs the
        encoder as it is (call ``eval()`` first for labels without dropout).
        """
        if self.anchor_quantizer is None:
            raise RuntimeError("pretraining modules were removed; rebuild the model from its cfg")
        feats, lengths = self.frontend(source, padding_mask)
        embed_lengths = None if padding_mask is None else lengths  # None: no masks
        enc_lengths = lengths // SUBSAMPLING_FACTOR
        enc_frames = feats.size(1) // SUBSAMPLING_FACTOR
        enc_padding = self._padding_mask(enc_lengths, enc_frames, padding_mask is not None)
        valid = torch.arange(enc_frames, device=source.device)[None, :] < enc_lengths[:, None]
        result = {
            "valid": valid,
            "feats": feats,
            "anchor": self.anchor_quantizer(stack_frames(feats, SUBSAMPLING_FACTOR)),
        }
        layers: list[Tensor] = []
        end = None if all_layers else self.enhanced_layer
        own_layer_k = self.builds_enhanced_targets and not self.cfg.enhanced_teacher
        if all_layers or own_layer_k:
            self.encoder(self._embed(feats, embed_lengths), enc_padding, 0, end, layers)
        if all_layers:
            result["layers"] = layers
        if self.builds_enhanced_targets:
            generator = self._generator(rng_seed, source.device)
            layer_k = (layers[self.enhanced_layer - 1] if own_layer_k else
                       self._detached_clean_pass(feats, embed_lengths, enc_padding,
                                                 self.enhanced_layer))
            labels = self.enhanced_quantizer(layer_k, valid, valid, generator)
            for key, codes in (("enhanced_nearest", labels.nearest),
                               ("enhanced_pick", labels.picks)):
                result[key] = codes.new_full(valid.shape, -1).masked_scatter(valid, codes)
        return result

    # --- the wav2vec 2.0 interface that fairseq's fine-tuning and tools call --------------
    def extract_features(
        self,
        source: Tensor,
        padding_mask: Tensor | None = None,
        mask: bool = False,
        layer: int | None = None,
        **unused,
    ) -> dict:
        """Encoder features of raw audio, as ``Wav2Vec2Model.extract_features`` returns them.

        ``source`` (B, L) samples, ``padding_mask`` (B, L) True = padding. With ``mask`` the
        input is span- and channel-masked (SpecAugment during fine-tuning). ``layer``
        (0-based) stops after that layer. Returns ``x`` (B, T, C) at 40 ms per frame,
        ``padding_mask`` (B, T) or None when the input had none, and ``layer_results``,
        the output of every layer that ran.
        """
        feats, lengths = self.frontend(source, padding_mask)
        embed_lengths = None if padding_mask is None else lengths  # None: no masks
        enc_lengths = lengths // SUBSAMPLING_FACTOR
        enc_frames = feats.size(1) // SUBSAMPLING_FACTOR
        enc_padding = self._padding_mask(enc_lengths, enc_frames, padding_mask is not None)
        if mask:
            time_mask = span_mask(
                enc_lengths, enc_frames, self.cfg.mask_prob, self.cfg.mask_length
            )
            feats = self._mask_input(feats, time_mask, None)
        layer_results: list[Tensor] = []
        end = None if layer is None else layer + 1
        x = self.encoder(self._embed(feats, embed_lengths), enc_padding, 0, end, layer_results)
        return {"x": x, "padding_mask": enc_padding, "layer_results": layer_results}

    def remove_pretraining_modules(self, last_layer: int | None = None):
        """Drops quantizers and heads (and layers after ``last_layer``) for fine-tuning.

        The children are set to None rather than deleted so that stock fine-tuning's
        strict ``load_state_dict`` skips their saved weights."""
        self.anchor_quantizer = None
        self.anchor_head = None
        self.enhanced_quantizer = None
        self.enhanced_head = None
        if last_layer is not None:
            self.encoder.layers = nn.ModuleList(self.encoder.layers[: last_layer + 1])
