"""``python -m birq_fairseq.label_quality.quantizer_variants MODEL DATA SPLIT``: how phonetic
the anchor and enhanced labels *would* be if the random-projection quantizer saw its input
differently, measured on one model's fixed features without training anything.

Training runs are the expensive way to compare label definitions; most of what a definition
changes is visible on a fixed encoder. For the anchor labels (stacked normalised log-mel):
the published lookup, the per-frame mean over mel channels removed (loud broadband frames and
silence otherwise map to a few codes whatever the phone), and other codebook sizes. For the
enhanced labels (layer k's output): the published chain (LayerNorm, projection, per-utterance
standardisation of the projections), per-utterance per-channel standardisation of the layer
output before it (instance norm), and whitening of the layer output (ZCA, statistics of the
whole split; in training they would be a batch's), each with the model's own frozen
projection and codebook (a seeded new one for an encoder without an enhanced branch), and
(``--code-dims``, ``--draws``) the published chain with new quantizers of other code widths,
several random draws of each, and (``--input-beside W ...``) the published chain on layer k with
the stacked log-mel input beside it (both blocks scaled to unit mean square, layer k then
weighted by W), which keeps the anchors' spectral detail and adds layer k's context. Every
row is scored as ``label_quality`` scores labels (PNMI with its shuffled floor, purities, codes
used) and by the held-out accuracy of reading each code as its majority phone, which, unlike
PNMI on a few thousand frames, does not favour label sets that use more codes. Per-utterance
statistics here run over the frames that have a phone, so the published rows agree with the
model's own labels on nearly, not exactly, every frame (the agreement is printed).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ..alignment.phone_alignments import ALIGNMENT_SUFFIX, read_alignments
from ..modules.logmel import NORM_EPSILON
from ..modules.random_projection_quantizer import RandomProjectionQuantizer
from ..tools import tool_parser
from .extraction import LOG_MEL, extract_aligned_frames, layer_name
from .loading import load_model
from .probe import held_out_code_accuracy
from .report import score_labels

LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, as the enhanced quantizer uses
WHITEN_EPS = 1e-3  # relative to the largest eigenvalue: directions below it are not blown up
ANCHOR_SIZES = (256, 8192)


def per_group_standardise(x: np.ndarray, groups: np.ndarray, eps: float = NORM_EPSILON
                          ) -> np.ndarray:
    """Zero mean, unit variance per group (utterance) and column, vectorised over groups."""
    _, index, counts = np.unique(groups, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), x.shape[1]))
    np.add.at(sums, index, x)
    mean = sums / counts[:, None]
    centred = x - mean[index]
    squares = np.zeros_like(sums)
    np.add.at(squares, index, centred ** 2)
    std = np.sqrt(squares / counts[:, None] + eps)
    return centred / std[index]


def zca_whiten(x: np.ndarray, eps: float = WHITEN_EPS) -> np.ndarray:
    """Rows of ``x`` with identity covariance (ZCA: rotated back to the original axes)."""
    centred = x - x.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    values = np.maximum(values, eps * values.max())
    return centred @ (vectors / np.sqrt(values)) @ vectors.T


def layer_norm(x: np.ndarray, eps: float = LAYER_NORM_EPS) -> np.ndarray:
    return (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + eps)


def nearest_codes(quantizer: RandomProjectionQuantizer, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return quantizer(torch.from_numpy(x).float())[:, 0].numpy()


def nearest_after_projection(quantizer: RandomProjectionQuantizer, x: np.ndarray,
                             groups: np.ndarray | None) -> np.ndarray:
    """Projects, optionally standardises the projections per group, then looks up codes."""
    with torch.no_grad():
        projected = quantizer.project(torch.from_numpy(x).float())[:, 0].numpy()
        if groups is not None:
            projected = per_group_standardise(projected.astype(np.float64), groups)
        similarities = quantizer.code_similarities(torch.from_numpy(projected)[:, None, :])
        return similarities[:, 0].argmax(dim=-1).numpy()


def anchor_variants(stacked: np.ndarray, quantizer: RandomProjectionQuantizer, n_mels: int,
                    seed: int) -> dict[str, tuple[np.ndarray, int]]:
    """{name: (codes, codebook size)} for the stacked log-mel frames (N, stack * n_mels)."""
    frames = stacked.reshape(len(stacked), -1, n_mels)
    no_mean = (frames - frames.mean(axis=2, keepdims=True)).reshape(stacked.shape)
    variants = {
        "anchor, published": (nearest_codes(quantizer, stacked), quantizer.num_codes),
        "anchor, per-frame mel mean removed": (nearest_codes(quantizer, no_mean),
                                               quantizer.num_codes),
    }
    for size in ANCHOR_SIZES:
        if size != quantizer.num_codes:
            other = RandomProjectionQuantizer(stacked.shape[1], quantizer.codebook.size(-1),
                                              size, 1, seed)
            variants[f"anchor, {size} codes"] = (nearest_codes(other, stacked), size)
    return variants


def enhanced_variants(hidden: np.ndarray, utterance: np.ndarray,
                      quantizer: RandomProjectionQuantizer, normalize_projection: bool
                      ) -> dict[str, np.ndarray]:
    """{name: codes} for layer k's output ``hidden`` (N, D) of the utterances ``utterance``."""
    groups = utterance if normalize_projection else None
    hidden = hidden.astype(np.float64)
    return {
        "enhanced, published": nearest_after_projection(quantizer, layer_norm(hidden), groups),
        "enhanced, instance norm first": nearest_after_projection(
            quantizer, per_group_standardise(hidden, utterance), groups),
        "enhanced, whitened first": nearest_after_projection(quantizer, zca_whiten(hidden),
                                                             groups),
    }


