"""The ``birq_pretraining`` task: fairseq's audio pretraining on wav2vec manifests, with
reproducible batches and no silently dropped data."""

import logging
import os
from dataclasses import dataclass, field

import numpy as np
from fairseq.data.audio.raw_audio_dataset import RawAudioDataset
from fairseq.data.text_compressor import TextCompressionLevel
from fairseq.tasks import register_task
from fairseq.tasks.audio_pretraining import AudioPretrainingConfig, AudioPretrainingTask

from ..data.manifest_checks import check_manifest_header_and_columns, format_load_error
from ..data.seeded_audio_dataset import SeededFileAudioDataset
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
    collapse_stop: bool = field(
        default=False, metadata={"help": "stop training (with an error) instead of warning"}
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
        self.datasets[split] = SeededFileAudioDataset(
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

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        loss, sample_size, logging_output = super().train_step(
            sample, model, criterion, optimizer, update_num, ignore_grad
        )
        update = update_num + 1  # fairseq passes the count before this update
        if self.collapse_guard.due(update) and not ignore_grad:
            self.collapse_guard.check(logging_output, self.codebook_sizes, update)
        return loss, sample_size, logging_output
