"""What pretraining buys: BiRQ, BEST-RQ and no pretraining, same model, updates, batch and
fine-tuning, over several seeds: ``python examples/benchmarks/quality.py --preset study``.

For each seed: pretrain ``birq_SUFFIX`` and ``bestrq_SUFFIX`` for the same number of updates
(same batch, model and data order; validation logs the labels' PNMI against phone
alignments over training), then

1. **label quality** of every pretrained encoder and of a random init of the same model
   (``python -m birq_fairseq.label_quality`` on a labelled test split: PNMI of the anchor and
   enhanced labels and of each layer's k-means, and a linear phone probe of each frozen
   layer on held-out utterances, one evaluation seed for all), and for each pretrained
   encoder the **layer-k check** (``python -m birq_fairseq.label_quality.quantizer_variants``):
   are the random-projection labels of its own layer k (a seeded quantizer of BiRQ's size for
   BEST-RQ) more phonetic than the anchors? BiRQ's enhanced labels can only add information
   where they are;
2. **CTC fine-tuning** of each encoder and of a randomly initialised twin
   (``model.no_pretrained_weights=true``) on each labelled set, identically, scored by
   fairseq-generate greedy and (``--lm``) with a 3-gram LM: WER and letter error rate.

Writes ``table.md`` (mean, sample std, every seed, and the order of the systems with '<'
where the gap between two means exceeds their two std added), ``results.json`` and curves
(``plots/``: losses, accuracies and valid PNMI over updates). Runs are processes with one
thread each, ``--jobs`` at a time, each evaluation as soon as the encoder it needs is saved
(``job_pipeline.py``); a rerun resumes unfinished runs (fairseq restores
``checkpoint_last.pt``) and keeps finished scores. ``results.json`` keeps each job's wall
seconds. ``--baseline DIR`` pairs each system, seed by seed, with the same system of another
finished folder: a variant (an override) against the runs it changes.

Presets: ``demo`` (the demo corpus, ``make demo-corpus``; 300 updates), ``study`` (the
study corpus, ``make study-corpus``: 14 h unlabelled, 10-minute English labels; see
docs/study.md) and ``gpu`` (the study ten times larger for one GPU, six runs at a time:
``examples/benchmarks/study_gpu.sh``). Any other corpus with a ``pretrain/`` folder and
labelled folders: ``--data DIR --labelled NAME ... --config-suffix base_librispeech
--finetune-config base_10h --splits dev_other test_other --jobs 1``.
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

from job_pipeline import Job, run_jobs  # noqa: E402
from plot_training import parse_log, plot  # noqa: E402

from birq_fairseq.alignment.phone_alignments import ALIGNMENT_SUFFIX  # noqa: E402
from birq_fairseq.paired_seeds import compare  # noqa: E402
from birq_fairseq.results_table import scored_ler, scored_wer  # noqa: E402

logging.getLogger("matplotlib").setLevel(logging.WARNING)  # fairseq's import logs at DEBUG
BIN = Path(sys.executable).parent
SYSTEMS = ("birq", "bestrq", "scratch")
DECODERS = ("greedy", "lm")
METRICS = {"wer": scored_wer, "ler": scored_ler}
PROBE_SPLIT = "test_real"

PRESETS = {
    "demo": dict(data=REPO / "manifests" / "demo", labelled=["finetune"], pretrain_updates=300,
                 finetune_updates=1500, splits=["test_synth", "test_real"]),
    # The regime of docs/study.md: 3000 updates of 30 s batches on 14 h (1.74 epochs; at 1500
    # updates pretraining did not yet beat no pretraining after 10-minute fine-tuning);
    # birq_demo's BiRQ with the centred target gradient at 0.03 instead of its 0.1: in the
    # first one-piece run of the study, 0.1 tripped the collapse guard's top-share check in
    # one seed of three (0.30-0.32 of the masked frames on one code at updates 500 and 1000),
    # 0.03 stayed at or below 0.22 in nine runs of 3000-6000 updates (the one-piece rerun's
    # three included) with better enhanced labels and the same encoder measures
    # (docs/study.md, "The study as one piece"). The study's first,
    # 1500-update table: --pretrain-updates 1500 --birq-override
    # ++model.enhanced_target_grad_scale=0.01 --birq-override
    # ++model.enhanced_centred_target_gradient=false. 600 fine-tuning updates on 10 minutes
    # (60 epochs) and on 1 hour (10 epochs), best checkpoint by valid letter error (WER sits
    # at 100 there), at lr 2e-3 with 30 % of the updates warming up: better than the
    # finetuning yaml's lr 1e-3 / 10 % for every system on both label sets (3 seeds each;
    # docs/study.md, "The fine-tuning recipe with warm-up on 1 hour"). The tables before
    # that section used lr 1e-3: --finetune-override 'optimization.lr=[0.001]'
    # --finetune-override 'lr_scheduler.phase_ratio=[0.1,0.4,0.5]' reproduces them.
    "study": dict(data=REPO / "data" / "study" / "manifests",
                  labelled=["finetune_10min", "finetune_1h"],
                  pretrain_updates=3000, finetune_updates=600, splits=["test_synth", "test_real"],
                  lm_text="finetune_1h/train.wrd",
                  pretrain_override=["dataset.validate_interval_updates=250",
                                     "checkpoint.save_interval_updates=500",
                                     "checkpoint.keep_interval_updates=3"],
                  birq_override=["model.enhanced_target_grad_scale=0.03"],
                  finetune_override=["dataset.validate_interval_updates=200",
                                     "checkpoint.save_interval_updates=200",
                                     "checkpoint.best_checkpoint_metric=uer",
                                     "optimization.lr=[0.002]",
                                     "lr_scheduler.phase_ratio=[0.3,0.2,0.5]"]),
}
# Ten times the study's audio per pretraining (8x the batch = 240 s, 1.25x the updates =
# 3750: 250 h seen, 17.6 epochs of 14 h) on a wider, deeper Conformer (6 x 192, k = 4 = 0.7 K,
# the "k = 0.7 K exists"), for one GPU: each run is host-bound at this size, so six
# pretrainings share the device at once, each with its own loader workers. lr 3e-4 with a 10 %
# warm-up: at the study's lr 1e-3 (30 warm-up updates) this model does not train on the
# study's batch (valid acc_anchor flat at 0.12 for 3000 updates), at 3e-4 it does
# (docs/study.md, "A wider, deeper encoder"). Not yet timed on a device
# (examples/benchmarks/study_gpu.sh runs it under its time limit).
GPU_MODEL = ["model.encoder_layers=6", "model.encoder_embed_dim=192",
             "model.encoder_ffn_embed_dim=768", "model.encoder_attention_heads=4"]
PRESETS["gpu"] = dict(
    PRESETS["study"], pretrain_updates=3750, jobs=6,
    pretrain_override=[*PRESETS["study"]["pretrain_override"], *GPU_MODEL,
                       "++model.enhanced_layer=4", "dataset.max_tokens=3840000",
                       "dataset.num_workers=2", "optimization.lr=[0.0003]",
                       "lr_scheduler.warmup_updates=375"],
    # Fine-tuning at lr 5e-4 (the study's 30 % warm-up): a random 6 x 192 init stays on the
    # all-blank CTC plateau at the study's lr 2e-3 and at 1e-3 (10-minute letter error ~98 and
    # ~92), at 5e-4 it trains (61.8 / 58.3), and the pretrained one does as well as at 2e-3
    # (docs/study.md, "6 x 192 for 6000 updates"; one seed, on the CPU).
    finetune_override=[*PRESETS["study"]["finetune_override"], "dataset.num_workers=2",
                       "optimization.lr=[0.0005]"])


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


def encoder_dir(args, system: str, seed: int) -> Path:
    return args.out / "checkpoints" / f"{system}_seed{seed}"


def updates_done(save_dir: Path) -> int:
    """The updates saved in ``save_dir/checkpoint_last.pt`` (0 without one). A finished run
    must not be started again: fairseq restarted at ``max_update`` takes one more step (and
    saves it) before it checks the limit."""
    last = save_dir / "checkpoint_last.pt"
    if not last.exists():
        return 0
    from fairseq import checkpoint_utils

    import birq_fairseq.checkpoint_classes  # noqa: F401  (what fine-tuned checkpoints pickle)
    state = checkpoint_utils.load_checkpoint_to_cpu(str(last))
    return state["optimizer_history"][-1]["num_updates"]


def run_pretraining(args, system: str, seed: int, save_dir: Path, updates: int, log: Path,
                    *options: str) -> None:
    """``system``'s pretraining as the study configures it (seeds, ``--pretrain-override``,
    and ``--birq-override`` for BiRQ), for ``updates`` updates, unless ``save_dir`` already
    holds them."""
    if updates_done(save_dir) >= updates:
        return
    extra = args.birq_override if system == "birq" else []
    run_logged([
        str(BIN / "fairseq-hydra-train"), f"task.data={args.data / 'pretrain'}",
        f"checkpoint.save_dir={save_dir}", f"common.seed={seed}",
        f"++model.quantizer_seed={seed}", f"optimization.max_update={updates}",
        *options, *args.pretrain_override, *extra,
        "--config-dir", "config/pretraining", "--config-name", f"{system}_{args.config_suffix}",
    ], log)


def pretrain(args, system: str, seed: int) -> None:
    run_pretraining(args, system, seed, encoder_dir(args, system, seed), args.pretrain_updates,
                    args.out / "logs" / f"pretrain_{system}_seed{seed}.log")


def architecture_checkpoint(args, seed: int) -> Path:
    """Where the random init's fine-tuning reads its model config (weights unused:
    ``model.no_pretrained_weights=true``)."""
    return args.out / "checkpoints" / f"scratch_architecture_seed{seed}" / "checkpoint_last.pt"


def save_architecture(args, seed: int) -> None:
    """One update of BiRQ's pretraining as configured, validation off: a checkpoint whose
    config is the pretrained systems' model, so that the random init's fine-tuning does not
    wait for BiRQ's whole pretraining (the longest job) only to read a config."""
    run_pretraining(args, "birq", seed, architecture_checkpoint(args, seed).parent, 1,
                    args.out / "logs" / f"scratch_architecture_seed{seed}.log",
                    "dataset.disable_validation=true")


