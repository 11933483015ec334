"""``python -m birq_fairseq.label_quality`` end to end on the tiny corpus: a pretrained
checkpoint, its stock CTC fine-tuning and a random init from a yaml."""

import json
import subprocess
import sys

import pytest

from tests.e2e.cli import REPO_ROOT, finetune, pretrain

pytestmark = pytest.mark.slow

LAYERS = ("1", "3")
CLUSTERS = ("20",)


def label_quality(model, data, split, out, *extra) -> str:
    command = [sys.executable, "-m", "birq_fairseq.label_quality", str(model), str(data), split,
               "--layers", *LAYERS, "--kmeans", *CLUSTERS, "--json", str(out), *extra]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def checkpoints(tiny_corpus, tmp_path_factory):
    pretrained_dir = tmp_path_factory.mktemp("lq_pretrained")
    log = pretrain("birq_demo", tiny_corpus / "pretrain", pretrained_dir,
                   "optimization.max_update=4", "dataset.validate_interval_updates=2")
    pretrained = pretrained_dir / "checkpoint_last.pt"
    finetuned_dir = tmp_path_factory.mktemp("lq_finetuned")
    finetune(tiny_corpus / "finetune", pretrained, finetuned_dir, "optimization.max_update=2",
             "model.freeze_finetune_updates=1", "dataset.validate_interval_updates=100")
    return pretrained, finetuned_dir / "checkpoint_last.pt", log


def check_report(report: dict, enhanced: bool) -> None:
    labels = report["labels"]
    expected = {"anchor (frozen RPQ on log-mel)", "k-means log-mel, K=20", "k-means mfcc, K=20",
                "k-means layer 1, K=20", "k-means layer 3, K=20"}
    if enhanced:
        expected |= {"enhanced, nearest code (layer k)", "enhanced, Gumbel pick (layer k)"}
    assert set(labels) == expected
    for scores in labels.values():
        for measure in ("pnmi", "pnmi_chance", "phone_purity", "cluster_purity", "top_share"):
            assert 0 <= scores[measure] <= 1
        assert 1 <= scores["codes_used"] <= scores["codes"]
    # Clustering the input's own spectra finds phones better than shuffled labels do.
    mfcc = labels["k-means mfcc, K=20"]
    assert mfcc["pnmi"] > mfcc["pnmi_chance"] + 0.05
    assert set(report["probe"]) == {"log-mel", "layer 1", "layer 3"}
    for probe in report["probe"].values():
        assert 0 <= probe["majority"] <= 1 and 0 <= probe["accuracy"] <= 1
        assert probe["train_frames"] > probe["test_frames"] > 0
    # A linear read-out of the log-mel input knows the phone far better than chance.
    assert report["probe"]["log-mel"]["accuracy"] > report["probe"]["log-mel"]["majority"] + 0.1
    # The cross-validated probe predicts every aligned frame once, fold by fold.
    assert set(report["probe_cv"]) == set(report["probe"])
    for probe in report["probe_cv"].values():
        assert probe["frames"] == report["frames"]
        assert len(probe["fold_accuracies"]) == min(5, report["utterances"])
        assert min(probe["fold_accuracies"]) <= probe["accuracy"] <= max(probe["fold_accuracies"])
    cv = report["probe_cv"]["log-mel"]
    assert cv["accuracy"] > cv["majority"] + 0.1


def test_pretrained_checkpoint_report(checkpoints, tiny_corpus, tmp_path):
    pretrained, _, _ = checkpoints
    out = label_quality(pretrained, tiny_corpus / "finetune", "test_synth", tmp_path / "lq.json")
    report = json.loads((tmp_path / "lq.json").read_text())
    assert report["kind"] == "pretrained" and report["enhanced_layer"] == 3
    check_report(report, enhanced=True)
    assert report["unaligned"] == 0 and report["frames"] > 200
    assert "PNMI" in out and "linear phone probe" in out


def test_finetuned_checkpoint_keeps_the_pretraining_labels(checkpoints, tiny_corpus, tmp_path):
    """Fine-tuning drops the quantizers; they are rebuilt from the saved seed, so the anchor
    labels (which see only the input) score exactly as in the pretrained checkpoint."""
    pretrained, finetuned, _ = checkpoints
    data = tiny_corpus / "finetune"
    label_quality(pretrained, data, "test_real", tmp_path / "pre.json", "--no-probe")
    label_quality(finetuned, data, "test_real", tmp_path / "ft.json", "--no-probe")
    pre, ft = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("pre", "ft"))
    assert ft["kind"] == "fine-tuned"
    anchor = "anchor (frozen RPQ on log-mel)"
    assert ft["labels"][anchor] == pre["labels"][anchor]
    assert ft["probe"] == {} and ft["probe_cv"] == {}


def test_random_init_from_a_config(tiny_corpus, tmp_path):
    label_quality(REPO_ROOT / "config/pretraining/bestrq_demo.yaml", tiny_corpus / "finetune",
                  "test_synth", tmp_path / "rand.json")
    report = json.loads((tmp_path / "rand.json").read_text())
    assert report["kind"] == "random init" and report["enhanced_layer"] is None
    check_report(report, enhanced=False)


def test_validation_logs_label_quality_of_both_label_kinds(checkpoints):
    *_, log = checkpoints
    valid = [line for line in log.splitlines() if "valid on 'valid' subset" in line]
    assert valid
    for kind in ("anchor", "enhanced", "gumbel"):
        for measure in ("pnmi", "phone_purity", "cluster_purity"):
            value = float(line_value(valid[-1], f"{measure}_{kind}"))
            assert 0 <= value <= 1
    assert "phone alignments for" in log


def line_value(line: str, key: str) -> str:
    fields = dict(part.strip().split(" ", 1) for part in line.split("|")[1:] if " " in
                  part.strip())
    return fields[key]


def test_missing_alignment_file_is_a_clear_error(tiny_corpus, tmp_path):
    command = [sys.executable, "-m", "birq_fairseq.label_quality",
               str(REPO_ROOT / "config/pretraining/birq_demo.yaml"), str(tiny_corpus / "pretrain"),
               "train"]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "no phone alignments" in proc.stderr and "train.phn" in proc.stderr
