"""WER after pretraining with BiRQ, with BEST-RQ, and without pretraining, same budget:
``python examples/benchmarks/quality.py --out results/quality``.

For each seed: pretrain ``birq_demo`` and ``bestrq_demo`` for the same number of updates
on the demo corpus's unlabelled audio (same batch, model and data order), fine-tune each
and a randomly initialised twin (``model.no_pretrained_weights=true``) identically with
``config/finetuning/demo.yaml``, and score test_synth / test_real with fairseq-generate,
greedy and (``--lm``) with a 3-gram LM built from the fine-tuning transcripts. Prints and
writes ``table.md`` (mean, sample std and every seed), ``results.json`` and training-curve
PNGs (``plots/``). Runs are independent processes with one thread each, ``--jobs`` at a
time; a rerun resumes unfinished runs (fairseq restores checkpoint_last.pt) and keeps
finished decodes. Build the corpus first: ``make demo-corpus``. Another corpus (same
``pretrain/`` + ``finetune/`` layout): ``--data DIR --config-suffix base_librispeech
--finetune-config base_10h --splits dev_other test_other --jobs 1``.
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

from plot_training import parse_log, plot  # noqa: E402

from birq_fairseq.results_table import scored_wer  # noqa: E402

logging.getLogger("matplotlib").setLevel(logging.WARNING)  # fairseq's import logs at DEBUG
BIN = Path(sys.executable).parent
PRETRAINED = ("birq", "bestrq")
SYSTEMS = ("birq", "bestrq", "scratch")
DEMO_SPLITS = ("test_synth", "test_real")


def run_logged(command: list[str], log: Path) -> None:
    """Runs a command with one intra-op thread, its output to ``log``; raises with the
    log's end on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        proc = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise RuntimeError(f"{' '.join(command)} failed; end of {log}:\n{tail}")


def pretrain(args, system: str, seed: int) -> None:
    save_dir = args.out / "checkpoints" / f"{system}_seed{seed}"
    run_logged([
        str(BIN / "fairseq-hydra-train"), f"task.data={args.data / 'pretrain'}",
        f"checkpoint.save_dir={save_dir}", f"common.seed={seed}", f"++model.quantizer_seed={seed}",
        f"optimization.max_update={args.pretrain_updates}", *args.pretrain_override,
        "--config-dir", "config/pretraining", "--config-name", f"{system}_{args.config_suffix}",
    ], args.out / "logs" / f"pretrain_{system}_seed{seed}.log")


def finetune_and_decode(args, system: str, seed: int, lm: Path | None) -> None:
    encoder = "birq" if system == "scratch" else system
    w2v = args.out / "checkpoints" / f"{encoder}_seed{seed}" / "checkpoint_last.pt"
    name = f"{system}_seed{seed}"
    save_dir = args.out / "checkpoints" / f"finetune_{name}"
    extra = ["+model.no_pretrained_weights=true"] if system == "scratch" else []
    run_logged([
        str(BIN / "fairseq-hydra-train"), f"task.data={args.data / 'finetune'}",
        f"model.w2v_path={w2v}", f"checkpoint.save_dir={save_dir}", f"common.seed={seed}",
        f"optimization.max_update={args.finetune_updates}", *extra, *args.finetune_override,
        "--config-dir", "config/finetuning", "--config-name", args.finetune_config,
    ], args.out / "logs" / f"finetune_{name}.log")
    decoders = {"greedy": []}
    if lm is not None:
        decoders["lm"] = ["--ctc-decoder", "beam", "--lm-path", str(lm), "--lm-weight", "0.5",
                          "--word-score", "1.0", "--beam", "50"]
    for decoder, options in decoders.items():
        results = args.out / "decodes" / name / decoder
        for split in args.splits:
            if (results / f"generate-{split}.txt").exists() and \
                    scored_wer(results / f"generate-{split}.txt") is not None:
                continue
            run_logged([
                str(BIN / "fairseq-generate"), str(args.data / "finetune"), "--user-dir",
                "birq_fairseq", "--task", "birq_ctc_eval", "--path",
                str(save_dir / "checkpoint_best.pt"), "--gen-subset", split, "--scoring", "wer",
                "--post-process", "letter", "--max-tokens", "4000000", "--results-path",
                str(results), *options,
            ], args.out / "logs" / f"decode_{name}_{decoder}_{split}.log")


def collect(args, decoders: list[str]) -> dict:
    """{system: {decoder: {split: [WER per seed]}}}."""
    table: dict = {}
    for system in args.systems:
        for decoder in decoders:
            for split in args.splits:
                wers = [scored_wer(args.out / "decodes" / f"{system}_seed{seed}" / decoder /
                                   f"generate-{split}.txt") for seed in args.seeds]
                table.setdefault(system, {}).setdefault(decoder, {})[split] = wers
    return table