def label_quality_json(args, system: str, seed: int) -> Path:
    return args.out / "label_quality" / f"{system}_seed{seed}.json"


def layer_k_json(args, system: str, seed: int, split: str) -> Path:
    return args.out / "label_quality" / f"{system}_seed{seed}_layer_k_{split}.json"


def layer_k_splits(args) -> list[str]:
    """The splits the layer-k check runs on: the probe's, then every other evaluated split
    with phone alignments. The study's test_synth (27.6k frames with espeak-ng's own phones)
    separates label sets that test_real's 5.2k PocketSphinx-aligned frames cannot."""
    labelled = args.data / args.labelled[0]
    others = [split for split in args.splits if split != PROBE_SPLIT
              and (labelled / f"{split}{ALIGNMENT_SUFFIX}").exists()]
    return [PROBE_SPLIT, *others]


def birq_config(args):
    """``birq_SUFFIX.yaml`` with the model overrides the BiRQ pretraining gets
    (``--pretrain-override``, then ``--birq-override``), and whether there were any."""
    from omegaconf import OmegaConf

    model = [o.lstrip("+") for o in [*args.pretrain_override, *args.birq_override]
             if o.lstrip("+").startswith("model.")]
    base = OmegaConf.load(REPO / "config" / "pretraining" / f"birq_{args.config_suffix}.yaml")
    return OmegaConf.merge(base, OmegaConf.from_dotlist(model)), bool(model)


