"""birq-fairseq: BiRQ and BEST-RQ self-supervised speech pretraining for fairseq.

Importing the package (``common.user_dir`` / ``--user-dir``) registers the task
``birq_pretraining``, the model ``birq``, the criterion ``birq`` and the evaluation task
``birq_ctc_eval``.
"""

import torch
from fairseq.data import Dictionary

from . import criterions, models, tasks  # noqa: F401

# torch >= 2.6 loads checkpoints with weights_only=True; fine-tuned fairseq checkpoints
# pickle the target Dictionary, which resuming and fairseq-generate must unpickle.
torch.serialization.add_safe_globals([Dictionary])
