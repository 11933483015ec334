"""Scores every kind of label and probe on the same aligned frames."""

from collections.abc import Sequence

import numpy as np

from .clustering import kmeans_labels
from .extraction import LOG_MEL, MFCC, AlignedFrames, layer_name
from .metrics import contingency_table, label_statistics, scores_from_table
from .probe import cross_validated_phone_probe, linear_phone_probe

LABEL_TITLES = {
    "anchor": "anchor (frozen RPQ on log-mel)",
    "enhanced": "enhanced, nearest code (layer k)",
    "gumbel": "enhanced, Gumbel pick (layer k)",
}


def chance_pnmi(frames: AlignedFrames, labels: np.ndarray, num_labels: int, seed: int) -> float:
    """PNMI of the same labels shuffled over the frames: what finite counts alone score.

    Mutual information estimated from counts is biased upwards by about
    (labels - 1)(phones - 1) / (2 N) nats, which on a few thousand frames is a large part of
    the phone entropy; read PNMI against this floor, not against 0."""
    shuffled = np.random.default_rng(seed).permutation(labels)
    table = contingency_table(frames.phones, shuffled, len(frames.inventory), num_labels)
    return scores_from_table(table).pnmi


def score_labels(frames: AlignedFrames, labels: np.ndarray, num_labels: int, seed: int) -> dict:
    table = contingency_table(frames.phones, labels, len(frames.inventory), num_labels)
    return {**scores_from_table(table).as_dict(),
            "pnmi_chance": chance_pnmi(frames, labels, num_labels, seed),
            **label_statistics(labels, num_labels).as_dict(), "codes": num_labels}


def label_quality_report(
    frames: AlignedFrames,
    codebook_sizes: dict[str, int],
    layers: Sequence[int],
    clusters: Sequence[int],
    kmeans_sample: int,
    probe: bool,
    seed: int,
    probe_folds: int = 0,
) -> dict:
    """``{"labels": {name: scores}, "probe": {features: result}, "probe_cv": {features:
    result}}``, names as printed; ``probe_cv`` (the probe cross-validated over
    ``probe_folds`` utterance folds) is empty below 2 folds."""
    labels = {}
    for kind, codes in frames.labels.items():
        labels[LABEL_TITLES[kind]] = score_labels(frames, codes, codebook_sizes[kind], seed)
    sources = [LOG_MEL, MFCC] + [layer_name(layer) for layer in layers]
    for source in sources:
        for k in clusters:
            codes = kmeans_labels(frames.features[source], k, kmeans_sample, seed)
            labels[f"k-means {source}, K={k}"] = score_labels(frames, codes, k, seed)
    probes, probes_cv = {}, {}
    if probe:
        for source in [LOG_MEL] + [layer_name(layer) for layer in layers]:
            features = frames.features[source]
            probes[source] = linear_phone_probe(features, frames.phones, frames.utterance,
                                                seed).as_dict()
            if probe_folds >= 2:
                probes_cv[source] = cross_validated_phone_probe(
                    features, frames.phones, frames.utterance, seed, probe_folds).as_dict()
    return {"labels": labels, "probe": probes, "probe_cv": probes_cv}


def format_report(report: dict) -> str:
    rows = [f"{'labels':<40}{'codes':>6}{'used':>6}{'top':>7}{'H nats':>8}"
            f"{'PNMI':>8}{'chance':>8}{'phone pur.':>11}{'cluster pur.':>13}"]
    for name, s in report["labels"].items():
        rows.append(f"{name:<40}{s['codes']:>6}{s['codes_used']:>6}{s['top_share']:>7.3f}"
                    f"{s['entropy']:>8.2f}{s['pnmi']:>8.3f}{s['pnmi_chance']:>8.3f}"
                    f"{s['phone_purity']:>11.3f}"
                    f"{s['cluster_purity']:>13.3f}")
    if report["probe"]:
        rows.append("")
        rows.append(f"{'linear phone probe (held-out utterances)':<40}{'accuracy':>10}"
                    f"{'majority':>10}{'train fr.':>11}{'test fr.':>10}")
        for name, p in report["probe"].items():
            rows.append(f"{name:<40}{p['accuracy']:>10.3f}{p['majority']:>10.3f}"
                        f"{p['train_frames']:>11}{p['test_frames']:>10}")
    if report.get("probe_cv"):
        folds = len(next(iter(report["probe_cv"].values()))["fold_accuracies"])
        rows.append("")
        rows.append(f"{f'the probe over {folds} utterance folds':<40}{'accuracy':>10}"
                    f"{'std err':>10}{'majority':>10}{'frames':>8}")
        for name, p in report["probe_cv"].items():
            rows.append(f"{name:<40}{p['accuracy']:>10.3f}{p['stderr']:>10.3f}"
                        f"{p['majority']:>10.3f}{p['frames']:>8}")
    return "\n".join(rows)
