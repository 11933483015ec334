"""``python -m birq_fairseq.label_quality MODEL DATA SPLIT [--phones FILE]``: how much the
labels and layers of a model know about phones.

MODEL is a birq pretraining checkpoint, a wav2vec_ctc fine-tuning of one, or a pretraining
yaml (``config/pretraining/birq_demo.yaml``) for a randomly initialised twin, the reference
every pretrained number should be read against. On the frames of SPLIT that the alignment
covers it prints phone purity, cluster purity and PNMI (HuBERT's measures) of the anchor
labels, the enhanced labels (nearest code and Gumbel pick) and k-means labels of the
log-mel / MFCC input and of each layer, with label entropy, codes used and the top-code
share, then a linear phone probe per layer on held-out utterances; ``--json`` writes it all.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from ..alignment.phone_alignments import ALIGNMENT_SUFFIX, read_alignments
from ..tools import tool_parser
from .extraction import extract_aligned_frames
from .loading import load_model
from .probe import DEFAULT_FOLDS
from .report import format_report, label_quality_report

DEFAULT_CLUSTERS = (100, 500)
DEFAULT_KMEANS_SAMPLE = 100_000
DEFAULT_MAX_TOKENS = 1_600_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser("birq_fairseq.label_quality", __doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("model", help="birq / wav2vec_ctc checkpoint (.pt), or a pretraining "
                        "yaml for a randomly initialised model")
    parser.add_argument("data", help="folder holding the manifest SPLIT.tsv")
    parser.add_argument("split", help="manifest name without .tsv")
    parser.add_argument("--phones", help="phone alignments, 'uid<TAB>ph1,ph2,...' at 10 ms "
                        f"(default: DATA/SPLIT{ALIGNMENT_SUFFIX})")
    parser.add_argument("--layers", type=int, nargs="*",
                        help="encoder layers (1-based) to cluster and probe (default: all)")
    parser.add_argument("--kmeans", type=int, nargs="*", default=list(DEFAULT_CLUSTERS),
                        help="k-means cluster counts (none: skip k-means)")
    parser.add_argument("--kmeans-sample", type=int, default=DEFAULT_KMEANS_SAMPLE,
                        help="frames to fit k-means on (a seeded random sample)")
    parser.add_argument("--no-probe", action="store_true", help="skip the linear phone probe")
    parser.add_argument("--probe-folds", type=int, default=DEFAULT_FOLDS,
                        help="also score the probe cross-validated over this many utterance "
                        "folds: every frame predicted by a probe that never saw its utterance "
                        "(5x the test frames of the single split); one utterance per fold "
                        "on splits with fewer utterances; 0: single split only")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of Gumbel draws, k-means and the probe's utterance split: "
                        "keep it fixed when comparing models (the probe split alone moves "
                        "accuracies by a few points)")
    parser.add_argument("--init-seed", type=int,
                        help="seed of a random init from a yaml (default: --seed)")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                        help="padded audio samples per batch")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device to run the model on")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.probe_folds == 1 or args.probe_folds < 0:
        sys.exit(f"error: --probe-folds {args.probe_folds}: use 2 or more, or 0 for the "
                 "single split only")
    phones_path = args.phones or str(Path(args.data) / f"{args.split}{ALIGNMENT_SUFFIX}")
    if not Path(phones_path).is_file():
        sys.exit(f"error: no phone alignments {phones_path}; make them with "
                 "python -m birq_fairseq.alignment.align_manifest or pass --phones")
    alignments = read_alignments(phones_path)
    loaded = load_model(args.model, args.seed if args.init_seed is None else args.init_seed)
    model = loaded.model
    num_layers = len(model.encoder.layers)
    layers = list(range(1, num_layers + 1)) if args.layers is None else args.layers
    bad = [layer for layer in layers if not 1 <= layer <= num_layers]
    if bad:
        sys.exit(f"error: --layers {bad}: this encoder has layers 1..{num_layers}")
    frames = extract_aligned_frames(loaded, args.data, args.split, alignments, layers,
                                    args.max_tokens, args.seed, torch.device(args.device))
    sizes = {"anchor": model.cfg.codebook_size, "enhanced": model.cfg.enhanced_codebook_size,
             "gumbel": model.cfg.enhanced_codebook_size}
    report = label_quality_report(frames, sizes, layers, args.kmeans, args.kmeans_sample,
                                  not args.no_probe, args.seed,
                                  min(args.probe_folds, frames.utterances))
    k = model.enhanced_layer if model.builds_enhanced_targets else None
    header = (f"{args.model} ({loaded.kind}, {num_layers} layers"
              f"{f', k = {k}' if k else ''}) on {args.split}: {len(frames.phones)} frames "
              f"of 40 ms from {frames.utterances} aligned utterances ({frames.unaligned} "
              f"without alignment skipped), {len(frames.inventory)} phones")
    print(header)
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"model": args.model, "kind": loaded.kind, "split": args.split,
                   "phones_file": phones_path, "frames": int(len(frames.phones)),
                   "utterances": frames.utterances, "unaligned": frames.unaligned,
                   "num_phones": len(frames.inventory), "enhanced_layer": k,
                   "seed": args.seed, "init_seed": args.init_seed, **report}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
