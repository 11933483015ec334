"""A frame-level linear phone probe on frozen features: what a linear read-out of a layer
knows about the phone, measured on utterances it was not trained on (SUPERB-style; CPC
reports 64.6 % pretrained vs 27.6 % random init, arXiv 1807.03748)."""

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

TEST_FRACTION = 0.2
# Folds of the cross-validated probe: each utterance is held out once, so every aligned
# frame is scored (5x the single split's test frames) by a probe that never saw its speaker
# turn or sentence.
DEFAULT_FOLDS = 5
# A fixed optimisation budget for every layer and model (L-BFGS iterations): the probe
# compares features, and stopping at the same budget keeps the comparison fair.
MAX_ITERATIONS = 300


@dataclass(frozen=True)
class ProbeResult:
    accuracy: float  # on the held-out utterances' frames
    majority: float  # what always answering the most frequent training phone scores
    train_frames: int
    test_frames: int

    def as_dict(self) -> dict:
        return asdict(self)


def held_out_utterances(num_utterances: int, seed: int) -> np.ndarray:
    """A seeded TEST_FRACTION of utterance indices: frames of one utterance never appear on
    both sides, so the probe cannot pass by recognising the speaker or sentence."""
    rng = np.random.default_rng(seed)
    count = max(1, int(round(TEST_FRACTION * num_utterances)))
    return rng.permutation(num_utterances)[:count]


@dataclass(frozen=True)
class CrossValidatedProbeResult:
    accuracy: float  # over every frame, each predicted by the probe not trained on its utterance
    stderr: float  # standard error of the accuracy over the folds
    fold_accuracies: list[float]
    majority: float  # the same, answering each fold's most frequent training phone
    frames: int

    def as_dict(self) -> dict:
        return asdict(self)


def utterance_folds(num_utterances: int, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each utterance: a seeded permutation dealt out in turn, so
    fold sizes differ by at most one utterance."""
    if not 2 <= folds <= num_utterances:
        raise ValueError(f"{folds} folds need 2 <= folds <= {num_utterances} utterances")
    fold = np.empty(num_utterances, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(num_utterances)] = (
        np.arange(num_utterances) % folds)
    return fold


def _fit_and_predict(train_features: np.ndarray, train_phones: np.ndarray,
                     test_features: np.ndarray, seed: int) -> np.ndarray:
    scaler = StandardScaler().fit(train_features)
    classifier = LogisticRegression(max_iter=MAX_ITERATIONS, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(scaler.transform(train_features), train_phones)
    return classifier.predict(scaler.transform(test_features))


def linear_phone_probe(
    features: np.ndarray, phones: np.ndarray, utterance: np.ndarray, seed: int
) -> ProbeResult:
    """Multinomial logistic regression from standardised ``features`` (N, D) to ``phones``
    (N,), trained on some utterances and scored on the others (``utterance`` (N,) ids)."""
    test = np.isin(utterance, held_out_utterances(int(utterance.max()) + 1, seed))
    predicted = _fit_and_predict(features[~test], phones[~test], features[test], seed)
    majority = np.bincount(phones[~test]).argmax()
    return ProbeResult(
        accuracy=float((predicted == phones[test]).mean()),
        majority=float((phones[test] == majority).mean()),
        train_frames=int((~test).sum()),
        test_frames=int(test.sum()),
    )


def cross_validated_phone_probe(
    features: np.ndarray, phones: np.ndarray, utterance: np.ndarray, seed: int,
    folds: int = DEFAULT_FOLDS,
) -> CrossValidatedProbeResult:
    """The linear phone probe scored on every frame: ``folds`` probes, each trained on the
    utterances of the other folds and predicting its own.

    The single split tests a fifth of the utterances (about 900 frames on the study's
    test_real), whose sampling error alone is about 1.7 accuracy points; scoring all frames
    and averaging over training sets is how gaps of a point or two become readable."""
    fold_of_frame = utterance_folds(int(utterance.max()) + 1, folds, seed)[utterance]
    correct = np.zeros(len(phones), dtype=bool)
    majority_correct = np.zeros(len(phones), dtype=bool)
    fold_accuracies = []
    for fold in range(folds):
        test = fold_of_frame == fold
        if not test.any():  # an utterance with no aligned frame left its fold empty
            continue
        predicted = _fit_and_predict(features[~test], phones[~test], features[test], seed)
        correct[test] = predicted == phones[test]
        majority_correct[test] = phones[test] == np.bincount(phones[~test]).argmax()
        fold_accuracies.append(float(correct[test].mean()))
    return CrossValidatedProbeResult(
        accuracy=float(correct.mean()),
        stderr=float(np.std(fold_accuracies, ddof=1) / np.sqrt(len(fold_accuracies))),
        fold_accuracies=fold_accuracies,
        majority=float(majority_correct.mean()),
        frames=len(phones),
    )


def held_out_code_accuracy(codes: np.ndarray, phones: np.ndarray, utterance: np.ndarray,
                           seed: int) -> float:
    """Phone accuracy on held-out utterances of reading each code as its most frequent phone
    on the others (a code never seen there reads as the most frequent phone overall).

    Unlike PNMI or purity on the frames that defined the mapping, it does not rise with the
    number of codes used: a code seen on a handful of training frames rarely names the phone
    of new ones, so label sets of very different sizes compare on it."""
    test = np.isin(utterance, held_out_utterances(int(utterance.max()) + 1, seed))
    num_codes, num_phones = int(codes.max()) + 1, int(phones.max()) + 1
    table = np.bincount(codes[~test] * num_phones + phones[~test],
                        minlength=num_codes * num_phones).reshape(num_codes, num_phones)
    reading = np.where(table.sum(axis=1) > 0, table.argmax(axis=1),
                       np.bincount(phones[~test], minlength=num_phones).argmax())
    return float((reading[codes[test]] == phones[test]).mean())
