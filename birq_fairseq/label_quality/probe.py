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


def linear_phone_probe(
    features: np.ndarray, phones: np.ndarray, utterance: np.ndarray, seed: int
) -> ProbeResult:
    """Multinomial logistic regression from standardised ``features`` (N, D) to ``phones``
    (N,), trained on some utterances and scored on the others (``utterance`` (N,) ids)."""
    test = np.isin(utterance, held_out_utterances(int(utterance.max()) + 1, seed))
    scaler = StandardScaler().fit(features[~test])
    classifier = LogisticRegression(max_iter=MAX_ITERATIONS, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(scaler.transform(features[~test]), phones[~test])
    predicted = classifier.predict(scaler.transform(features[test]))
    majority = np.bincount(phones[~test]).argmax()
    return ProbeResult(
        accuracy=float((predicted == phones[test]).mean()),
        majority=float((phones[test] == majority).mean()),
        train_frames=int((~test).sum()),
        test_frames=int(test.sum()),
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
