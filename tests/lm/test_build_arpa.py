"""The ARPA writer against a direct evaluation of interpolated absolute discounting from
raw counts, with KenLM (an independent ARPA reader) doing the back-off arithmetic."""

import math
from collections import Counter

import kenlm
import pytest

from birq_fairseq.lm.build_arpa import arpa_text, estimate, main, ney_discount

CORPUS = [
    "THE CAT SAT ON THE MAT".split(),
    "THE CAT ATE THE FISH".split(),
    "A DOG SAT ON A LOG".split(),
    "THE DOG ATE".split(),
    "PRESS ONE TO HEAR THE CAT".split(),
]


def reference_probability(word: str, history: tuple, corpus, order: int) -> float:
    """p(word | history) by the interpolation recursion itself, straight from counts."""
    grams = [Counter() for _ in range(order + 1)]
    for sentence in corpus:
        tokens = ["<s>", *sentence, "</s>"]
        for k in range(1, order + 1):
            for i in range(len(tokens) - k + 1):
                if tokens[i + k - 1] != "<s>":
                    grams[k][tuple(tokens[i:i + k])] += 1
    vocab_words = {w for (w,) in grams[1]}
    if word not in vocab_words:
        word = "<unk>"

    def prob(k: int, hist: tuple) -> float:
        discount = ney_discount(grams[k])
        if k == 1:
            total = sum(grams[1].values())
            floor = discount * len(grams[1]) / total / (len(grams[1]) + 1)
            return max(grams[1][(word,)] - discount, 0) / total + floor
        continuations = {g: c for g, c in grams[k].items() if g[:-1] == hist}
        if not continuations:
            return prob(k - 1, hist[1:])
        seen = sum(continuations.values())
        weight = discount * len(continuations) / seen
        count = continuations.get((*hist, word), 0)
        return max(count - discount, 0) / seen + weight * prob(k - 1, hist[1:])

    history = tuple(history)[-(order - 1):] if order > 1 else ()
    return prob(len(history) + 1, history)


@pytest.fixture(scope="module")
def trigram(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    path.write_text(arpa_text(*estimate(CORPUS, 3)))
    return kenlm.Model(str(path))


@pytest.mark.parametrize("sentence", [
    "THE CAT SAT ON THE MAT",        # seen
    "THE DOG SAT ON THE FISH",       # seen words, unseen trigrams
    "A CAT HEARD THE ZEBRA",         # out-of-vocabulary words
    "PRESS",
])
def test_kenlm_scores_equal_the_interpolation_formula(trigram, sentence):
    words = sentence.split()
    tokens = ["<s>", *words, "</s>"]
    expected = sum(
        math.log10(reference_probability(tokens[i], tuple(tokens[max(0, i - 2):i]), CORPUS, 3))
        for i in range(1, len(tokens))
    )
    assert trigram.score(sentence, bos=True, eos=True) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("history", [[], ["THE"], ["THE", "CAT"], ["ON", "A"], ["ZEBRA"]])
def test_every_history_gives_a_distribution(trigram, history):
    vocabulary = sorted({w for s in CORPUS for w in s}) + ["</s>", "<unk>"]
    state, scratch = kenlm.State(), kenlm.State()
    trigram.BeginSentenceWrite(state)
    for word in history:
        after = kenlm.State()
        trigram.BaseScore(state, word, after)
        state = after
    total = sum(10 ** trigram.BaseScore(state, word, scratch) for word in vocabulary)
    assert total == pytest.approx(1.0, abs=1e-4)


def test_cli_writes_an_arpa_file_and_names_a_missing_input(tmp_path, capsys):
    text = tmp_path / "train.wrd"
    text.write_text("\n".join(" ".join(s) for s in CORPUS) + "\n")
    out = tmp_path / "out" / "lm.arpa"
    assert main(["--order", "2", "--out", str(out), str(text)]) == 0
    model = kenlm.Model(str(out))
    assert model.order == 2
    with pytest.raises(SystemExit):
        main(["--out", str(out), str(tmp_path / "missing.wrd")])
    assert "missing.wrd: no such file" in capsys.readouterr().err
