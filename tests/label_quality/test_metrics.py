"""HuBERT's label-quality measures against a hand-computed table and scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from birq_fairseq.label_quality.metrics import (
    contingency_table,
    contingency_table_torch,
    label_statistics,
    scores_from_table,
)
from birq_fairseq.modules.enhanced_targets import effective_rank

# 2 phones x 3 labels: phone 0 mostly label 0, phone 1 split over labels 1 and 2.
HAND_PHONES = np.array([0, 0, 0, 1, 1, 1, 1, 0])
HAND_LABELS = np.array([0, 0, 1, 1, 2, 2, 2, 0])


def test_contingency_table_counts_each_phone_label_pair():
    table = contingency_table(HAND_PHONES, HAND_LABELS, 2, 3)
    assert table.tolist() == [[3, 1, 0], [0, 1, 3]]
    torch_table = contingency_table_torch(torch.from_numpy(HAND_PHONES),
                                          torch.from_numpy(HAND_LABELS), 2, 3)
    assert torch_table.tolist() == table.tolist()


def test_purities_and_pnmi_of_the_hand_table():
    scores = scores_from_table(contingency_table(HAND_PHONES, HAND_LABELS, 2, 3))
    # phone purity: sum over labels of the largest joint probability: (3 + 1 + 3) / 8
    assert scores.phone_purity == pytest.approx(7 / 8)
    # cluster purity: sum over phones of the largest joint probability: (3 + 3) / 8
    assert scores.cluster_purity == pytest.approx(6 / 8)
    p = np.array([[3, 1, 0], [0, 1, 3]]) / 8
    py, pz = p.sum(1), p.sum(0)
    mutual = sum(p[i, j] * np.log(p[i, j] / (py[i] * pz[j]))
                 for i in range(2) for j in range(3) if p[i, j] > 0)
    assert scores.pnmi == pytest.approx(mutual / -(py * np.log(py)).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pnmi_equals_scikit_learn_mutual_information_over_phone_entropy(seed):
    rng = np.random.default_rng(seed)
    phones = rng.integers(0, 7, 5000)
    labels = (phones * 3 + rng.integers(0, 4, 5000)) % 11  # partly informative
    scores = scores_from_table(contingency_table(phones, labels, 7, 11))
    counts = np.bincount(phones) / len(phones)
    entropy = -(counts * np.log(counts)).sum()
    assert scores.pnmi == pytest.approx(mutual_info_score(phones, labels) / entropy, rel=1e-9)


def test_labels_that_are_the_phones_score_one_and_constant_labels_zero():
    phones = np.repeat(np.arange(5), 20)
    same = scores_from_table(contingency_table(phones, phones, 5, 5))
    assert (same.pnmi, same.phone_purity, same.cluster_purity) == pytest.approx((1, 1, 1))
    constant = scores_from_table(contingency_table(phones, np.zeros_like(phones), 5, 1))
    assert constant.pnmi == pytest.approx(0)
    assert constant.phone_purity == pytest.approx(0.2)


def test_empty_table_gives_nan_not_an_error():
    assert np.isnan(scores_from_table(np.zeros((3, 4))).pnmi)


def test_label_statistics_entropy_codes_used_and_top_share():
    stats = label_statistics(np.array([2, 2, 2, 5]), 8)
    assert stats.codes_used == 2
    assert stats.top_share == pytest.approx(0.75)
    assert stats.entropy == pytest.approx(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))


def test_effective_rank_matches_numpy_singular_values():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)) * np.linspace(0.1, 3, 16)
    singular = np.linalg.svd(vectors, compute_uv=False)
    weights = singular / singular.sum()
    expected = np.exp(-(weights * np.log(weights)).sum())
    assert effective_rank(torch.from_numpy(vectors)).item() == pytest.approx(expected, rel=1e-5)


def test_effective_rank_is_one_for_vectors_along_one_direction():
    direction = torch.randn(16)
    vectors = torch.randn(200, 1) * direction
    assert effective_rank(vectors).item() == pytest.approx(1.0, abs=1e-3)
