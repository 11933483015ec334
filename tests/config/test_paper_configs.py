"""The shipped paper-size configs build models of the sizes the paper reports."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from birq_fairseq.models.birq import BirqModel
from birq_fairseq.models.birq_config import BirqConfig

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "pretraining"
TOLERANCE = 0.06

# Paper totals (BiRQ, both heads). BEST-RQ twins drop the enhanced head and quantizer.
PAPER_SIZES_M = {
    "birq_small_librispeech": 137,  # C1
    "birq_base_librispeech": 155,  # C2
    "birq_large_yodas": 275,  # C3
}
TWINS = {"bestrq_base_librispeech": "birq_base_librispeech",
         "bestrq_large_yodas": "birq_large_yodas"}


def build(config_name: str) -> BirqModel:
    model_cfg = OmegaConf.load(CONFIG_DIR / f"{config_name}.yaml").model
    fields = {k: v for k, v in model_cfg.items() if k != "_name"}
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(BirqConfig), fields))
    return BirqModel(cfg)


def parameter_count(model: BirqModel) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("config_name", sorted(PAPER_SIZES_M))
def test_birq_config_matches_paper_parameter_count(config_name):
    millions = parameter_count(build(config_name)) / 1e6
    print(f"{config_name}: {millions:.1f}M parameters (paper ~{PAPER_SIZES_M[config_name]}M)")
    assert millions == pytest.approx(PAPER_SIZES_M[config_name], rel=TOLERANCE)


@pytest.mark.parametrize("config_name", sorted(TWINS))
def test_bestrq_twin_is_birq_without_the_enhanced_branch(config_name):
    birq, bestrq = build(TWINS[config_name]), build(config_name)
    assert bestrq.enhanced_head is None and bestrq.enhanced_quantizer is None
    head = parameter_count(birq.enhanced_head)
    assert parameter_count(bestrq) == parameter_count(birq) - head
