"""Models for label quality: a random init from a pretraining yaml is seeded, and its
quantizers are those of any checkpoint with the same quantizer seed."""

import pytest
import torch

from birq_fairseq.label_quality.loading import load_model
from tests.e2e.cli import REPO_ROOT

CONFIG = REPO_ROOT / "config" / "pretraining" / "birq_demo.yaml"


def test_random_init_depends_on_its_seed_alone():
    first, again, other = (load_model(str(CONFIG), seed).model for seed in (2, 2, 3))
    params = [dict(m.named_parameters()) for m in (first, again, other)]
    name = next(n for n, p in params[0].items()
                if n.startswith("encoder.layers.0.") and p.dim() == 2)
    assert torch.equal(params[0][name], params[1][name])
    assert not torch.equal(params[0][name], params[2][name])
    # The frozen quantizers come from quantizer_seed, not from the init seed.
    assert torch.equal(first.anchor_quantizer.projection, other.anchor_quantizer.projection)
    assert first.enhanced_layer == 3 and not first.training


def test_a_yaml_that_is_not_a_birq_pretraining_config_is_refused(tmp_path):
    bad = tmp_path / "ctc.yaml"
    bad.write_text("model:\n  _name: wav2vec_ctc\n")
    with pytest.raises(ValueError, match="not a birq pretraining config"):
        load_model(str(bad))


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint or config"):
        load_model(str(tmp_path / "nothing.pt"))
