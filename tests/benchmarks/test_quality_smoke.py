"""The quality benchmark runs its whole chain (pretrain both systems, score the labels and
probe the layers of all three, fine-tune three, decode greedy and with an LM) on the tiny
corpus and writes the table, the JSON and the plots it promises (never checks which system
wins)."""

import json
import math
import subprocess
import sys

import pytest

from tests.e2e.cli import REPO_ROOT

pytestmark = pytest.mark.slow


def test_quality_benchmark_writes_table_results_and_plots(tiny_corpus, tmp_path):
    out = tmp_path / "quality"
    command = [
        sys.executable, "examples/benchmarks/quality.py", "--data", str(tiny_corpus),
        "--out", str(out), "--seeds", "1", "--pretrain-updates", "2",
        "--finetune-updates", "2", "--lm", "--pretrain-override", "common.log_interval=1",
        "--finetune-override", "model.freeze_finetune_updates=0",
        "--finetune-override", "common.log_interval=1", "--splits", "test_real", "test"]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    for metric in ("wer", "ler"):
        by_system = results["decodes"]["finetune"][metric]
        assert set(by_system) == {"birq", "bestrq", "scratch"}
        for by_decoder in by_system.values():
            assert set(by_decoder) == {"greedy", "lm"}
            for values in by_decoder.values():
                assert set(values) == {"test_real", "test"}
                assert all(len(v) == 1 and math.isfinite(v[0]) and v[0] >= 0
                           for v in values.values())
    # Every run and the whole pipeline timed: the random init's one-update config checkpoint,
    # 2 pretrainings, then 3 label qualities and 3 fine-tunings.
    assert len(results["job_seconds"]) == 1 + 2 + 3 + 3 + 1
    assert results["job_seconds"]["all"] >= results["job_seconds"]["pretrain birq 1"] > 0
    assert "Wall time:" in proc.stdout
    assert results["paired"] == {}  # one seed: nothing to pair
    quality = results["label_quality"]
    assert set(quality) == {"birq", "bestrq", "scratch"}
    for numbers in quality.values():
        assert len(numbers["layer_probe"][0]) == len(numbers["layer_pnmi"][0]) > 0
        assert numbers["best_probe"] == [max(numbers["layer_probe"][0])]
        assert len(numbers["layer_probe_cv"][0]) == len(numbers["layer_pnmi"][0])
        assert numbers["best_probe_cv"] == [max(numbers["layer_probe_cv"][0])]
    assert "enhanced_pnmi" in quality["birq"] and "anchor_pnmi" in quality["bestrq"]
    # The layer-k check of each pretrained encoder on both aligned splits, read back from
    # quantizer_variants' JSON.
    assert "layer_k" not in quality["scratch"]
    for system in ("birq", "bestrq"):
        assert list(quality[system]["layer_k"]) == ["test_real", "test"]
        for split in ("test_real", "test"):
            report = json.loads(
                (out / "label_quality" / f"{system}_seed1_layer_k_{split}.json").read_text())
            assert report["split"] == split
            for kind in ("anchor", "enhanced"):
                labels = report["labels"][f"{kind}, published"]
                assert quality[system]["layer_k"][split][f"{kind}_excess"] == [
                    pytest.approx(labels["pnmi"] - labels["pnmi_chance"])]
                assert quality[system]["layer_k"][split][f"{kind}_held_out"] == [
                    pytest.approx(labels["held_out_accuracy"])]
    table = (out / "table.md").read_text()
    for row in ("| birq | greedy |", "| birq | lm |", "| scratch | greedy |",
                "| birq | valid_pnmi_enhanced |", "| bestrq | valid_pnmi_anchor |"):
        assert row in table
    assert "best-layer probe over utterance folds:" in table
    for split in ("test_real", "test"):
        assert f"### Layer-k labels against the anchors ({split}; quantizer_variants)" in table
    assert "- bestrq, PNMI excess: " in table and "- birq, held-out accuracy: " in table
    assert "best-layer probe:" in table and "Collapse warnings per seed: bestrq 0;" in table
    # One row per system in the label-quality table (the seeds scored, then the layer PNMI
    # means) and one in each split's layer-k table.
    assert len([line for line in table.splitlines() if line.startswith("| birq | 1 | 0.")]) == 1
    assert len([line for line in table.splitlines() if line.startswith("| birq | 0.")]) == 2
    assert (out / "plots" / "pretrain" / "loss_anchor.png").exists()
    assert (out / "plots" / "finetune" / "loss.png").exists()
    assert "| scratch |" in proc.stdout
    # The random init's fine-tuning reads BiRQ's model config from a one-update checkpoint,
    # not from BiRQ's pretraining.
    from fairseq import checkpoint_utils
    config = checkpoint_utils.load_checkpoint_to_cpu(
        str(out / "checkpoints" / "scratch_architecture_seed1" / "checkpoint_last.pt"))
    assert config["optimizer_history"][-1]["num_updates"] == 1
    pretrained = checkpoint_utils.load_checkpoint_to_cpu(
        str(out / "checkpoints" / "birq_seed1" / "checkpoint_last.pt"))
    assert config["cfg"]["model"] == pretrained["cfg"]["model"]
    finetune_log = (out / "logs" / "finetune" / "finetune_scratch_seed1.log").read_text()
    assert "scratch_architecture_seed1/checkpoint_last.pt" in finetune_log

    # Run again: every run is finished, so nothing trains (fairseq restarted at max_update
    # would take and save one more step) and the table comes back the same.
    checkpoints = sorted(out.glob("checkpoints/**/checkpoint_last.pt"))
    assert len(checkpoints) == 6  # the config checkpoint, 2 pretrainings, 3 fine-tunings
    saved = {path: path.stat().st_mtime_ns for path in checkpoints}
    again = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert {path: path.stat().st_mtime_ns for path in checkpoints} == saved
    assert (out / "table.md").read_text() == table
