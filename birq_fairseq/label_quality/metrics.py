"""HuBERT's label-quality measures (arXiv 2106.07447, section IV-E) and label statistics.

With frame-level phones ``y`` and labels ``z`` over the same frames and their joint
distribution ``p(y, z)``:

* phone purity ``sum_z max_y p(y, z)``: how well one label predicts the phone;
* cluster purity ``sum_y max_z p(y, z)``: how well one phone predicts the label;
* PNMI ``I(y; z) / H(y)``: the share of the phone's uncertainty a label removes.

Labels that carry the phone give a high PNMI; labels that merely split frames finely raise
phone purity without it, which is why the three are read together.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LabelScores:
    pnmi: float
    phone_purity: float
    cluster_purity: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class LabelStatistics:
    entropy: float  # nats, of the label distribution over the frames
    codes_used: int
    top_share: float  # share of frames that carry the most frequent label

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def contingency_table(
    phones: np.ndarray, labels: np.ndarray, num_phones: int, num_labels: int
) -> np.ndarray:
    """Counts (num_phones, num_labels) of frames with each (phone, label) pair."""
    pairs = np.asarray(phones, np.int64) * num_labels + np.asarray(labels, np.int64)
    counts = np.bincount(pairs, minlength=num_phones * num_labels)
    return counts.reshape(num_phones, num_labels)


def contingency_table_torch(
    phones: torch.Tensor, labels: torch.Tensor, num_phones: int, num_labels: int
) -> torch.Tensor:
    """:func:`contingency_table` on the labels' device, for validation steps (no copy)."""
    pairs = phones.long() * num_labels + labels.long()
    counts = torch.bincount(pairs.reshape(-1), minlength=num_phones * num_labels)
    return counts.view(num_phones, num_labels)


def _entropy(probs: np.ndarray) -> float:
    nonzero = probs[probs > 0]
    return float(-(nonzero * np.log(nonzero)).sum())


def scores_from_table(table: np.ndarray) -> LabelScores:
    """Purities and PNMI of a (phones, labels) count table; NaN for an empty table."""
    table = np.asarray(table, dtype=np.float64)
    total = table.sum()
    if total <= 0:
        return LabelScores(float("nan"), float("nan"), float("nan"))
    joint = table / total
    p_phone, p_label = joint.sum(axis=1), joint.sum(axis=0)
    h_phone = _entropy(p_phone)
    mutual = _entropy(p_phone) + _entropy(p_label) - _entropy(joint.ravel())
    return LabelScores(
        pnmi=mutual / h_phone if h_phone > 0 else float("nan"),
        phone_purity=float(joint.max(axis=0).sum()),
        cluster_purity=float(joint.max(axis=1).sum()),
    )


def label_statistics(labels: np.ndarray, num_labels: int) -> LabelStatistics:
    counts = np.bincount(np.asarray(labels, np.int64), minlength=num_labels)
    probs = counts / max(counts.sum(), 1)
    return LabelStatistics(
        entropy=_entropy(probs),
        codes_used=int((counts > 0).sum()),
        top_share=float(probs.max()) if counts.sum() else float("nan"),
    )
