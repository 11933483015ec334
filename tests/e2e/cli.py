"""Helpers that run fairseq's own command-line tools the way a user does."""

import re
import signal
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FLOAT = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"


def run_cli(tool: str, *args: str, timeout: int = 600) -> str:
    """Runs ``tool`` (fairseq-hydra-train, fairseq-generate) from the repository root and
    returns its combined output; fails the test with that output on a non-zero exit."""
    command = [str(BIN / tool), *args]
    proc = subprocess.run(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stdout}")
    return proc.stdout


def train_metric(output: str, name: str) -> list[float]:
    """Every value of ``name`` in fairseq's end-of-epoch training lines (simple log format)."""
    values = []
    for line in output.splitlines():
        if re.match(r"^epoch \d+ \| ", line) and "valid on" not in line:
            match = re.search(rf"\| {name} ({FLOAT}) ", line + " ")
            if match:
                values.append(float(match.group(1)))
    return values


def pretrain(config: str, data: Path, save_dir: Path, *overrides: str) -> str:
    return run_cli(
        "fairseq-hydra-train",
        f"task.data={data}",
        f"checkpoint.save_dir={save_dir}",
        *overrides,
        "--config-dir",
        "config/pretraining",
        "--config-name",
        config,
    )


def finetune(data: Path, w2v_path: Path, save_dir: Path, *overrides: str,
             config: str = "demo") -> str:
    return run_cli(
        "fairseq-hydra-train",
        f"task.data={data}",
        f"model.w2v_path={w2v_path}",
        f"checkpoint.save_dir={save_dir}",
        *overrides,
        "--config-dir",
        "config/finetuning",
        "--config-name",
        config,
    )


def generate(data: Path, checkpoint: Path, split: str, results: Path, *extra: str) -> str:
    return run_cli(
        "fairseq-generate",
        str(data),
        "--user-dir",
        "birq_fairseq",
        "--task",
        "birq_ctc_eval",
        "--path",
        str(checkpoint),
        "--gen-subset",
        split,
        "--scoring",
        "wer",
        "--post-process",
        "letter",
        "--max-tokens",
        "4000000",
        "--results-path",
        str(results),
        *extra,
    )


def hypotheses(results: Path, split: str) -> dict[int, tuple[float, str]]:
    """{utterance id: (score, hypothesis)} from fairseq-generate's H- lines."""
    hyps = {}
    for line in (results / f"generate-{split}.txt").read_text().splitlines():
        if line.startswith("H-"):
            fields = line.split("\t")
            hyps[int(fields[0][2:])] = (float(fields[1]), fields[2] if len(fields) > 2 else "")
    return hyps


def update_losses(output: str) -> dict[int, str]:
    """{update: loss as printed} from fairseq's per-update lines (common.log_interval=1)."""
    losses = {}
    for line in output.splitlines():
        match = re.search(r"[ ,]loss=([^,]+),.*num_updates=(\d+)", line)
        if match:
            losses[int(match.group(2))] = match.group(1)
    return losses


def run_and_kill_after_checkpoint(args: list[str], update: int) -> str:
    """Starts ``fairseq-hydra-train ARGS`` and SIGKILLs it as soon as it reports the
    checkpoint of ``update`` saved; returns what it printed until then."""
    proc = subprocess.Popen(
        [str(BIN / "fairseq-hydra-train"), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if line.startswith("Saved checkpoint") and f"@ {update} updates" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(printed)
    return "".join(printed)
