"""The LibriSpeech and AMI recipes run every stage on stand-in corpora laid out like the
real ones, with the paper's configs shrunk by overrides, so that they cannot rot."""

import os
import subprocess
from pathlib import Path

import pytest

from birq_fairseq.lm.build_arpa import main as build_arpa
from tests.e2e.cli import BIN, REPO_ROOT
from tests.fake_ami import make_ami
from tests.fake_librispeech import make_librispeech

pytestmark = pytest.mark.slow

# The paper's models reduced to seconds of CPU time; everything else is the shipped config
# ("++" sets a key whether or not the yaml names it).
TINY_MODEL = (
    "++common.amp=false ++dataset.num_workers=0 ++model.encoder_layers=2 "
    "++model.encoder_embed_dim=32 ++model.encoder_ffn_embed_dim=64 "
    "++model.encoder_attention_heads=2"
)
PRETRAIN = (
    f"{TINY_MODEL} ++model.subsampling_channels=8 ++model.codebook_size=32 "
    "++model.enhanced_codebook_size=32 ++model.enhanced_layer=1 ++optimization.max_update=2 "
    "++lr_scheduler.warmup_updates=1 ++dataset.max_tokens=200000 ++task.min_sample_size=4000 "
    "++task.max_sample_size=16000 ++dataset.validate_interval_updates=100"
)
FINETUNE = (
    "++common.amp=false ++dataset.num_workers=0 ++optimization.max_update=2 "
    "++dataset.max_tokens=200000 ++model.freeze_finetune_updates=0"
)
LIBRISPEECH_LAYOUT = {
    "train-clean-100": {"19": "198", "26": "495"}, "train-clean-360": {"100": "121669"},
    "train-other-500": {"20": "205"}, "dev-clean": {"84": "121123"},
    "dev-other": {"116": "288045"}, "test-clean": {"61": "70968"},
    "test-other": {"1688": "142285"},
}


def run_recipe(script: str, env: dict, *stages: str) -> str:
    proc = subprocess.run(
        ["bash", script, *stages], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHON": str(BIN / "python"), "NGPUS": "1", **env},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def table_rows(table: Path) -> list[list[str]]:
    lines = table.read_text().splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def lm_for(manifests: Path, tmp_path: Path) -> Path:
    lm = tmp_path / "lm.arpa"
    texts = sorted(str(p) for p in manifests.glob("train*.wrd"))
    assert build_arpa(["--order", "3", "--out", str(lm), *texts]) == 0
    return lm


def test_librispeech_recipe_runs_every_stage(tmp_path):
    make_librispeech(tmp_path / "LibriSpeech", LIBRISPEECH_LAYOUT, per_chapter=4,
                     samples=(8000, 16000))
    work = tmp_path / "work"
    env = {"LIBRISPEECH": str(tmp_path / "LibriSpeech"), "WORK": str(work),
           "FINETUNES": "10h", "TEST_SETS": "test_clean test_other",
           "PRETRAIN_OVERRIDES": PRETRAIN, "FINETUNE_OVERRIDES": FINETUNE,
           "BEAM": "8"}
    run_recipe("examples/librispeech/run.sh", env, "prepare", "pretrain", "finetune", "decode")
    env["LM"] = str(lm_for(work / "manifests", tmp_path))
    log = run_recipe("examples/librispeech/run.sh", env, "decode_lm", "table", "decode")
    assert log.count("(scored)") == 4, "a rerun of decode skips what is scored"
    rows = table_rows(work / "results" / "table.md")
    assert sorted(row[:2] for row in rows) == [
        ["bestrq_ft_10h", "4gram"], ["bestrq_ft_10h", "greedy"],
        ["birq_ft_10h", "4gram"], ["birq_ft_10h", "greedy"],
    ]
    assert all(float(cell) >= 0 for row in rows for cell in row[2:])


def test_ami_recipe_runs_every_stage(tmp_path):
    audio, annotations = make_ami(tmp_path / "ami")
    make_librispeech(tmp_path / "large", {"train": {"1": "1"}, "valid": {"2": "2"}},
                     per_chapter=4, samples=(8000, 16000))
    subprocess.run([str(BIN / "python"), "-m", "birq_fairseq.data.librispeech", "manifest",
                    "--dest", str(tmp_path / "large_manifests"), str(tmp_path / "large/train"),
                    str(tmp_path / "large/valid")], check=True, capture_output=True)
    work = tmp_path / "work"
    env = {"AMI_AUDIO": str(audio), "AMI_ANNOTATIONS": str(annotations), "WORK": str(work),
           "PRETRAIN_DATA": str(tmp_path / "large_manifests"), "SYSTEMS": "birq",
           "TEST_SETS": "eval_ihm eval_sdm", "PRETRAIN_OVERRIDES": PRETRAIN,
           "FINETUNE_OVERRIDES": FINETUNE,
           "BEAM": "8"}
    run_recipe("examples/ami/run.sh", env, "prepare", "pretrain", "finetune", "decode")
    env["LM"] = str(lm_for(work / "manifests", tmp_path))
    run_recipe("examples/ami/run.sh", env, "decode_lm", "table")
    rows = table_rows(work / "results" / "table.md")
    assert sorted(row[:2] for row in rows) == [["birq_ft_ami", "greedy"], ["birq_ft_ami", "lm"]]
    assert all(len(row) == 4 for row in rows), "eval_ihm and eval_sdm scored"


def test_an_unknown_stage_is_named():
    proc = subprocess.run(["bash", "examples/librispeech/run.sh", "pretrian"], cwd=REPO_ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHON": str(BIN / "python"), "NGPUS": "1"})
    assert proc.returncode != 0 and "unknown stage 'pretrian'" in proc.stderr
