"""The ``birq_ctc_eval`` task: fairseq's ``audio_finetuning`` data with a CTC decoder, so
that ``fairseq-generate --scoring wer`` scores a fine-tuned ``wav2vec_ctc`` checkpoint."""

from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask

from ..decoding import CtcGreedyDecoder

CTC_DECODER_CHOICES = ChoiceEnum(["greedy"])


@dataclass
class BirqCtcEvalConfig(AudioFinetuningConfig):
    labels: str = field(
        default="ltr", metadata={"help": "extension of the reference label files"}
    )
    ctc_decoder: CTC_DECODER_CHOICES = field(
        default="greedy", metadata={"help": "greedy: best path, no language model"}
    )


@register_task("birq_ctc_eval", dataclass=BirqCtcEvalConfig)
class BirqCtcEvalTask(AudioFinetuningTask):
    cfg: BirqCtcEvalConfig

    def build_generator(self, models, args, **unused):
        """fairseq's SequenceGenerator is autoregressive and cannot drive a CTC model."""
        return CtcGreedyDecoder(self.target_dictionary)

    def get_batch_iterator(self, dataset, *args, **kwargs):
        """Scores every utterance: fairseq main would drop a last batch smaller than
        ``required_batch_size_multiple``."""
        kwargs["required_batch_size_multiple"] = 1
        return super().get_batch_iterator(dataset, *args, **kwargs)