def birq_enhanced_codes(args) -> int:
    """BiRQ's enhanced codebook size, so that BEST-RQ's layer-k labels are scored with a
    codebook of the same size (PNMI grows with codes)."""
    return int(birq_config(args)[0].model.enhanced_codebook_size)


def scratch_config(args) -> Path:
    """The yaml of the random init that no pretraining is scored as: BiRQ's model as its
    pretraining is configured (``birq_config``), so that a preset that widens the model (gpu)
    scores a random init of the same size. The yaml itself when nothing overrides the model."""
    from omegaconf import OmegaConf

    config, overridden = birq_config(args)
    if not overridden:
        return REPO / "config" / "pretraining" / f"birq_{args.config_suffix}.yaml"
    target = args.out / "configs" / f"scratch_{args.config_suffix}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, target)
    return target


def measure_label_quality(args, system: str, seed: int) -> None:
    """Scores one encoder's labels and layers (a random init of birq_SUFFIX for scratch), and
    a pretrained encoder's layer-k labels against its anchors."""
    target = label_quality_json(args, system, seed)
    if system == "scratch":
        model = [str(scratch_config(args)), "--init-seed", str(seed)]
    else:
        model = [str(encoder_dir(args, system, seed) / "checkpoint_last.pt")]
    data = str(args.data / args.labelled[0])
    if not target.exists():
        run_logged([
            str(BIN / "python"), "-m", "birq_fairseq.label_quality", *model, data, PROBE_SPLIT,
            "--kmeans", "100", "--seed", str(args.eval_seed), "--json", str(target),
        ], args.out / "logs" / f"label_quality_{system}_seed{seed}.log")
    codes = str(birq_enhanced_codes(args))
    for split in layer_k_splits(args) if system != "scratch" else []:
        layer_k = layer_k_json(args, system, seed, split)
        if not layer_k.exists():
            run_logged([
                str(BIN / "python"), "-m", "birq_fairseq.label_quality.quantizer_variants",
                *model, data, split, "--enhanced-codes", codes,
                "--seed", str(args.eval_seed), "--json", str(layer_k),
            ], args.out / "logs" / f"layer_k_{system}_seed{seed}_{split}.log")


def finetune_and_decode(args, labelled: str, system: str, seed: int, lm: Path | None) -> None:
    w2v = (architecture_checkpoint(args, seed) if system == "scratch"
           else encoder_dir(args, system, seed) / "checkpoint_last.pt")
    name = f"{labelled}/{system}_seed{seed}"
    save_dir = args.out / "checkpoints" / labelled / f"finetune_{system}_seed{seed}"
    extra = ["+model.no_pretrained_weights=true"] if system == "scratch" else []
    if updates_done(save_dir) < args.finetune_updates:
        run_logged([
            str(BIN / "fairseq-hydra-train"), f"task.data={args.data / labelled}",
            f"model.w2v_path={w2v}", f"checkpoint.save_dir={save_dir}", f"common.seed={seed}",
            f"optimization.max_update={args.finetune_updates}", *extra, *args.finetune_override,
            "--config-dir", "config/finetuning", "--config-name", args.finetune_config,
        ], args.out / "logs" / labelled / f"finetune_{system}_seed{seed}.log")
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
                str(BIN / "fairseq-generate"), str(args.data / labelled), "--user-dir",
                "birq_fairseq", "--task", "birq_ctc_eval", "--path",
                str(save_dir / "checkpoint_best.pt"), "--gen-subset", split, "--scoring", "wer",
                "--post-process", "letter", "--max-tokens", "4000000", "--results-path",
                str(results), *options,
            ], args.out / "logs" / labelled / f"decode_{system}_seed{seed}_{decoder}_{split}.log")


