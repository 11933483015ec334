"""What fairseq's ``common.user_dir`` / ``--user-dir`` needs from this package: the task
``birq_pretraining``, the model ``birq``, the criterion ``birq`` and the evaluation task
``birq_ctc_eval`` registered, and the classes that fine-tuned checkpoints pickle allowed.

The package ``__init__`` imports this module when fairseq is already loaded, as it is when
fairseq imports its user dir; the data tools, which run without fairseq, never import it.
"""

from . import checkpoint_classes, criterions, models, tasks  # noqa: F401
