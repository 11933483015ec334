"""The ``birq_pretraining`` task: fairseq's audio pretraining on wav2vec manifests, with
reproducible batches and no silently dropped data."""

import logging
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from fairseq.data.audio.raw_audio_dataset import RawAudioDataset
from fairseq.data.text_compressor import TextCompressionLevel
from fairseq.tasks import register_task
from fairseq.tasks.audio_pretraining import AudioPretrainingConfig, AudioPretrainingTask

from ..alignment.phone_alignments import (
    FRAMES_PER_LABEL,
    LABEL_FRAME_OFFSET,
    PhoneInventory,
    read_alignments,
    utterance_id,
)
from ..data.manifest_checks import check_manifest_header_and_columns, format_load_error
from ..data.seeded_audio_dataset import SeededFileAudioDataset
from ..label_quality.metrics import contingency_table_torch
from ..label_quality.validation_meters import log_label_quality
from .collapse_guard import CollapseGuard

logger = logging.getLogger(__name__)


@dataclass
class BirqPretrainingConfig(AudioPretrainingConfig):
    """The fields of ``audio_pretraining`` (manifests are read unchanged) and the guard
    against codebook collapse."""

    collapse_check_interval: int = field(
        default=100,
        metadata={"help": "check the labels for collapse every N updates (0: never)"},
    )
    collapse_min_code_fraction: float = field(
        default=0.05,
        metadata={"help": "warn when a batch's labels use fewer distinct codes than this "
                  "fraction of min(masked frames, codebook size)"},
    )
    collapse_min_perplexity: float = field(
        default=2.0, metadata={"help": "warn when a batch's label perplexity is below this"}
    )
    collapse_max_enhanced_top_share: float = field(
        default=0.3,
        metadata={"help": "warn when one code holds more than this share of a batch's "
                  "enhanced labels (healthy study runs: 0.02-0.2; a collapsing one passes 0.3 "
                  "while still using 13+ codes per batch)"},
    )
    collapse_stop: bool = field(
        default=False, metadata={"help": "stop training (with an error) instead of warning"}
    )
    phone_alignments: Optional[str] = field(  # noqa: UP045 (fairseq cannot parse X | None)
        default=None,
        metadata={"help": "suffix of frame-level phone alignments beside the manifests (e.g. "
                  "'phn' reads DATA/valid.phn: 'uid<TAB>ph1,ph2,...', one phone per 10 ms); "
                  "validation on a split that has one then logs PNMI and purities of the "
                  "anchor and enhanced labels (pnmi_anchor, pnmi_enhanced, ...)"},
    )


def _longest_item(dataset) -> int:
    """The largest ``dataset.size(i)`` (samples) in one vectorised pass; 0 for datasets that
    are not raw audio."""
    if not isinstance(dataset, RawAudioDataset) or len(dataset) == 0:
        return 0
    sizes = np.asarray(dataset.sizes)
    if not dataset.pad:
        sizes = np.minimum(sizes, dataset.max_sample_size)
    return int(sizes.max())


