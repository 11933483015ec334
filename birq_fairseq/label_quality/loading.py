"""The whole ``birq`` model (encoder, quantizers, heads) of a pretraining checkpoint, of a
fine-tuned ``wav2vec_ctc`` checkpoint, or randomly initialised from a pretraining yaml.

Fine-tuning drops the quantizers, but they are frozen buffers drawn from
``quantizer_seed`` alone, so rebuilding the model from its saved config brings back the
very labels it was pretrained on.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .. import plugin  # noqa: F401  (registers the birq model; checkpoint classes)
from ..models.birq import BirqModel
from ..models.birq_config import BirqConfig

FINETUNED_PREFIX = "w2v_encoder.w2v_model."
PRETRAINING_ONLY = ("anchor_quantizer.", "anchor_head.", "enhanced_quantizer.", "enhanced_head.")
CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass
class LoadedModel:
    model: BirqModel
    normalize: bool  # the task's waveform normalisation, as training saw it
    kind: str  # "pretrained", "fine-tuned" or "random init"


def _from_config(path: Path, seed: int) -> LoadedModel:
    cfg = OmegaConf.load(path)
    model_cfg = cfg.get("model")
    if model_cfg is None or model_cfg.get("_name") != "birq":
        raise ValueError(f"{path}: not a birq pretraining config (needs model._name: birq)")
    merged = OmegaConf.merge(OmegaConf.structured(BirqConfig), model_cfg)
    torch.manual_seed(seed)
    model = BirqModel(merged)
    normalize = bool(cfg.get("task", {}).get("normalize", False))
    return LoadedModel(model.eval(), normalize, "random init")


def load_checkpoint_model(path: Path) -> LoadedModel:
    """The birq model of a pretraining checkpoint or of the encoder inside a wav2vec_ctc
    fine-tuning of one (the weights that fine-tuning dropped are rebuilt from the config)."""
    from fairseq import checkpoint_utils
    from fairseq.models import build_model

    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    model_cfg, task_cfg, weights = state["cfg"].model, state["cfg"].task, state["model"]
    kind = "pretrained"
    if model_cfg._name == "wav2vec_ctc":
        model_cfg, task_cfg = model_cfg.w2v_args.model, model_cfg.w2v_args.task
        weights = {k[len(FINETUNED_PREFIX):]: v for k, v in weights.items()
                   if k.startswith(FINETUNED_PREFIX)}
        kind = "fine-tuned"
    if model_cfg._name != "birq":
        raise ValueError(
            f"{path}: a '{model_cfg._name}' checkpoint; only birq pretraining checkpoints and "
            "wav2vec_ctc fine-tunings of them hold a birq encoder"
        )
    model = build_model(model_cfg, task=None)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not (kind == "fine-tuned" and k.startswith(PRETRAINING_ONLY))]
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return LoadedModel(model.eval(), bool(task_cfg.get("normalize", False)), kind)


def load_model(model: str, seed: int = 1) -> LoadedModel:
    """``model``: a checkpoint (.pt) or a pretraining yaml for a random-init twin."""
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{model}: no such checkpoint or config")
    if path.suffix in CONFIG_SUFFIXES:
        return _from_config(path, seed)
    return load_checkpoint_model(path)
