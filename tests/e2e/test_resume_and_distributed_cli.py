"""Nothing is lost: a run killed right after a checkpoint continues exactly as if it had
never stopped, and two CPU processes train like one process with update_freq = 2."""

import subprocess
import sys

import pytest
import torch

from .cli import REPO_ROOT, pretrain, run_and_kill_after_checkpoint, run_cli, update_losses

pytestmark = pytest.mark.slow

TOTAL_UPDATES = 6
KILL_AFTER = 3


def _run_args(config_dir: str, config: str, *overrides: str) -> list[str]:
    return [*overrides, "--config-dir", config_dir, "--config-name", config]


def _assert_resumes_exactly(args_for, tmp_path):
    reference = run_cli("fairseq-hydra-train", *args_for(tmp_path / "uninterrupted"))
    killed = run_and_kill_after_checkpoint(args_for(tmp_path / "killed"), KILL_AFTER)
    resumed = run_cli("fairseq-hydra-train", *args_for(tmp_path / "killed"))

    expected = update_losses(reference)
    assert sorted(expected) == list(range(1, TOTAL_UPDATES + 1))
    before, after = update_losses(killed), update_losses(resumed)
    assert max(before) == KILL_AFTER and min(after) == KILL_AFTER + 1, "resumed mid-way"
    assert {**before, **after} == expected


def test_killed_pretraining_resumes_exactly(tiny_corpus, tmp_path):
    def args_for(save_dir):
        return _run_args(
            "config/pretraining", "birq_demo",
            f"task.data={tiny_corpus / 'pretrain'}", f"checkpoint.save_dir={save_dir}",
            f"optimization.max_update={TOTAL_UPDATES}", "dataset.max_tokens=120000",
            f"checkpoint.save_interval_updates={KILL_AFTER}", "common.log_interval=1",
            "dataset.validate_interval_updates=100",
        )

    _assert_resumes_exactly(args_for, tmp_path)


def test_killed_finetuning_resumes_exactly(tiny_corpus, tmp_path):
    pretrain(
        "bestrq_demo", tiny_corpus / "pretrain", tmp_path / "pretrained",
        "optimization.max_update=2", "dataset.validate_interval_updates=100",
    )

    def args_for(save_dir):
        return _run_args(
            "config/finetuning", "demo",
            f"task.data={tiny_corpus / 'finetune'}",
            f"model.w2v_path={tmp_path / 'pretrained' / 'checkpoint_last.pt'}",
            f"checkpoint.save_dir={save_dir}", f"optimization.max_update={TOTAL_UPDATES}",
            "dataset.max_tokens=120000", "model.freeze_finetune_updates=0",
            f"checkpoint.save_interval_updates={KILL_AFTER}", "common.log_interval=1",
            "dataset.validate_interval_updates=100",
        )

    _assert_resumes_exactly(args_for, tmp_path)


def test_two_cpu_processes_train_like_one_with_update_freq_2(tiny_corpus, tmp_path):
    """Same batches, same masks and Gumbel draws (seeded per batch), same weights; and the
    same again after both resume from their checkpoints (rank 0 broadcasts the state)."""
    for updates in (3, 5):
        _train_one_and_two_processes(tiny_corpus, tmp_path, updates)
        _assert_same_weights(tmp_path, updates)


def _train_one_and_two_processes(tiny_corpus, tmp_path, updates: int):
    common = [
        f"task.data={tiny_corpus / 'pretrain'}", f"optimization.max_update={updates}",
        "dataset.max_tokens=120000", "dataset.validate_interval_updates=100",
        "model.dropout=0.0", "model.attention_dropout=0.0",
        "++task.collapse_check_interval=2",  # the guard must see through the DDP wrappers
        # Updates 0-1 are w1's warm-up, whose steps skip the unmasked pass: the all-reduce
        # must still find a gradient for every parameter, on both sides of the switch.
        "++model.enhanced_warmup_updates=2",
    ]
    config = ["--config-dir", "config/pretraining", "--config-name", "birq_demo"]
    run_cli("fairseq-hydra-train", *common, f"checkpoint.save_dir={tmp_path / 'one'}",
            "optimization.update_freq=[2]", *config)
    launcher = subprocess.run(
        [sys.executable, "-m", "birq_fairseq.cpu_ddp", "-n", "2", "--", *common,
         f"checkpoint.save_dir={tmp_path / 'two'}", *config],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert launcher.returncode == 0, launcher.stdout + launcher.stderr


def _assert_same_weights(tmp_path, updates: int):
    one = torch.load(tmp_path / "one" / "checkpoint_last.pt", weights_only=False)
    two = torch.load(tmp_path / "two" / "checkpoint_last.pt", weights_only=False)
    assert one["optimizer_history"][-1]["num_updates"] == updates
    assert two["optimizer_history"][-1]["num_updates"] == updates
    assert one["model"].keys() == two["model"].keys()
    for name, weight in one["model"].items():
        torch.testing.assert_close(two["model"][name], weight, rtol=1e-4, atol=1e-5, msg=name)
    moved = [n for n, w in one["model"].items() if "quantizer" not in n]
    assert moved, "the comparison covers trained weights"