def collect_decodes(args, decoders: list[str]) -> dict:
    """{labelled: {metric: {system: {decoder: {split: [value per seed]}}}}}."""
    table: dict = {}
    for labelled in args.labelled:
        for metric, score in METRICS.items():
            for system in args.systems:
                for decoder in decoders:
                    for split in args.splits:
                        paths = [args.out / "decodes" / labelled / f"{system}_seed{seed}"
                                 / decoder / f"generate-{split}.txt" for seed in args.seeds]
                        values = [score(p) if p.exists() else None for p in paths]
                        (table.setdefault(labelled, {}).setdefault(metric, {})
                         .setdefault(system, {}).setdefault(decoder, {}))[split] = values
    return table


def label_quality_summary(report: dict) -> dict:
    """The numbers the study compares, from one label_quality JSON: anchor / enhanced label
    PNMI (and their shuffled floors), each layer's k-means PNMI and probe accuracy, and the
    best layer's probe accuracy (single split, and over utterance folds where scored)."""
    labels, probe = report["labels"], report["probe"]
    layers = sorted(int(name.split()[1]) for name in probe if name.startswith("layer "))
    summary = {
        "layer_pnmi": [labels[f"k-means layer {i}, K=100"]["pnmi"] for i in layers],
        "layer_probe": [probe[f"layer {i}"]["accuracy"] for i in layers],
        "log_mel_probe": probe["log-mel"]["accuracy"],
    }
    summary["best_probe"] = max(summary["layer_probe"])
    if report.get("probe_cv"):  # label_quality --probe-folds: every frame scored
        summary["layer_probe_cv"] = [report["probe_cv"][f"layer {i}"]["accuracy"]
                                     for i in layers]
        summary["best_probe_cv"] = max(summary["layer_probe_cv"])
    for kind, title in (("anchor", "anchor (frozen RPQ on log-mel)"),
                        ("enhanced", "enhanced, nearest code (layer k)")):
        if title in labels:
            summary[f"{kind}_pnmi"] = labels[title]["pnmi"]
            summary[f"{kind}_pnmi_chance"] = labels[title]["pnmi_chance"]
    return summary


def layer_k_summary(report: dict) -> dict:
    """From one quantizer_variants JSON: the anchors' and layer k's RPQ labels by PNMI above
    its shuffled floor and by held-out majority-phone accuracy (the two measures that do not
    favour a label set for using more codes)."""
    summary = {}
    for kind in ("anchor", "enhanced"):
        labels = report["labels"][f"{kind}, published"]
        summary[f"{kind}_excess"] = labels["pnmi"] - labels["pnmi_chance"]
        summary[f"{kind}_held_out"] = labels["held_out_accuracy"]
    return summary


def collect_label_quality(args) -> dict:
    """{system: {number: [value per seed scored]}} (lists per layer become lists of lists),
    the seeds whose label quality was scored under "seeds" (the layer-k check's numbers, under
    "layer_k" per split, are kept for their means only)."""
    def append(numbers: dict, summary: dict) -> None:
        for key, value in summary.items():
            numbers.setdefault(key, []).append(value)

    table: dict = {}
    for system in args.systems:
        for seed in args.seeds:
            report = label_quality_json(args, system, seed)
            if report.exists():
                append(table.setdefault(system, {}),
                       {"seeds": seed, **label_quality_summary(json.loads(report.read_text()))})
            for split in layer_k_splits(args):
                layer_k = layer_k_json(args, system, seed, split)
                if layer_k.exists():
                    append(table.setdefault(system, {}).setdefault("layer_k", {})
                           .setdefault(split, {}),
                           layer_k_summary(json.loads(layer_k.read_text())))
    for numbers in table.values():
        if len(numbers.get("best_probe_cv", [])) != len(numbers.get("seeds", [])):
            # some reports were scored without --probe-folds: the single-split probe only
            numbers.pop("best_probe_cv", None)
            numbers.pop("layer_probe_cv", None)
    return table


CURVES = ("valid_pnmi_anchor", "valid_pnmi_enhanced", "valid_acc_anchor", "valid_acc_enhanced")
COLLAPSE_WARNING = "codebook collapse at update"


def collect_curves(args, pretrained: list[str]) -> dict:
    """{system: {metric: {update: [value per seed]}}} from the pretraining validation
    lines, and {system: [collapse warnings per seed]} under "collapse_warnings"."""
    curves: dict = {}
    for system in pretrained:
        for seed in args.seeds:
            log = args.out / "logs" / f"pretrain_{system}_seed{seed}.log"
            if not log.exists():
                continue
            text = log.read_text()
            parsed = parse_log(text)
            for metric in CURVES:
                for update, value in parsed.get(metric, []):
                    (curves.setdefault(system, {}).setdefault(metric, {})
                     .setdefault(update, []).append(value))
            (curves.setdefault(system, {}).setdefault("collapse_warnings", [])
             .append(text.count(COLLAPSE_WARNING)))
    return curves


