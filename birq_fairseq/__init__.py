"""birq-fairseq: BiRQ and BEST-RQ self-supervised speech pretraining for fairseq.

Importing the package (``common.user_dir`` / ``--user-dir``) registers the task
``birq_pretraining``, the model ``birq``, the criterion ``birq`` and the evaluation task
``birq_ctc_eval``.
"""

import collections
import typing

import torch
from fairseq.data import Dictionary
from fairseq.distributed.utils import _TensorPlaceholder
from omegaconf import DictConfig, ListConfig, base, nodes

from . import criterions, models, tasks  # noqa: F401

# torch >= 2.6 loads with weights_only=True. Fine-tuned fairseq checkpoints pickle the
# target Dictionary (resume, fairseq-generate), and a multi-process resume broadcasts the
# loaded state (its config by then an OmegaConf tree, its tensors replaced by fairseq's
# index placeholders) through torch.load: these classes only hold data.
torch.serialization.add_safe_globals([
    Dictionary, _TensorPlaceholder, DictConfig, ListConfig, base.ContainerMetadata, base.Metadata,
    nodes.AnyNode, nodes.StringNode, nodes.IntegerNode, nodes.FloatNode, nodes.BooleanNode,
    typing.Any, collections.defaultdict, dict, list, int,
])