def code_dim_variants(hidden: np.ndarray, utterance: np.ndarray, num_codes: int,
                      dims: list[int], draws: int, seed: int, normalize_projection: bool
                      ) -> dict[str, np.ndarray]:
    """{name: codes} for the published chain with new quantizers of ``dims``-dimensional codes,
    ``draws`` of each (quantizer seeds ``seed``, ``seed + 1``, ...): whether a wider projection
    keeps more of layer k, and how much one draw of the random quantizer moves the scores."""
    groups = utterance if normalize_projection else None
    normalised = layer_norm(hidden.astype(np.float64))
    return {f"enhanced, {dim}-dim codes, draw {draw + 1}": nearest_after_projection(
                RandomProjectionQuantizer(hidden.shape[1], dim, num_codes, 1, seed + draw),
                normalised, groups)
            for dim in dims for draw in range(draws)}


def unit_mean_square(x: np.ndarray) -> np.ndarray:
    """``x`` scaled so that its rows' mean squared norm is 1: blocks of different widths and
    scales then weigh the same in a random projection of their concatenation."""
    return x / np.sqrt(np.mean(np.sum(x ** 2, axis=1)))


def input_beside_variants(hidden: np.ndarray, stacked: np.ndarray, utterance: np.ndarray,
                          num_codes: int, code_dim: int, weights: list[float], draws: int,
                          seed: int, normalize_projection: bool) -> dict[str, np.ndarray]:
    """{name: codes} for new quantizers on [stacked input, weight x LayerNorm(layer k)]: whether
    labels that see both the spectrum and layer k's context carry more phone information than
    either alone. Quantizer seeds ``seed``, ``seed + 1``, ... per draw, shared by the weights."""
    groups = utterance if normalize_projection else None
    spectrum = unit_mean_square(stacked.astype(np.float64))
    context = unit_mean_square(layer_norm(hidden.astype(np.float64)))
    width = spectrum.shape[1] + context.shape[1]
    return {f"enhanced, input beside (weight {weight:g}), draw {draw + 1}":
            nearest_after_projection(
                RandomProjectionQuantizer(width, code_dim, num_codes, 1, seed + draw),
                np.concatenate([spectrum, weight * context], axis=1), groups)
            for weight in weights for draw in range(draws)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser("birq_fairseq.label_quality.quantizer_variants", __doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="birq checkpoint (.pt) or pretraining yaml (random init)")
    parser.add_argument("data", help="folder holding the manifest SPLIT.tsv and SPLIT.phn")
    parser.add_argument("split", help="manifest name without .tsv")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the shuffled floors and of new codebooks")
    parser.add_argument("--max-tokens", type=int, default=1_600_000,
                        help="padded audio samples per batch")
    parser.add_argument("--enhanced-codes", type=int,
                        help="codebook size of the seeded enhanced quantizer built for an "
                        "encoder without one (default: the model's enhanced_codebook_size); "
                        "match the BiRQ model's to compare the two")
    parser.add_argument("--code-dims", type=int, nargs="*", default=[],
                        help="also score the published enhanced chain with new quantizers of "
                        "codes this wide (the model's: enhanced_codebook_dim, 16), same "
                        "codebook size")
    parser.add_argument("--draws", type=int, default=1,
                        help="new quantizers drawn per --code-dims value (seeds "
                        "quantizer_seed + 2, + 3, ...): the spread of one random draw")
    parser.add_argument("--input-beside", type=float, nargs="*", default=[],
                        help="also score new quantizers on the stacked log-mel input and "
                        "layer k side by side, layer k weighted by each of these (1: both "
                        "blocks weigh the same); --draws quantizers each")
    parser.add_argument("--json", type=Path, help="write the scores here as JSON")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    phones = Path(args.data) / f"{args.split}{ALIGNMENT_SUFFIX}"
    if not phones.is_file():
        sys.exit(f"error: no phone alignments {phones}; make them with "
                 "python -m birq_fairseq.alignment.align_manifest")
    loaded = load_model(args.model, args.seed)
    model, k = loaded.model, loaded.model.enhanced_layer
    frames = extract_aligned_frames(loaded, args.data, args.split, read_alignments(str(phones)),
                                    [k], args.max_tokens, args.seed, torch.device("cpu"))
    cfg = model.cfg
    quantizer = (model.enhanced_quantizer.quantizer if model.builds_enhanced_targets else
                 RandomProjectionQuantizer(cfg.encoder_embed_dim, cfg.enhanced_codebook_dim,
                                           args.enhanced_codes or cfg.enhanced_codebook_size,
                                           1, cfg.quantizer_seed + 1))
    rows = anchor_variants(frames.features[LOG_MEL], model.anchor_quantizer, cfg.n_mels,
                           args.seed)
    for name, codes in enhanced_variants(frames.features[layer_name(k)], frames.utterance,
                                         quantizer, cfg.enhanced_projection_norm).items():
        rows[name] = (codes, quantizer.num_codes)
    for name, codes in code_dim_variants(frames.features[layer_name(k)], frames.utterance,
                                         quantizer.num_codes, args.code_dims, args.draws,
                                         cfg.quantizer_seed + 2,
                                         cfg.enhanced_projection_norm).items():
        rows[name] = (codes, quantizer.num_codes)
    for name, codes in input_beside_variants(frames.features[layer_name(k)],
                                             frames.features[LOG_MEL], frames.utterance,
                                             quantizer.num_codes, cfg.enhanced_codebook_dim,
                                             args.input_beside, args.draws,
                                             cfg.quantizer_seed + 2,
                                             cfg.enhanced_projection_norm).items():
        rows[name] = (codes, quantizer.num_codes)
    agreement = {"anchor": float(np.mean(rows["anchor, published"][0] ==
                                         frames.labels["anchor"]))}
    if "enhanced" in frames.labels:
        agreement["enhanced"] = float(np.mean(rows["enhanced, published"][0] ==
                                              frames.labels["enhanced"]))
    scores = {name: {**score_labels(frames, codes, size, args.seed),
                     "held_out_accuracy": held_out_code_accuracy(codes, frames.phones,
                                                                 frames.utterance, args.seed)}
              for name, (codes, size) in rows.items()}
    print(f"{args.model} ({loaded.kind}, k = {k}) on {args.split}: {len(frames.phones)} frames, "
          f"{len(frames.inventory)} phones; published rows agree with the model's labels on "
          + ", ".join(f"{kind} {share:.3f}" for kind, share in agreement.items()))
    print(f"{'labels':<44}{'codes':>6}{'used':>6}{'top':>7}{'PNMI':>8}{'chance':>8}"
          f"{'excess':>8}{'held-out acc.':>14}")
    for name, s in scores.items():
        print(f"{name:<44}{s['codes']:>6}{s['codes_used']:>6}{s['top_share']:>7.3f}"
              f"{s['pnmi']:>8.3f}{s['pnmi_chance']:>8.3f}{s['pnmi'] - s['pnmi_chance']:>8.3f}"
              f"{s['held_out_accuracy']:>14.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": args.model, "split": args.split,
                                         "enhanced_layer": k, "agreement": agreement,
                                         "labels": scores}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
