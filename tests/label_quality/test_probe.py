"""The linear phone probes against independent references: a refit written out with
sklearn for the same folds, and data whose answer is known."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from birq_fairseq.label_quality.probe import (
    MAX_ITERATIONS,
    cross_validated_phone_probe,
    held_out_utterances,
    linear_phone_probe,
    utterance_folds,
)


def phone_frames(num_utterances=30, frames_per_utterance=40, num_phones=6, noise=1.0, seed=0):
    """Frames whose features are a phone's centre plus Gaussian noise, in utterances."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_phones, 8)) * 3
    phones = rng.integers(0, num_phones, num_utterances * frames_per_utterance)
    features = centres[phones] + noise * rng.normal(size=(len(phones), 8))
    utterance = np.repeat(np.arange(num_utterances), frames_per_utterance)
    return features, phones, utterance


def test_every_utterance_lands_in_one_fold_of_balanced_size():
    folds = utterance_folds(23, 5, seed=3)
    assert folds.shape == (23,) and set(folds) == set(range(5))
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 23
    assert np.array_equal(folds, utterance_folds(23, 5, seed=3))
    assert not np.array_equal(folds, utterance_folds(23, 5, seed=4))


@pytest.mark.parametrize("folds", [1, 0, 24])
def test_impossible_fold_counts_are_refused(folds):
    with pytest.raises(ValueError, match="folds"):
        utterance_folds(23, folds, seed=1)


def test_cross_validated_probe_matches_a_hand_written_refit():
    features, phones, utterance = phone_frames(noise=2.5)
    result = cross_validated_phone_probe(features, phones, utterance, seed=2, folds=4)
    fold_of_frame = utterance_folds(30, 4, seed=2)[utterance]
    correct, expected_folds = np.zeros(len(phones), dtype=bool), []
    for fold in range(4):
        test = fold_of_frame == fold
        scaler = StandardScaler().fit(features[~test])
        classifier = LogisticRegression(max_iter=MAX_ITERATIONS, random_state=2)
        classifier.fit(scaler.transform(features[~test]), phones[~test])
        correct[test] = classifier.predict(scaler.transform(features[test])) == phones[test]
        expected_folds.append(correct[test].mean())
    assert result.frames == len(phones)
    assert result.accuracy == pytest.approx(correct.mean())
    assert result.fold_accuracies == pytest.approx(expected_folds)
    assert result.stderr == pytest.approx(np.std(expected_folds, ddof=1) / 2)
    assert 0.3 < result.accuracy < 0.99  # noisy enough that the check is not trivial


def test_separable_phones_are_read_exactly_and_noise_scores_the_majority():
    features, phones, utterance = phone_frames(noise=0.01)
    exact = cross_validated_phone_probe(features, phones, utterance, seed=1)
    assert exact.accuracy == 1.0 and exact.stderr == 0.0
    noise = np.random.default_rng(5).normal(size=features.shape)
    guess = cross_validated_phone_probe(noise, phones, utterance, seed=1)
    assert guess.accuracy < guess.majority + 0.08
    assert guess.majority == pytest.approx(1 / 6, abs=0.06)


def test_single_split_probe_tests_only_the_held_out_utterances():
    features, phones, utterance = phone_frames(noise=2.5)
    result = linear_phone_probe(features, phones, utterance, seed=7)
    held_out = held_out_utterances(30, seed=7)
    assert result.test_frames == 40 * len(held_out) == 40 * 6
    assert result.train_frames == len(phones) - result.test_frames
    test = np.isin(utterance, held_out)
    scaler = StandardScaler().fit(features[~test])
    classifier = LogisticRegression(max_iter=MAX_ITERATIONS, random_state=7)
    classifier.fit(scaler.transform(features[~test]), phones[~test])
    expected = (classifier.predict(scaler.transform(features[test])) == phones[test]).mean()
    assert result.accuracy == pytest.approx(expected)
