"""Tasks registered with fairseq."""

from .birq_ctc_eval import BirqCtcEvalConfig, BirqCtcEvalTask  # noqa: F401
from .birq_pretraining import BirqPretrainingConfig, BirqPretrainingTask  # noqa: F401
