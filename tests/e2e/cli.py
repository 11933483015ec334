"""Helpers that run fairseq's own command-line tools the way a user does."""

import re
import signal
import struct
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
    for line in (results / f"generate-{split}.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("H-"):
            fields = line.split("\t")
            hyps[int(fields[0][2:])] = (float(fields[1]), fields[2] if len(fields) > 2 else "")
    return hyps


def references(results: Path, split: str) -> dict[int, str]:
    """{utterance id: reference words} from fairseq-generate's T- lines."""
    refs = {}
    for line in (results / f"generate-{split}.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("T-"):
            fields = line.split("\t")
            refs[int(fields[0][2:])] = fields[1] if len(fields) > 1 else ""
    return refs


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


def python_module(module: str, *args: str, timeout: int = 600) -> str:
    """Runs ``python -m MODULE ARGS`` with this interpreter, like ``run_cli``."""
    return run_cli(Path(sys.executable).name, "-m", module, *args, timeout=timeout)


def tensorboard_scalars(logdir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{run folder (train_inner, train, valid): {tag: [(step, value)]}} from the TensorBoard
    event files under ``logdir``, read record by record (TFRecord framing: length, its CRC,
    the serialised Event, its CRC), every data CRC checked."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    runs: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for path in sorted(logdir.rglob("events.out.tfevents.*")):
        scalars = runs.setdefault(path.parent.relative_to(logdir).as_posix(), {})
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            record = data[offset + 12 : offset + 12 + length]
            (crc,) = struct.unpack_from("<I", data, offset + 12 + length)
            assert crc == masked_crc32c(record), f"{path}: corrupt record at byte {offset}"
            offset += 16 + length
            event = Event.FromString(record)
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return runs


def printed_metrics(output: str, valid_subset: str | None = None) -> set[str]:
    """The metric names of fairseq's end-of-epoch training lines, or with ``valid_subset``
    of its validation lines on that subset (simple log format)."""
    names: set[str] = set()
    for line in output.splitlines():
        if not re.match(r"^epoch \d+ \| ", line):
            continue
        if valid_subset is None and "| valid on '" not in line or (
            f"| valid on '{valid_subset}' subset |" in line
        ):
            names |= set(re.findall(rf"\| (\w+) {FLOAT}(?= \||$)", line))
    return names