def curves_markdown(curves: dict) -> str:
    updates = sorted({u for c in curves.values() for u in c.get("valid_pnmi_anchor", {})})
    lines = ["### Labels on pretrain/valid over training (mean ± std over seeds)", "",
             "| system | metric | " + " | ".join(map(str, updates)) + " |",
             "|---|---|" + "---:|" * len(updates)]
    for system, by_metric in curves.items():
        for metric in CURVES:
            if metric in by_metric:
                cells = [_cell(by_metric[metric].get(u, []), 3) for u in updates]
                lines.append(f"| {system} | {metric} | " + " | ".join(cells) + " |")
    warnings = {s: c.get("collapse_warnings", []) for s, c in curves.items()}
    lines += ["", "Collapse warnings per seed: " + "; ".join(
        f"{s} {'/'.join(map(str, w))}" for s, w in warnings.items()), ""]
    return "\n".join(lines)


def mean_std(values: list[float]) -> tuple[float, float]:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), spread


def ranking(by_system: dict[str, list[float]], lower_is_better: bool = True) -> str:
    """The systems ordered by mean, best first, with '<' (or '>') where the gap between
    neighbours exceeds both their sample std added and '~' where it does not; then, in
    brackets, the pairs further apart whose gap exceeds it although the chain shows '~'
    between them (a ~ b ~ c can hide a < c). A system with one seed has no spread, and no
    gap to it is called clear."""
    stats = sorted(((mean_std(v), s, len(v)) for s, v in by_system.items() if None not in v),
                   key=lambda item: item[0][0], reverse=not lower_is_better)
    if not stats:
        return "-"
    sign = f" {'<' if lower_is_better else '>'} "

    def clear(a, b) -> bool:
        return min(a[2], b[2]) > 1 and abs(a[0][0] - b[0][0]) > a[0][1] + b[0][1]

    steps = [clear(a, b) for a, b in zip(stats, stats[1:])]
    text = stats[0][1] + "".join((sign if step else " ~ ") + system
                                 for step, (_, system, _) in zip(steps, stats[1:]))
    hidden = [f"{stats[i][1]}{sign}{stats[j][1]}" for i in range(len(stats))
              for j in range(i + 2, len(stats))
              if not any(steps[i:j]) and clear(stats[i], stats[j])]
    return text + (f" ({', '.join(hidden)})" if hidden else "")


def _cell(values: list[float | None], digits: int) -> str:
    if not values or None in values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def decode_markdown(table: dict, args, decoders: list[str]) -> str:
    lines = []
    for labelled, by_metric in table.items():
        lines += [f"### Fine-tuned on {labelled}", "",
                  "| system | decoder | " + " | ".join(
                      f"{split} {metric.upper()}" for metric in METRICS for split in args.splits)
                  + " | LER per seed |",
                  "|---|---|" + "---:|" * (len(METRICS) * len(args.splits)) + "---|"]
        for system in args.systems:
            for decoder in decoders:
                cells = [_cell(by_metric[metric][system][decoder][split], 1)
                         for metric in METRICS for split in args.splits]
                seeds = "; ".join("/".join("-" if v is None else f"{v:.1f}"
                                           for v in by_metric["ler"][system][decoder][split])
                                  for split in args.splits)
                lines.append(f"| {system} | {decoder} | " + " | ".join(cells) + f" | {seeds} |")
        lines += ["", "Order (best first; '<': gap larger than both std added, '~': within):"]
        for metric in METRICS:
            for decoder in decoders:
                for split in args.splits:
                    order = ranking({s: by_metric[metric][s][decoder][split]
                                     for s in args.systems})
                    lines.append(f"- {metric.upper()}, {decoder}, {split}: {order}")
        lines.append("")
    return "\n".join(lines)


def label_quality_markdown(table: dict) -> str:
    if not table:
        return ""
    layers = len(next(iter(table.values()))["layer_pnmi"][0])
    cv = all("best_probe_cv" in numbers for numbers in table.values())
    per_layer_keys = ("layer_pnmi", "layer_probe", *(("layer_probe_cv",) if cv else ()))
    summary_keys = ("best_probe", *(("best_probe_cv",) if cv else ()), "anchor_pnmi",
                    "enhanced_pnmi")
    titles = {"layer_pnmi": "PNMI", "layer_probe": "probe", "layer_probe_cv": "probe (folds)",
              "best_probe": "best probe", "best_probe_cv": "best probe (folds)",
              "anchor_pnmi": "anchor PNMI", "enhanced_pnmi": "enhanced PNMI"}
    columns = [f"layer {i} {titles[key]}" for key in per_layer_keys for i in range(1, layers + 1)]
    columns += [titles[key] for key in summary_keys]
    lines = [f"### Label quality and frozen-layer probes ({PROBE_SPLIT})", "",
             "| system | seeds | " + " | ".join(columns) + " |",
             "|---|---|" + "---:|" * len(columns)]
    for system, numbers in table.items():
        per_layer = [_cell([seed[i] for seed in numbers[key]], 3)
                     for key in per_layer_keys for i in range(layers)]
        seeds = " ".join(map(str, numbers.get("seeds", [])))
        lines.append(f"| {system} | {seeds} | " + " | ".join(per_layer) + " | "
                     + " | ".join(_cell(numbers.get(key, []), 3) for key in summary_keys)
                     + " |")
    lines += ["", "Order (best first; '>': gap larger than both std added, '~': within):",
              "- best-layer probe: " + ranking({s: n["best_probe"] for s, n in table.items()},
                                               lower_is_better=False)]
    if cv:
        lines.append("- best-layer probe over utterance folds: " + ranking(
            {s: n["best_probe_cv"] for s, n in table.items()}, lower_is_better=False))
    for i in range(layers):
        lines.append(f"- layer {i + 1} PNMI: " + ranking(
            {s: [seed[i] for seed in n["layer_pnmi"]] for s, n in table.items()},
            lower_is_better=False))
    splits = dict.fromkeys(split for numbers in table.values()
                           for split in numbers.get("layer_k", {}))
    return "\n".join(lines) + "\n" + "".join(layer_k_markdown(table, split) for split in splits)


