"""The ``birq_ctc_eval`` task: fairseq's ``audio_finetuning`` data with a CTC decoder, so
that ``fairseq-generate --scoring wer`` scores a fine-tuned ``wav2vec_ctc`` checkpoint,
greedily or with a beam and a word n-gram LM."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask
from omegaconf import OmegaConf

from ..decoding import CtcBeamDecoder, CtcGreedyDecoder
from ..decoding.ctc_beam import word_list_unigrams

CTC_DECODER_CHOICES = ChoiceEnum(["greedy", "beam"])
# Optional[...] rather than "X | None": fairseq's argparse bridge only recognises the former.


@dataclass
class BirqCtcEvalConfig(AudioFinetuningConfig):
    labels: str = field(
        default="ltr", metadata={"help": "extension of the reference label files"}
    )
    ctc_decoder: CTC_DECODER_CHOICES = field(
        default="greedy",
        metadata={"help": "greedy: best path, no LM; beam: lexicon-free prefix beam search "
                          "(pyctcdecode), with a word LM when --lm-path is given; the beam "
                          "size is fairseq's --beam (CTC wants 50-500, not its default 5)"},
    )
    lm_path: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={"help": "word n-gram LM for --ctc-decoder beam: ARPA (.arpa) or KenLM "
                          "binary; build a small one with python -m birq_fairseq.lm.build_arpa"},
    )
    lm_weight: float = field(
        default=0.5, metadata={"help": "weight of the LM log-probability (shallow fusion)"}
    )
    word_score: float = field(
        default=0.0, metadata={"help": "score added per word (counters the LM's short bias)"}
    )
    lm_unigrams: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={"help": "file with the LM's words, one per line; needed for a binary LM, "
                          "whose vocabulary cannot be read back (an ARPA file gives its own)"},
    )


def check_decoder_config(cfg: BirqCtcEvalConfig) -> None:
    """Names the option at fault before any model is loaded."""
    for name in ("lm_path", "lm_unigrams"):
        path, flag = getattr(cfg, name), "--" + name.replace("_", "-")
        if path is None:
            continue
        if cfg.ctc_decoder != "beam":
            raise ValueError(f"{flag} is used only by beam search: add --ctc-decoder beam")
        if not Path(path).is_file():
            raise FileNotFoundError(f"{flag} {path}: no such file")


def release_generation_lm_path(cfg) -> None:
    """fairseq-generate has its own ``--lm-path`` (a fairseq neural LM fused into its
    SequenceGenerator), and argparse fills it and this task's field from the same flag;
    generate would then load the n-gram file as a checkpoint and fail. The task owns the
    flag here, so it clears fairseq's copy in the run's config (the task config's parent)."""
    root = cfg._get_parent() if OmegaConf.is_config(cfg) else None
    generation = root.get("generation") if root is not None else None
    if generation is not None and generation.get("lm_path") is not None:
        generation.lm_path = None


@register_task("birq_ctc_eval", dataclass=BirqCtcEvalConfig)
class BirqCtcEvalTask(AudioFinetuningTask):
    cfg: BirqCtcEvalConfig

    def __init__(self, cfg: BirqCtcEvalConfig):
        check_decoder_config(cfg)
        release_generation_lm_path(cfg)
        super().__init__(cfg)

    def build_generator(self, models, args, **unused):
        """fairseq's SequenceGenerator is autoregressive and cannot drive a CTC model."""
        if self.cfg.ctc_decoder == "greedy":
            return CtcGreedyDecoder(self.target_dictionary)
        unigrams = word_list_unigrams(self.cfg.lm_unigrams) if self.cfg.lm_unigrams else None
        return CtcBeamDecoder(
            self.target_dictionary, beam=getattr(args, "beam", 50), lm_path=self.cfg.lm_path,
            lm_weight=self.cfg.lm_weight, word_score=self.cfg.word_score, unigrams=unigrams,
        )

    def get_batch_iterator(self, dataset, *args, **kwargs):
        """Scores every utterance: fairseq main would drop a last batch smaller than
        ``required_batch_size_multiple``."""
        kwargs["required_batch_size_multiple"] = 1
        return super().get_batch_iterator(dataset, *args, **kwargs)
