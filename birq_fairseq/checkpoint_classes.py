"""Lets ``torch.load`` (``weights_only=True`` since torch 2.6) open fairseq checkpoints.

Fine-tuned fairseq checkpoints pickle the target Dictionary (resume, fairseq-generate), and a
multi-process resume broadcasts the loaded state (its config by then an OmegaConf tree, its
tensors replaced by fairseq's index placeholders) through torch.load: these classes only
hold data.  Importing this module allows them; it imports nothing of birq_fairseq, so the
package can import it the moment fairseq is loaded, whatever is being imported then.
"""

import collections
import typing

import torch
from fairseq.data import Dictionary
from fairseq.distributed.utils import _TensorPlaceholder
from omegaconf import DictConfig, ListConfig, base, nodes

torch.serialization.add_safe_globals([
    Dictionary, _TensorPlaceholder, DictConfig, ListConfig, base.ContainerMetadata, base.Metadata,
    nodes.AnyNode, nodes.StringNode, nodes.IntegerNode, nodes.FloatNode, nodes.BooleanNode,
    typing.Any, collections.defaultdict, dict, list, int,
])
