"""Every override a quality.py preset passes is one fairseq-hydra-train accepts for both
pretraining configs and the fine-tuning config (hydra composes them with ``--cfg job``,
without training), and lands where the preset says: a wrong key would otherwise only fail
once the preset's long runs start (the gpu preset on a lent device)."""

import argparse
import json
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from tests.e2e.cli import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "examples" / "benchmarks"))
import quality  # noqa: E402

HYDRA_TRAIN = [sys.executable, "-m", "fairseq_cli.hydra_train"]


def composed(overrides: list[str], config_dir: str, config_name: str) -> str:
    proc = subprocess.run([*HYDRA_TRAIN, *overrides, "--config-dir", config_dir,
                           "--config-name", config_name, "--cfg", "job"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("preset", ["study", "gpu"])
@pytest.mark.parametrize("system", ["birq", "bestrq"])
def test_pretraining_overrides_compose(preset, system):
    settings = quality.PRESETS[preset]
    overrides = settings["pretrain_override"] + (
        settings["birq_override"] if system == "birq" else [])
    config = composed(overrides, "config/pretraining", f"{system}_demo")
    assert "validate_interval_updates: 250" in config
    # both presets' BiRQ: the centred target gradient at 0.03 (birq_demo's 0.1 tripped the
    # collapse guard in the study's one-piece run)
    assert ("  enhanced_target_grad_scale: 0.03\n" in config) == (system == "birq")
    if preset == "gpu":
        for line in ("encoder_layers: 6", "encoder_embed_dim: 192", "enhanced_layer: 4",
                     "max_tokens: 3840000", "warmup_updates: 375"):
            assert f"  {line}\n" in config
        assert "  lr:\n  - 0.0003\n" in config


@pytest.mark.parametrize(("preset", "lr"), [("study", "0.002"), ("gpu", "0.0005")])
def test_finetuning_overrides_compose(preset, lr):
    """The study fine-tunes at lr 2e-3, the gpu preset's 6 x 192 at 5e-4 (where a random
    init leaves the all-blank plateau); both warm up for 30 % of the updates."""
    config = composed(quality.PRESETS[preset]["finetune_override"], "config/finetuning", "demo")
    assert "best_checkpoint_metric: uer" in config
    assert f"  lr:\n  - {lr}\n" in config
    assert "  phase_ratio:\n  - 0.3\n  - 0.2\n  - 0.5\n" in config


def test_gpu_preset_is_the_study_ten_times_larger():
    study, gpu = quality.PRESETS["study"], quality.PRESETS["gpu"]
    batch = lambda preset: next(  # noqa: E731
        int(o.split("=")[1]) for o in preset["pretrain_override"] if "max_tokens" in o)
    demo_config = REPO_ROOT / "config" / "pretraining" / "birq_demo.yaml"
    study_batch = OmegaConf.load(demo_config).dataset.max_tokens
    assert batch(gpu) * gpu["pretrain_updates"] == 10 * study_batch * study["pretrain_updates"]
    assert gpu["jobs"] == 6 and gpu["data"] == study["data"]



@pytest.mark.parametrize(("overrides", "expected"), [
    ([], None), (["++model.enhanced_codebook_size=256"], 256),
    (["model.enhanced_codebook_size=64", "++model.enhanced_weight=0.5"], 64)])
def test_the_layer_k_check_uses_birqs_enhanced_codebook_size(overrides, expected):
    """BEST-RQ's layer-k labels are scored with a codebook of BiRQ's size: the yaml's, or a
    --birq-override of it."""
    args = argparse.Namespace(pretrain_override=[], birq_override=overrides,
                              config_suffix="demo")
    yaml_size = OmegaConf.load(REPO_ROOT / "config" / "pretraining" / "birq_demo.yaml")
    assert quality.birq_enhanced_codes(args) == (
        expected or yaml_size.model.enhanced_codebook_size)


def test_the_scratch_random_init_has_the_pretrained_models_size(tmp_path):
    """No pretraining is scored as a random init of the model the presets pretrain: the gpu
    preset's 6 x 192 Conformer, not the yaml's 4 x 144, and the yaml itself when nothing
    overrides the model."""
    from birq_fairseq.label_quality.loading import load_model

    gpu = quality.PRESETS["gpu"]
    args = argparse.Namespace(pretrain_override=gpu["pretrain_override"],
                              birq_override=["++model.enhanced_target_grad_scale=0.03"],
                              config_suffix="demo", out=tmp_path)
    model = load_model(str(quality.scratch_config(args)), seed=1).model
    assert len(model.encoder.layers) == 6 and model.cfg.encoder_embed_dim == 192
    assert model.enhanced_layer == 4 and model.cfg.enhanced_target_grad_scale == 0.03
    study = quality.PRESETS["study"]
    args = argparse.Namespace(pretrain_override=study["pretrain_override"], birq_override=[],
                              config_suffix="demo", out=tmp_path / "study")
    assert quality.scratch_config(args) == REPO_ROOT / "config/pretraining/birq_demo.yaml"


def test_ranking_names_the_clear_gaps_that_the_chain_hides():
    """Neighbours within their spread can hide a clear gap between the ends of the chain; a
    '<' already in the chain between two systems says it, so it is not repeated."""
    hidden = {"scratch": [54.2, 54.0, 55.3], "birq": [54.8, 52.1, 51.7],
              "bestrq": [53.5, 52.7, 51.6]}  # the 10-minute real-speech LERs of docs/study.md
    assert quality.ranking(hidden) == "bestrq ~ birq ~ scratch (bestrq < scratch)"
    shown = {"a": [1.0, 1.1, 0.9], "b": [2.0, 2.1, 1.9], "c": [3.0, 3.1, 2.9]}
    assert quality.ranking(shown) == "a < b < c"
    assert quality.ranking(shown, lower_is_better=False) == "c > b > a"
    assert quality.ranking({"a": [1.0, 2.0], "b": [1.5, 2.5]}) == "a ~ b"
    # one seed has no spread: no gap to it is clear, however large
    assert quality.ranking({"a": [1.0], "b": [5.0, 5.1]}) == "a ~ b"


def test_paired_report_compares_each_method_with_the_next_simpler_one():
    """The probe over folds is higher-better and the letter errors lower-better; a pair is
    reported only where both systems have the seeds."""
    quality_numbers = {"birq": {"best_probe": [0.47, 0.48], "best_probe_cv": [0.46, 0.45]},
                       "bestrq": {"best_probe": [0.46, 0.46], "best_probe_cv": [0.44, 0.44]},
                       "scratch": {"best_probe": [0.40, 0.41], "best_probe_cv": [0.37, 0.36]}}
    decodes = {"finetune_10min": {"ler": {
        "birq": {"greedy": {"test_real": [52.0, 53.0]}},
        "bestrq": {"greedy": {"test_real": [52.5, 52.0]}},
        "scratch": {"greedy": {"test_real": [55.0, None]}}}}}
    measures = quality.paired_measures(quality_numbers, decodes, ["greedy"], [1, 2])
    assert list(measures) == ["best-layer probe over folds, test_real",
                              "LER, finetune_10min, greedy, test_real"]
    table = quality.paired_comparisons(measures)
    probe = table["best-layer probe over folds, test_real"]
    assert list(probe) == ["birq vs bestrq", "bestrq vs scratch", "birq vs scratch"]
    assert (probe["birq vs bestrq"]["a_ahead"], probe["birq vs bestrq"]["b_ahead"]) == (2, 0)
    assert probe["bestrq vs scratch"]["mean_difference"] == pytest.approx(0.075)
    # scratch has one seed of two: too few pairs to compare
    assert list(table["LER, finetune_10min, greedy, test_real"]) == ["birq vs bestrq"]
    ler = table["LER, finetune_10min, greedy, test_real"]["birq vs bestrq"]
    assert (ler["a_ahead"], ler["b_ahead"]) == (1, 1)
    text = quality.paired_markdown(table, measures)
    assert ("| best-layer probe over folds, test_real | birq vs bestrq | 2 | +0.015 ± 0.007 |"
            in text)
    assert ("| LER, finetune_10min, greedy, test_real | birq vs bestrq | 2 | +0.2 ± 1.1 | 1 / 1 |"
            in text)
    assert quality.paired_markdown({}, measures) == ""


def test_paired_report_pairs_label_quality_by_the_seeds_each_system_scored():
    """A system whose label quality is missing for a seed pairs with the others on the seeds
    it has, not on list positions; a report without its seed list pairs only when it has one
    value per seed."""
    quality_numbers = {"birq": {"seeds": [1, 3], "best_probe": [0.50, 0.40]},
                       "bestrq": {"seeds": [1, 2, 3], "best_probe": [0.45, 0.90, 0.44]}}
    measures = quality.paired_measures(quality_numbers, {}, ["greedy"], [1, 2, 3])
    probe = measures["best-layer probe, test_real"][0]
    assert probe == {"birq": {1: 0.50, 3: 0.40}, "bestrq": {1: 0.45, 2: 0.90, 3: 0.44}}
    pair = quality.paired_comparisons(measures)["best-layer probe, test_real"]["birq vs bestrq"]
    assert pair["seeds"] == 2
    assert pair["mean_difference"] == pytest.approx((0.05 - 0.04) / 2)
    unnamed = {"birq": {"best_probe": [0.5, 0.4]}}
    with pytest.raises(ValueError, match="2 values for seeds \\[1, 2, 3\\]"):
        quality.paired_measures(unnamed, {}, ["greedy"], [1, 2, 3])


def test_a_variant_is_paired_with_the_same_system_of_a_baseline_folder(tmp_path):
    """--baseline compares each system of this run with the same system of a finished folder
    on the seeds both have, and on the decoders both ran (here the baseline has no LM)."""
    (tmp_path / "results.json").write_text(json.dumps({
        "seeds": [1, 2, 3, 4],
        "label_quality": {"bestrq": {"seeds": [1, 2, 3, 4], "best_probe": [0.44, 0.45, 0.43, 0.46]},
                          "scratch": {"seeds": [1, 2, 3, 4], "best_probe": [0.36] * 4}},
        "decodes": {"finetune_10min": {"ler": {
            "bestrq": {"greedy": {"test_real": [53.0, 52.0, 54.0, 50.0]}},
            "scratch": {"greedy": {"test_real": [56.0] * 4}}}}}}))
    variant = {"bestrq": {"seeds": [1, 2, 3], "best_probe": [0.46, 0.46, 0.44]}}
    decodes = {"finetune_10min": {"ler": {"bestrq": {
        "greedy": {"test_real": [52.0, 51.0, 52.0]}, "lm": {"test_real": [48.0, 47.0, 49.0]}}}}}
    measures = quality.paired_measures(variant, decodes, ["greedy", "lm"], [1, 2, 3])
    merged, table = quality.baseline_comparisons(measures, tmp_path)
    assert list(table) == ["best-layer probe, test_real", "LER, finetune_10min, greedy, test_real"]
    probe = table["best-layer probe, test_real"]
    assert list(probe) == ["bestrq vs baseline bestrq"]  # scratch did not run in the variant
    assert probe["bestrq vs baseline bestrq"]["seeds"] == 3
    assert probe["bestrq vs baseline bestrq"]["mean_difference"] == pytest.approx(0.04 / 3)
    ler = table["LER, finetune_10min, greedy, test_real"]["bestrq vs baseline bestrq"]
    assert (ler["a_ahead"], ler["b_ahead"], ler["mean_difference"]) == (3, 0, pytest.approx(-4 / 3))
    text = quality.paired_markdown(table, merged, "Paired by seed against the baseline B")
    assert text.startswith("\n### Paired by seed against the baseline B\n")
    assert "| bestrq vs baseline bestrq | 3 | -1.3 ± 0.6 | 3 / 0 |" in text


def test_a_baseline_folder_without_results_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        quality.parse_args(["--preset", "demo", "--baseline", str(tmp_path)])
    assert f"--baseline {tmp_path}: no results.json there" in capsys.readouterr().err


def test_the_probe_over_folds_is_paired_only_where_every_report_scored_folds(tmp_path):
    """Reports scored without folds beside ones with them: the single-split probe is what
    pairs, in the run and against a baseline; a baseline that cannot pair is said in the
    section, and this run's report still comes out."""
    mixed = {"bestrq": {"seeds": [1, 2, 3], "best_probe": [0.44, 0.45, 0.43],
                        "best_probe_cv": [0.42, 0.43]}}
    measures = quality.paired_measures(mixed, {}, ["greedy"], [1, 2, 3])
    assert list(measures) == ["best-layer probe, test_real"]
    (tmp_path / "results.json").write_text(json.dumps({
        "seeds": [1, 2, 3], "decodes": {},
        "label_quality": {"bestrq": {"best_probe": [0.44, 0.45]}}}))  # old: no seed list
    text, paired = quality.baseline_report(measures, tmp_path)
    assert paired == {}
    assert "Not paired: ValueError('label quality of bestrq: 2 values" in text
