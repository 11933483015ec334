"""Training curves from fairseq logs: ``python examples/plot_training.py LOG [LOG ...] --out DIR``.

Reads the per-update lines that fairseq prints with ``common.log_format=simple`` (``epoch 001:
10 / 112 loss=..., num_updates=10``) or ``json`` (``{"epoch": 1, "update": ..., "loss": ...}``),
and writes one PNG per metric with a curve per log: both losses, both accuracies, codes used,
top-code shares, label perplexities, the enhanced projections' effective rank and how often
the Gumbel pick is the nearest code; and, from the validation lines, ``valid_*`` curves of the
loss, the anchor accuracy, the label quality (PNMI and purities, with
``task.phone_alignments``) and, for CTC fine-tuning, the letter and word error rates. Each
run is labelled by its file name, so several runs (BiRQ vs BEST-RQ, seeds) compare on one
plot.
"""

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TRAIN_METRICS = (
    "loss", "loss_anchor", "loss_enhanced", "acc_anchor", "acc_enhanced", "anchor_codes_used",
    "enhanced_codes_used", "anchor_top_share", "enhanced_top_share", "anchor_ppl",
    "enhanced_ppl", "enhanced_rank", "gumbel_nearest", "w1",
)
VALID_METRICS = tuple(f"valid_{name}" for name in (
    "loss", "acc_anchor", "acc_enhanced", "pnmi_anchor", "pnmi_enhanced", "pnmi_gumbel",
    "phone_purity_anchor", "phone_purity_enhanced", "cluster_purity_anchor",
    "cluster_purity_enhanced", "uer", "wer",
))
METRICS = TRAIN_METRICS + VALID_METRICS
SIMPLE_LINE = re.compile(r"^epoch \d+:\s+\d+ / \d+ (.*)$")
SIMPLE_VALID_LINE = re.compile(r"^epoch \d+ \| valid on '[^']+' subset \| (.*)$")


def parse_log(text: str) -> dict[str, list[tuple[int, float]]]:
    """{metric: [(update, value), ...]} from fairseq's per-update training lines and its
    validation lines (as ``valid_*``)."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for line in text.splitlines():
        fields = _fields(line)
        if not fields or "num_updates" not in fields:
            continue
        update = int(float(fields["num_updates"]))
        for metric in METRICS:
            # "None": a meter restored from a checkpoint that got no value since (a run
            # resumed inside w1's warm-up logs no enhanced-label statistics)
            if fields.get(metric, "None") != "None":
                curves.setdefault(metric, []).append((update, float(fields[metric])))
    return curves


def _fields(line: str) -> dict[str, str] | None:
    match = SIMPLE_LINE.match(line.strip())
    if match:
        pairs = (item.split("=", 1) for item in match.group(1).split(", ") if "=" in item)
        return {key.strip(): value.strip() for key, value in pairs}
    match = SIMPLE_VALID_LINE.match(line.strip())
    if match:
        pairs = (item.strip().split(" ", 1) for item in match.group(1).split(" | "))
        fields = {f"valid_{pair[0]}": pair[1] for pair in pairs if len(pair) == 2}
        fields["num_updates"] = fields.pop("valid_num_updates", "")
        return fields if fields["num_updates"] else None
    start = line.find("{")
    if start < 0 or '"train_inner"' not in line and 'num_updates"' not in line:
        return None
    try:
        record = json.loads(line[start:])
    except json.JSONDecodeError:
        return None
    if "valid_num_updates" in record:
        fields = {key: str(value) for key, value in record.items() if key.startswith("valid_")}
        fields["num_updates"] = fields.pop("valid_num_updates")
        return fields
    return {key.removeprefix("train_inner_"): str(value) for key, value in record.items()}


def plot(runs: dict[str, dict[str, list[tuple[int, float]]]], out: Path) -> list[Path]:
    """One PNG per metric that any run logged; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for metric in METRICS:
        if not any(metric in curves for curves in runs.values()):
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, curves in runs.items():
            if metric in curves:
                updates, values = zip(*curves[metric])
                ax.plot(updates, values, label=name)
        ax.set_xlabel("update")
        ax.set_ylabel(metric)
        ax.legend()
        ax.grid(alpha=0.3)
        path = out / f"{metric}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path, help="fairseq training logs")
    parser.add_argument("--out", type=Path, default=Path("results/plots"), help="PNG folder")
    args = parser.parse_args(argv)
    runs = {log.stem: parse_log(log.read_text()) for log in args.logs}
    empty = [name for name, curves in runs.items() if not curves]
    if empty:
        parser.error(f"no per-update lines in {', '.join(empty)} (log_format simple or json)")
    for path in plot(runs, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