def layer_k_markdown(table: dict, split: str) -> str:
    """The layer-k check on one split: BiRQ can only teach the encoder something where the
    labels of its layer k beat the anchors; a BEST-RQ encoder whose layer k does not is a
    no-go for BiRQ."""
    checked = {system: numbers["layer_k"][split] for system, numbers in table.items()
               if split in numbers.get("layer_k", {})}
    if not checked:
        return ""
    lines = ["", f"### Layer-k labels against the anchors ({split}; quantizer_variants)",
             "", "| system | anchor PNMI excess | layer-k PNMI excess | anchor held-out acc. | "
             "layer-k held-out acc. |", "|---|---:|---:|---:|---:|"]
    for system, numbers in checked.items():
        lines.append(f"| {system} | " + " | ".join(
            _cell(numbers[key], 3) for key in ("anchor_excess", "enhanced_excess",
                                               "anchor_held_out", "enhanced_held_out")) + " |")
    lines += ["", "Layer k against the anchors ('>': gap larger than both std added, '~': "
              "within; excess = PNMI above its shuffled floor):"]
    for system, numbers in checked.items():
        for measure, key in (("PNMI excess", "excess"), ("held-out accuracy", "held_out")):
            lines.append(f"- {system}, {measure}: " + ranking(
                {"layer k": numbers[f"enhanced_{key}"], "anchors": numbers[f"anchor_{key}"]},
                lower_is_better=False))
    return "\n".join(lines) + "\n"


# (a, b) compared seed by seed, where both ran: each method against the next simpler one
PAIRS = (("birq", "bestrq"), ("bestrq", "scratch"), ("birq", "scratch"))


def paired_measures(quality: dict, decodes: dict, decoders: list[str], seeds: list[int],
                    folds: bool | None = None) -> dict:
    """{measure: ({system: {seed: value}}, lower_is_better, digits)}: the frozen probe (over
    folds where every report scored them, or where ``folds`` asks and they did) and every
    letter error rate, the measures the issue judges by, keyed by seed so that a seed one
    system lacks pairs with nothing."""
    measures = {}
    scored = all(len(n.get("best_probe_cv", [])) == len(n["best_probe"])
                 for n in quality.values())
    folds = scored if folds is None else folds and scored
    probe, title = (("best_probe_cv", "best-layer probe over folds") if folds
                    else ("best_probe", "best-layer probe"))
    if quality:
        measures[f"{title}, {PROBE_SPLIT}"] = (
            {s: dict(zip(scored_seeds(s, n, seeds), n[probe], strict=True))
             for s, n in quality.items() if probe in n}, False, 3)
    for labelled, by_metric in decodes.items():
        for decoder in decoders:
            for split in next(iter(by_metric["ler"].values()))[decoder]:
                measures[f"LER, {labelled}, {decoder}, {split}"] = (
                    {s: {seed: v for seed, v in zip(seeds, d[decoder][split], strict=True)
                         if v is not None}
                     for s, d in by_metric["ler"].items()}, True, 1)
    return measures


def scored_seeds(system: str, numbers: dict, seeds: list[int]) -> list[int]:
    """The seeds a system's label-quality lists hold. Reports written before they named
    their seeds hold one value per seed of the run, or cannot be paired."""
    if "seeds" in numbers:
        return numbers["seeds"]
    if len(numbers["best_probe"]) != len(seeds):
        raise ValueError(f"label quality of {system}: {len(numbers['best_probe'])} values for "
                         f"seeds {seeds} and no seed list; rebuild that results.json with "
                         f"quality.py --report-only")
    return seeds


def paired_comparisons(measures: dict, pairs=PAIRS) -> dict:
    """{measure: {"a vs b": PairedComparison as a dict}} for every pair in ``pairs`` that
    both have values for at least two common seeds."""
    table: dict = {}
    for measure, (by_system, lower_is_better, _) in measures.items():
        for a, b in pairs:
            if a in by_system and b in by_system:
                seeds = sorted(by_system[a].keys() | by_system[b].keys())
                result = compare([by_system[a].get(seed) for seed in seeds],  # None: unpaired
                                 [by_system[b].get(seed) for seed in seeds], lower_is_better)
                if result is not None:
                    table.setdefault(measure, {})[f"{a} vs {b}"] = asdict(result)
    return table


