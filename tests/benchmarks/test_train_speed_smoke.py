"""The training-speed benchmark runs end to end on a tiny batch and writes every number it
promises (never checks how fast anything is)."""

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "benchmarks" / "train_speed.py"
HEADLINE_KEYS = (
    "bestrq_speedup_vs_wav2vec2",
    "birq_step_ratio_vs_bestrq",
    "birq_detached_step_ratio_vs_bestrq",
    "birq_warmup_step_ratio_vs_bestrq",
    "birq_peak_mem_ratio_vs_bestrq",
    "frontend_share",
    "anchor_label_share",
)
PER_SYSTEM_KEYS = ("median_s", "audio_s_per_s", "peak_bytes", "flops_per_step")


def load_script():
    spec = importlib.util.spec_from_file_location("train_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_positive_finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_tiny_cpu_run_writes_positive_finite_results(tmp_path):
    train_speed = load_script()
    out = tmp_path / "speed.json"
    threads = torch.get_num_threads()
    try:
        train_speed.main([
            "--device", "cpu", "--size", "demo", "--batch", "1", "--seconds", "1",
            "--steps", "1", "--warmup", "0", "--threads", "1", "--memory", "inprocess",
            "--json", str(out), "--profile", str(tmp_path / "profile.txt"),
        ])
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())

    for key in HEADLINE_KEYS:
        assert is_positive_finite(result[key]), (key, result[key])
    assert set(result["systems"]) == set(train_speed.SYSTEMS)
    for name, row in result["systems"].items():
        for key in PER_SYSTEM_KEYS:
            assert is_positive_finite(row[key]), (name, key, row[key])
    assert set(result["goals"]) == {key for key, *_ in train_speed.GOALS}
    assert all(goal["status"] in ("PASS", "MISS") for goal in result["goals"].values())
    for key in ("cpu_model", "torch", "threads"):
        assert result["machine"][key]
    profile = (tmp_path / "profile.txt").read_text()
    for job in (*train_speed.SYSTEMS, "frontend", "anchor_labels"):
        assert f"== {job}: {train_speed.PROFILE_STEPS} runs ==" in profile
    assert "aten::mm" in profile or "aten::addmm" in profile


def test_wav2vec2_encoder_is_matched_to_bestrq_within_ten_percent():
    train_speed = load_script()
    target = train_speed.bestrq_encoder_params("demo")
    _, _, params = train_speed.build_wav2vec2("demo", target)
    assert abs(params["encoder"] / target - 1) <= train_speed.MATCH_TOLERANCE


def test_conv_layout_benchmark_prints_both_ratios():
    """The channels-last benchmark runs end to end and prints a paired ratio per measure."""
    script = SCRIPT.parent / "conv_layout.py"
    out = subprocess.run([sys.executable, str(script), "--rounds", "1", "--batch", "1",
                          "--seconds", "1"], capture_output=True, text=True, check=True).stdout
    ratios = re.findall(r"ratio (\d+\.\d+)", out)
    assert len(ratios) == 2 and all(float(r) > 0 for r in ratios), out


def test_compile_variants_benchmark_prints_a_ratio():
    out = subprocess.run([sys.executable, str(SCRIPT.parent / "compile_variants.py"),
                          "--variants", "eager_random", "--rounds", "1", "--batch", "1",
                          "--seconds", "1"], capture_output=True, text=True, check=True).stdout
    ratios = re.findall(r"ratio (\d+\.\d+)", out)
    assert len(ratios) == 1 and float(ratios[0]) > 0, out


def test_compile_variants_layer_mode_prints_a_ratio_with_and_without_dropout():
    out = subprocess.run([sys.executable, str(SCRIPT.parent / "compile_variants.py"), "--layer",
                          "--rounds", "1", "--batch", "1", "--seconds", "1"],
                         capture_output=True, text=True, check=True).stdout
    ratios = re.findall(r"^dropout (on |off).*ratio (\d+\.\d+)$", out, re.MULTILINE)
    assert [on for on, _ in ratios] == ["on ", "off"], out
    assert all(float(ratio) > 0 for _, ratio in ratios), out