def mean_std(values: list[float]) -> tuple[float, float]:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), spread


def markdown(table: dict, seeds: list[int], splits: list[str]) -> str:
    decoders = next(iter(table.values())).keys()
    lines = ["| system | decoder | " + " | ".join(f"{s} WER mean ± std" for s in splits)
             + " | per seed (" + ", ".join(map(str, seeds)) + ") |",
             "|---|---|" + "---:|" * len(splits) + "---|"]
    for system, by_decoder in table.items():
        for decoder in decoders:
            cells = [f"{m:.1f} ± {s:.1f}" for m, s in
                     (mean_std(by_decoder[decoder][split]) for split in splits)]
            seeds_text = "; ".join("/".join(f"{w:.1f}" for w in by_decoder[decoder][split])
                                   for split in splits)
            lines.append(f"| {system} | {decoder} | " + " | ".join(cells) + f" | {seeds_text} |")
    return "\n".join(lines)


def ranking(table: dict, decoder: str, split: str) -> str:
    """The systems by mean WER, with '<' where the gap exceeds both spreads added."""
    stats = sorted((mean_std(table[s][decoder][split]), s) for s in table)
    text = stats[0][1]
    for (previous, _), ((mean, std), system) in zip(stats, stats[1:]):
        clear = mean - previous[0] > previous[1] + std
        text += (" < " if clear else " ~ ") + system
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "quality")
    parser.add_argument("--data", type=Path, default=REPO / "manifests" / "demo",
                        help="folder with pretrain/ and finetune/ manifests (the demo corpus)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--pretrain-updates", type=int, default=300)
    parser.add_argument("--finetune-updates", type=int, default=1500)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each)")
    parser.add_argument("--lm", action="store_true", help="also decode with a 3-gram LM")
    parser.add_argument("--pretrain-override", action="append", default=[],
                        help="extra hydra override for both pretrainings (repeatable)")
    parser.add_argument("--finetune-override", action="append", default=[],
                        help="extra hydra override for every fine-tuning (repeatable)")
    parser.add_argument("--config-suffix", default="demo",
                        help="pretraining configs birq_SUFFIX and bestrq_SUFFIX")
    parser.add_argument("--finetune-config", default="demo", help="config/finetuning/NAME.yaml")
    parser.add_argument("--splits", nargs="+", default=list(DEMO_SPLITS),
                        help="finetune/ splits to decode")
    args = parser.parse_args(argv)
    args.out, args.data = args.out.resolve(), args.data.resolve()
    for split in ("pretrain/train.tsv", "finetune/train.tsv",
                  *(f"finetune/{s}.tsv" for s in args.splits)):
        if not (args.data / split).exists():
            parser.error(f"{args.data / split}: missing; --data needs pretrain/ and finetune/ "
                         "manifests with the --splits (the demo corpus: make demo-corpus)")

    lm = None
    if args.lm:
        lm = args.out / "lm" / "train_3gram.arpa"
        run_logged([str(BIN / "python"), "-m", "birq_fairseq.lm.build_arpa", "--order", "3",
                    "--out", str(lm), str(args.data / "finetune" / "train.wrd")],
                   args.out / "logs" / "lm.log")
    pretrained = sorted({"birq" if s == "scratch" else s for s in args.systems})
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda job: pretrain(args, *job),
                      [(s, seed) for seed in args.seeds for s in pretrained]))
        list(pool.map(lambda job: finetune_and_decode(args, *job, lm),
                      [(s, seed) for seed in args.seeds for s in args.systems]))

    decoders = ["greedy"] + (["lm"] if lm else [])
    table = collect(args, decoders)
    text = markdown(table, args.seeds, args.splits)
    orders = [f"- {decoder}, {split}: {ranking(table, decoder, split)}"
              for decoder in decoders for split in args.splits]
    summary = (f"{text}\n\nOrder by mean WER ('<': gap larger than both std added, '~': "
               f"within the spread):\n" + "\n".join(orders) + "\n")
    (args.out / "table.md").write_text(summary)
    (args.out / "results.json").write_text(json.dumps({
        "seeds": args.seeds, "pretrain_updates": args.pretrain_updates,
        "finetune_updates": args.finetune_updates, "wer": table}, indent=1))
    for stage in ("pretrain", "finetune"):
        logs = sorted((args.out / "logs").glob(f"{stage}_*.log"))
        plot({log.stem: parse_log(log.read_text()) for log in logs}, args.out / "plots" / stage)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