def baseline_comparisons(measures: dict, baseline: Path) -> tuple[dict, dict]:
    """Each system of this run against the same system in ``baseline`` (another quality.py
    folder), seed by seed: how a variant (an override) compares with the runs it changes.
    Returns the measures with the baseline's systems added as "baseline NAME", and the
    comparisons."""
    finished = json.loads((baseline / "results.json").read_text())
    decodes = finished["decodes"]
    decoders = [decoder for decoder in DECODERS if all(
        decoder in by_decoder for by_metric in decodes.values()
        for by_decoder in by_metric["ler"].values())]
    folds = any(measure.startswith("best-layer probe over folds") for measure in measures)
    theirs = paired_measures(finished["label_quality"], decodes, decoders, finished["seeds"],
                             folds)
    merged = {}
    for measure, (by_system, lower_is_better, digits) in measures.items():
        if measure in theirs:
            merged[measure] = ({**by_system, **{f"baseline {s}": v
                                                for s, v in theirs[measure][0].items()}},
                               lower_is_better, digits)
    systems = dict.fromkeys(s for by_system, _, _ in measures.values() for s in by_system)
    return merged, paired_comparisons(merged, [(s, f"baseline {s}") for s in systems])


def baseline_report(measures: dict, baseline: Path) -> tuple[str, dict]:
    """The "against the baseline" section and its comparisons. A baseline that cannot be
    paired is said in the section, not fatal: this run's own report is still written."""
    title = f"Paired by seed against the baseline {baseline}"
    try:
        merged, comparisons = baseline_comparisons(measures, baseline)
    except (ValueError, KeyError) as error:
        return f"\n### {title}\n\nNot paired: {error!r}\n", {}
    unpaired = [measure for measure in measures if measure not in comparisons]
    note = (f"\nNot paired (absent from the baseline, or under two seeds in common): "
            f"{'; '.join(unpaired)}.\n" if unpaired else "")
    return paired_markdown(comparisons, merged, title) + note, comparisons


def paired_markdown(comparisons: dict, measures: dict, title: str = "Paired by seed") -> str:
    if not comparisons:
        return ""
    lines = ["", f"### {title}", "",
             "Per seed, a - b (the same seed gives both systems the same data order, masks "
             "and fine-tuning); 'ahead': seeds where each is better; p: exact two-sided "
             "sign-flip test of the mean difference (its smallest value is 2 / 2^seeds).", "",
             "| measure | a vs b | seeds | a - b, mean ± std | a ahead / b ahead | p |",
             "|---|---|---:|---:|---:|---:|"]
    for measure, by_pair in comparisons.items():
        digits = measures[measure][2]
        for pair, r in by_pair.items():
            lines.append(f"| {measure} | {pair} | {r['seeds']} | "
                         f"{r['mean_difference']:+.{digits}f} ± {r['std_difference']:.{digits}f} | "
                         f"{r['a_ahead']} / {r['b_ahead']} | {r['p_value']:.3f} |")
    return "\n".join(lines) + "\n"


