"""The paired-seed comparison against independent references: a pure-Python enumeration of
the sign patterns, the binomial sign test where every difference has the same size, and
``statistics`` for the mean and spread."""

import math
import random
import statistics

import numpy as np
import pytest

from birq_fairseq.paired_seeds import compare, sign_flip_p_value


def enumerated_p_value(differences: list[float]) -> float:
    """The same test by counting bit patterns one at a time."""
    n = len(differences)
    observed = abs(sum(differences))
    extreme = 0
    for pattern in range(2 ** n):
        total = sum(d if pattern >> i & 1 else -d for i, d in enumerate(differences))
        extreme += abs(total) >= observed - 1e-9
    return extreme / 2 ** n


@pytest.mark.parametrize("n", [2, 3, 5, 8, 12])
def test_sign_flip_p_value_matches_an_enumeration(n):
    generator = random.Random(n)
    for _ in range(5):
        differences = [generator.gauss(0.3, 1.0) for _ in range(n)]
        assert sign_flip_p_value(np.array(differences)) == pytest.approx(
            enumerated_p_value(differences))


def test_equal_sized_differences_give_the_binomial_sign_test():
    """Three seeds of four ahead by the same amount: the two-sided sign test's p."""
    n, ahead = 4, 3
    tail = sum(math.comb(n, k) for k in range(ahead, n + 1)) / 2 ** n
    assert sign_flip_p_value(np.array([1.0, 1.0, 1.0, -1.0])) == pytest.approx(2 * tail)


def test_every_seed_ahead_gives_the_smallest_p():
    for n in (4, 5, 6):
        assert sign_flip_p_value(np.linspace(0.1, 0.5, n)) == pytest.approx(2 / 2 ** n)


def test_too_many_seeds_for_the_exact_test_is_refused():
    with pytest.raises(ValueError, match="at most 16"):
        sign_flip_p_value(np.ones(17))
    with pytest.raises(ValueError, match="no paired seeds"):
        sign_flip_p_value(np.array([]))


def test_compare_counts_seeds_by_which_way_is_better():
    ler_a, ler_b = [50.0, 52.0, 51.0, 49.0], [51.0, 51.0, 51.0, 50.5]
    result = compare(ler_a, ler_b, lower_is_better=True)
    differences = [a - b for a, b in zip(ler_a, ler_b)]
    assert result.seeds == 4
    assert (result.a_ahead, result.b_ahead, result.ties) == (2, 1, 1)
    assert result.mean_difference == pytest.approx(statistics.mean(differences))
    assert result.std_difference == pytest.approx(statistics.stdev(differences))
    assert result.p_value == pytest.approx(enumerated_p_value(differences))
    probe = compare([0.45, 0.46], [0.44, 0.44], lower_is_better=False)
    assert (probe.a_ahead, probe.b_ahead) == (2, 0)


def test_compare_leaves_out_seeds_either_system_misses():
    result = compare([1.0, None, 3.0, 2.0], [0.5, 1.0, None, 1.0])
    assert result.seeds == 2
    assert result.mean_difference == pytest.approx(0.75)
    assert compare([1.0, None], [0.5, 1.0]) is None
    with pytest.raises(ValueError):
        compare([1.0, 2.0], [1.0])