@register_task("birq_pretraining", dataclass=BirqPretrainingConfig)
class BirqPretrainingTask(AudioPretrainingTask):
    cfg: BirqPretrainingConfig

    def __init__(self, cfg: BirqPretrainingConfig):
        super().__init__(cfg)
        self.collapse_guard = CollapseGuard(
            cfg.collapse_check_interval,
            cfg.collapse_min_code_fraction,
            cfg.collapse_min_perplexity,
            cfg.collapse_stop,
            cfg.collapse_max_enhanced_top_share,
        )
        self.codebook_sizes: dict[str, int] = {}

    def build_model(self, model_cfg, from_checkpoint=False):
        """Notes the codebook sizes for the collapse guard here, where the model is still
        unwrapped (train_step receives it inside fairseq's DDP wrappers)."""
        model = super().build_model(model_cfg, from_checkpoint)
        self.codebook_sizes = {"anchor": model.cfg.codebook_size,
                               "enhanced": model.cfg.enhanced_codebook_size}
        return model

    def load_dataset(self, split: str, task_cfg: BirqPretrainingConfig = None, **kwargs):
        task_cfg = task_cfg or self.cfg
        if task_cfg.binarized_dataset or task_cfg.multi_corpus_keys is not None:
            return super().load_dataset(split, task_cfg, **kwargs)
        manifest = os.path.join(self.cfg.data, f"{split}.tsv")
        if not os.path.isfile(manifest):
            raise FileNotFoundError(
                f"no manifest {manifest}: task.data must be a folder with {split}.tsv "
                "(wav2vec manifest: first line the audio root, then 'path<TAB>samples')"
            )
        # fairseq would stop at the first bad line with a bare AssertionError; list them all.
        problems = check_manifest_header_and_columns(manifest)
        if problems:
            raise ValueError(format_load_error(self.cfg.data, split, problems))
        dataset = SeededFileAudioDataset(
            manifest_path=manifest,
            sample_rate=task_cfg.sample_rate,
            max_sample_size=self.cfg.max_sample_size,
            min_sample_size=self.cfg.min_sample_size,
            pad=task_cfg.labels is not None or task_cfg.enable_padding,
            normalize=task_cfg.normalize,
            num_buckets=self.cfg.num_batch_buckets,
            text_compression_level=getattr(
                TextCompressionLevel, str(self.cfg.text_compression_level)
            ),
            seed=task_cfg.seed,
        )
        self._attach_phones(split, dataset)
        self.datasets[split] = dataset

    def _attach_phones(self, split: str, dataset: SeededFileAudioDataset) -> None:
        if not self.cfg.phone_alignments:
            return
        path = os.path.join(self.cfg.data, f"{split}.{self.cfg.phone_alignments.lstrip('.')}")
        if not os.path.isfile(path):
            logger.info(f"{split}: no phone alignments ({path}); no label quality for it")
            return
        alignments = read_alignments(path)
        inventory = PhoneInventory.of(alignments)
        phones = [alignments.get(utterance_id(name)) for name in dataset.manifest_paths()]
        dataset.set_phones([None if p is None else inventory.encode(p) for p in phones],
                           len(inventory))
        aligned = sum(p is not None for p in phones)
        logger.info(f"{split}: phone alignments for {aligned} of {len(phones)} utterances "
                    f"({len(inventory)} phones, {path}); unaligned ones are skipped")

    def get_batch_iterator(self, dataset, *args, **kwargs):
        """fairseq main drops a last batch smaller than ``required_batch_size_multiple``;
        with 1 every utterance is used."""
        kwargs["required_batch_size_multiple"] = 1
        max_tokens = kwargs.get("max_tokens")
        longest = _longest_item(dataset)
        if max_tokens and longest > max_tokens:
            raise ValueError(
                f"dataset.max_tokens={max_tokens} samples cannot hold the longest utterance "
                f"({longest} samples after cropping to task.max_sample_size="
                f"{self.cfg.max_sample_size}); raise dataset.max_tokens to at least {longest} "
                "or lower task.max_sample_size"
            )
        return super().get_batch_iterator(dataset, *args, **kwargs)

    def valid_step(self, sample, model, criterion):
        """Adds, on splits with phone alignments, (phone, label) count tables of every
        unmasked frame's anchor and enhanced labels, which ``reduce_metrics`` turns into
        PNMI and purities over the whole split."""
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        if "phones" in sample:
            logging_output.update(self._label_tables(sample, model))
        return loss, sample_size, logging_output

    @torch.no_grad()
    def _label_tables(self, sample, model) -> dict:
        net_input = sample["net_input"]
        labels = model.frame_labels(
            net_input["source"], net_input.get("padding_mask"), net_input.get("rng_seed")
        )
        frames = labels["valid"].size(1)
        phones = sample["phones"][:, LABEL_FRAME_OFFSET::FRAMES_PER_LABEL][:, :frames]
        phones = torch.nn.functional.pad(phones, (0, frames - phones.size(1)), value=-1)
        phones = phones.to(labels["valid"].device)
        keep = labels["valid"] & (phones >= 0)
        codes = {"anchor": labels["anchor"][..., 0]}
        for kind in ("enhanced", "gumbel"):
            key = "enhanced_nearest" if kind == "enhanced" else "enhanced_pick"
            if key in labels:
                codes[kind] = labels[key]
        sizes = self.codebook_sizes
        return {
            f"phone_table_{kind}": contingency_table_torch(
                phones[keep], label[keep], sample["num_phones"],
                sizes["anchor" if kind == "anchor" else "enhanced"],
            )
            for kind, label in codes.items()
        }

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        log_label_quality(logging_outputs)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        loss, sample_size, logging_output = super().train_step(
            sample, model, criterion, optimizer, update_num, ignore_grad
        )
        update = update_num + 1  # fairseq passes the count before this update
        if self.collapse_guard.due(update) and not ignore_grad:
            self.collapse_guard.check(logging_output, self.codebook_sizes, update)
        return loss, sample_size, logging_output
