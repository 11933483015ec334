"""Training curves from fairseq logs: ``python examples/plot_training.py LOG [LOG ...] --out DIR``.

Reads the per-update lines that fairseq prints with ``common.log_format=simple`` (``epoch 001:
10 / 112 loss=..., num_updates=10``) or ``json`` (``{"epoch": 1, "update": ..., "loss": ...}``),
and writes one PNG per metric with a curve per log: both losses, both accuracies, codes used,
label perplexities and how often the Gumbel pick is the nearest code. Each run is labelled by
its file name, so several runs (BiRQ vs BEST-RQ, seeds) compare on one plot.
"""

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = (
    "loss", "loss_anchor", "loss_enhanced", "acc_anchor", "acc_enhanced", "anchor_codes_used",
    "enhanced_codes_used", "anchor_ppl", "enhanced_ppl", "gumbel_nearest",
)
SIMPLE_LINE = re.compile(r"^epoch \d+:\s+\d+ / \d+ (.*)$")


def parse_log(text: str) -> dict[str, list[tuple[int, float]]]:
    """{metric: [(update, value), ...]} from fairseq's per-update training lines."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for line in text.splitlines():
        fields = _fields(line)
        if not fields or "num_updates" not in fields:
            continue
        update = int(float(fields["num_updates"]))
        for metric in METRICS:
            if metric in fields:
                curves.setdefault(metric, []).append((update, float(fields[metric])))
    return curves


def _fields(line: str) -> dict[str, str] | None:
    match = SIMPLE_LINE.match(line.strip())
    if match:
        pairs = (item.split("=", 1) for item in match.group(1).split(", ") if "=" in item)
        return {key.strip(): value.strip() for key, value in pairs}
    start = line.find("{")
    if start < 0 or '"train_inner"' not in line and '"num_updates"' not in line:
        return None
    try:
        record = json.loads(line[start:])
    except json.JSONDecodeError:
        return None
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