def study_jobs(args, pretrained: list[str], lm: Path | None) -> list[Job]:
    """Every run of the study, each after the checkpoint it loads: the random init's
    one-update config checkpoints (seconds), the pretrainings, BiRQ's (the longest) before
    BEST-RQ's, then each seed's evaluations. The random init waits for no pretraining, so
    ``--systems bestrq scratch`` runs without BiRQ's."""
    def loaded(system: str, seed: int) -> tuple[str, ...]:
        """The job that saves the checkpoint ``system``'s fine-tuning loads."""
        if system == "scratch":
            return (f"architecture {seed}",)
        return (f"pretrain {system} {seed}",) if system in pretrained else ()

    jobs = [Job(f"architecture {seed}", partial(save_architecture, args, seed))
            for seed in args.seeds if "scratch" in args.systems]
    jobs += [Job(f"pretrain {system} {seed}", partial(pretrain, args, system, seed))
             for system in ("birq", "bestrq") if system in pretrained for seed in args.seeds]
    for seed in args.seeds:
        for system in args.systems:
            if not args.no_label_quality:
                after = () if system == "scratch" else loaded(system, seed)
                jobs.append(Job(f"label quality {system} {seed}",
                                partial(measure_label_quality, args, system, seed), after))
            jobs += [Job(f"{labelled} {system} {seed}",
                         partial(finetune_and_decode, args, labelled, system, seed, lm),
                         loaded(system, seed))
                     for labelled in args.labelled]
    return jobs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                        help="corpus, updates and overrides (each option below overrides it)")
    parser.add_argument("--out", type=Path, help="results folder (default results/PRESET)")
    parser.add_argument("--data", type=Path,
                        help="folder with pretrain/ and the --labelled folders of manifests")
    parser.add_argument("--labelled", nargs="+", help="labelled manifest folders under --data "
                        "to fine-tune on (the first is also the label-quality split's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--eval-seed", type=int, default=1,
                        help="label_quality --seed for every model (k-means, probe split)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--pretrain-updates", type=int)
    parser.add_argument("--finetune-updates", type=int)
    parser.add_argument("--jobs", type=int,
                        help="runs at a time, one thread each (default 2; gpu preset 6)")
    parser.add_argument("--lm", action="store_true", help="also decode with a 3-gram LM")
    parser.add_argument("--lm-text", help="LM training text, relative to --data "
                        "(default: the first labelled folder's train.wrd)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: rebuild table.md, results.json and the plots from "
                        "the runs under --out")
    parser.add_argument("--no-label-quality", action="store_true",
                        help="skip the label-quality stage")
    parser.add_argument("--pretrain-override", action="append", default=[],
                        help="extra hydra override for both pretrainings (repeatable)")
    parser.add_argument("--birq-override", action="append",
                        help="hydra override for the BiRQ pretraining only (repeatable); "
                        "replaces the preset's BiRQ overrides")
    parser.add_argument("--finetune-override", action="append", default=[],
                        help="extra hydra override for every fine-tuning (repeatable)")
    parser.add_argument("--config-suffix", default="demo",
                        help="pretraining configs birq_SUFFIX and bestrq_SUFFIX")
    parser.add_argument("--finetune-config", default="demo", help="config/finetuning/NAME.yaml")
    parser.add_argument("--splits", nargs="+", help="labelled splits to decode")
    parser.add_argument("--baseline", type=Path,
                        help="a finished quality.py folder to compare each system with, seed "
                        "by seed (a variant run with overrides against the runs it changes)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    for key in ("data", "labelled", "pretrain_updates", "finetune_updates", "splits", "lm_text",
                "jobs"):
        if getattr(args, key) is None:
            setattr(args, key, preset.get(key))
    for key in ("pretrain_override", "finetune_override"):
        setattr(args, key, preset.get(key, []) + getattr(args, key))
    if args.birq_override is None:
        args.birq_override = preset.get("birq_override", [])
    args.lm_text = args.lm_text or f"{args.labelled[0]}/train.wrd"
    args.jobs = args.jobs or 2
    args.out = (args.out or REPO / "results" / args.preset).resolve()
    args.data = args.data.resolve()
    args.baseline = args.baseline and args.baseline.resolve()
    needed = ["pretrain/train.tsv", args.lm_text if args.lm else None] + [
        f"{labelled}/{split}.tsv"
        for labelled in args.labelled for split in ["train", *args.splits]]
    if args.baseline and not (args.baseline / "results.json").exists():
        parser.error(f"--baseline {args.baseline}: no results.json there; run quality.py into "
                     f"that folder first (--report-only rebuilds it from finished runs)")
    for path in filter(None, needed):
        if not (args.data / path).exists():
            parser.error(f"{args.data / path}: missing; --data needs pretrain/ and the "
                         f"--labelled folders with the --splits (make demo-corpus, make "
                         f"study-corpus)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    lm = None
    if args.lm:
        lm = args.out / "lm" / "train_3gram.arpa"
        if not lm.exists() and not args.report_only:
            run_logged([str(BIN / "python"), "-m", "birq_fairseq.lm.build_arpa", "--order", "3",
                        "--out", str(lm), str(args.data / args.lm_text)],
                       args.out / "logs" / "lm.log")
    pretrained = sorted(set(args.systems) - {"scratch"})
    if args.report_only:  # keeps the wall times of the runs it reports
        previous = args.out / "results.json"
        job_seconds = (json.loads(previous.read_text()).get("job_seconds", {})
                       if previous.exists() else {})
        return report(args, job_seconds, pretrained, lm)
    start = time.monotonic()
    job_seconds = run_jobs(study_jobs(args, pretrained, lm), args.jobs)
    job_seconds["all"] = round(time.monotonic() - start, 1)
    return report(args, job_seconds, pretrained, lm)


def report(args, job_seconds: dict, pretrained: list[str], lm: Path | None) -> int:
    """Writes table.md, results.json and the plots from whatever runs are under --out."""
    decoders = ["greedy"] + (["lm"] if lm else [])
    decodes = collect_decodes(args, decoders)
    quality = collect_label_quality(args)
    curves = collect_curves(args, pretrained)
    measures = paired_measures(quality, decodes, decoders, args.seeds)
    paired = paired_comparisons(measures)
    summary = (f"## {args.preset}: {args.pretrain_updates} pretraining updates, "
               f"{args.finetune_updates} fine-tuning updates, seeds {args.seeds}\n\n"
               + label_quality_markdown(quality) + "\n" + curves_markdown(curves) + "\n"
               + decode_markdown(decodes, args, decoders) + paired_markdown(paired, measures))
    against_baseline = {}
    if args.baseline:
        text, against_baseline = baseline_report(measures, args.baseline)
        summary += text
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(summary)
    (args.out / "results.json").write_text(json.dumps({
        "preset": args.preset, "seeds": args.seeds, "pretrain_updates": args.pretrain_updates,
        "finetune_updates": args.finetune_updates, "pretrain_override": args.pretrain_override,
        "birq_override": args.birq_override, "finetune_override": args.finetune_override,
        "job_seconds": job_seconds, "decodes": decodes, "label_quality": quality,
        "curves": curves, "paired": paired,
        "baseline": str(args.baseline) if args.baseline else None,
        "paired_baseline": against_baseline}, indent=1))
    for stage, logs in (("pretrain", sorted((args.out / "logs").glob("pretrain_*.log"))),
                        *((labelled, sorted((args.out / "logs" / labelled).glob("finetune_*.log")))
                          for labelled in args.labelled)):
        plot({log.stem: parse_log(log.read_text()) for log in logs}, args.out / "plots" / stage)
    print(summary)
    if "all" in job_seconds:
        print(f"Wall time: {job_seconds['all'] / 60:.1f} min for {len(job_seconds) - 1} jobs, "
              f"{args.jobs} at a time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
