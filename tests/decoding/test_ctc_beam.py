"""Beam search with a word LM against greedy decoding, on CTC outputs built by hand so
that the acoustics alone misspell a word the LM knows."""

import sys

import pytest
import torch
from fairseq.data import Dictionary

from birq_fairseq.data.text_normalization import letter_symbols
from birq_fairseq.decoding import CtcBeamDecoder, CtcGreedyDecoder
from birq_fairseq.decoding.ctc_beam import word_list_unigrams
from birq_fairseq.lm.build_arpa import arpa_text, estimate
from birq_fairseq.tasks.birq_ctc_eval import BirqCtcEvalConfig, check_decoder_config

LETTERS = list("|ABCDEFGHIJKLMNOPQRSTUVWXYZ'")
LM_SENTENCES = ["THE CAT SAT", "A CAT SAT ON THE MAT", "THE CAT ATE", "THE BAT FLEW"] * 3


@pytest.fixture(scope="module")
def letters() -> Dictionary:
    dictionary = Dictionary()
    for letter in LETTERS:
        dictionary.add_symbol(letter)
    return dictionary


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    path.write_text(arpa_text(*estimate([s.split() for s in LM_SENTENCES], 3)))
    return str(path)


class FixedCtcModel(torch.nn.Module):
    """Stands in for wav2vec_ctc: returns given log-probabilities and padding."""

    def __init__(self, log_probs: torch.Tensor, padding: torch.Tensor):
        super().__init__()
        self.log_probs, self.padding = log_probs, padding

    def forward(self, **unused):
        return {"encoder_out": self.log_probs.transpose(0, 1), "padding_mask": self.padding}

    def get_normalized_probs(self, net_output, log_probs):
        return net_output["encoder_out"].log_softmax(-1)


def frames_for(dictionary: Dictionary, spelling: list[dict[str, float]]) -> torch.Tensor:
    """One frame per entry ({symbol: probability}, rest to blank), a blank frame after each."""
    rows = []
    for choice in spelling:
        row = torch.full((len(dictionary),), 1e-4)
        for symbol, p in choice.items():
            row[dictionary.index(symbol)] = p
        row[dictionary.bos()] = max(1e-4, 1 - sum(choice.values()))
        blank = torch.full((len(dictionary),), 1e-4)
        blank[dictionary.bos()] = 1.0
        rows += [row / row.sum(), blank / blank.sum()]
    return torch.stack(rows).log()


def spell(text: str, confusions: dict[int, dict[str, float]]) -> list[dict[str, float]]:
    letters = ["|" if ch == " " else ch for ch in text] + ["|"]
    return [confusions.get(i, {ch: 0.95}) for i, ch in enumerate(letters)]


def batch(dictionary, utterances):
    """Pads the utterances' frames into one batch, as fairseq's collater would."""
    frames = [frames_for(dictionary, u) for u in utterances]
    longest = max(len(f) for f in frames)
    log_probs = torch.full((len(frames), longest, len(dictionary)), -30.0)
    padding = torch.ones(len(frames), longest, dtype=torch.bool)
    for i, f in enumerate(frames):
        log_probs[i, :len(f)], padding[i, :len(f)] = f, False
    return FixedCtcModel(log_probs, padding), {"net_input": {"source": None}}


def decoded(decoder, dictionary, model, sample) -> list[str]:
    return [
        dictionary.string(hyps[0]["tokens"]).replace(" ", "").replace("|", " ").strip()
        for hyps in decoder.generate([model], sample)
    ]


def word_errors(hypothesis: str, reference: str) -> int:
    import editdistance

    return editdistance.eval(hypothesis.split(), reference.split())


def test_the_lm_fixes_a_spelling_that_greedy_gets_wrong(letters, lm_path):
    # "THE CAT SAT" where the acoustics prefer K over C (0.5 vs 0.45) in CAT.
    utterance = spell("THE CAT SAT", {4: {"K": 0.5, "C": 0.45}})
    model, sample = batch(letters, [utterance])
    assert decoded(CtcGreedyDecoder(letters), letters, model, sample) == ["THE KAT SAT"]
    beam = CtcBeamDecoder(letters, beam=20, lm_path=lm_path, lm_weight=1.0, word_score=0.0)
    assert decoded(beam, letters, model, sample) == ["THE CAT SAT"]


def test_beam_with_lm_never_does_worse_than_greedy(letters, lm_path):
    references = ["THE CAT SAT", "THE BAT FLEW", "A CAT SAT ON THE MAT", "THE CAT ATE"]
    utterances = [
        spell(references[0], {4: {"K": 0.6, "C": 0.35}}),
        spell(references[1], {}),                                  # clean: both right
        spell(references[2], {6: {"Z": 0.5, "S": 0.45}, 17: {"N": 0.5, "M": 0.45}}),  # ZAT, NAT
        spell(references[3], {10: {"I": 0.5, "E": 0.45}}),  # ATI
    ]
    model, sample = batch(letters, utterances)
    greedy = decoded(CtcGreedyDecoder(letters), letters, model, sample)
    beam = decoded(
        CtcBeamDecoder(letters, beam=20, lm_path=lm_path, lm_weight=1.0), letters, model, sample
    )
    greedy_errors = [word_errors(h, r) for h, r in zip(greedy, references)]
    beam_errors = [word_errors(h, r) for h, r in zip(beam, references)]
    assert all(b <= g for b, g in zip(beam_errors, greedy_errors)), (greedy, beam)
    assert sum(beam_errors) == 0 < sum(greedy_errors)


def test_beam_without_lm_agrees_with_greedy_on_peaked_outputs(letters):
    model, sample = batch(letters, [spell("A DOG", {}), spell("THE CAT SAT", {})])
    greedy = CtcGreedyDecoder(letters).generate([model], sample)
    beam = CtcBeamDecoder(letters, beam=8).generate([model], sample)
    for g, b in zip(greedy, beam):
        assert torch.equal(g[0]["tokens"], b[0]["tokens"])
        assert b[0]["positional_scores"].sum().item() == pytest.approx(b[0]["score"], rel=1e-5)


def test_a_missing_library_names_the_extra_to_install(letters, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyctcdecode", None)
    with pytest.raises(ImportError, match=r"pip install 'birq-fairseq\[lm\]'"):
        CtcBeamDecoder(letters, beam=4)


def test_a_dictionary_without_word_separator_is_refused():
    dictionary = Dictionary()
    for letter in "ABC":
        dictionary.add_symbol(letter)
    with pytest.raises(ValueError, match="word separator"):
        CtcBeamDecoder(dictionary, beam=4)


def test_lm_options_need_beam_and_an_existing_file(tmp_path):
    with pytest.raises(ValueError, match="--ctc-decoder beam"):
        check_decoder_config(BirqCtcEvalConfig(lm_path=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="--lm-path .*missing.arpa"):
        check_decoder_config(BirqCtcEvalConfig(ctc_decoder="beam",
                                               lm_path=str(tmp_path / "missing.arpa")))


def test_an_explicit_unigram_list_replaces_the_one_read_from_the_arpa(letters, lm_path, tmp_path):
    """``--lm-unigrams`` (needed with a binary LM, which has no readable vocabulary): the
    first column of each line, and the decoder keeps to that vocabulary, not the ARPA's."""
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("THE 7\nKAT 1\n\nSAT 3\n")
    unigrams = word_list_unigrams(str(vocabulary))
    assert unigrams == ["THE", "KAT", "SAT"]
    utterance = spell("THE CAT SAT", {4: {"K": 0.5, "C": 0.45}})
    model, sample = batch(letters, [utterance])
    from_arpa = CtcBeamDecoder(letters, beam=20, lm_path=lm_path, lm_weight=1.0, word_score=0.0)
    assert decoded(from_arpa, letters, model, sample) == ["THE CAT SAT"]
    given = CtcBeamDecoder(letters, beam=20, lm_path=lm_path, lm_weight=1.0, word_score=0.0,
                           unigrams=unigrams)
    assert decoded(given, letters, model, sample) != ["THE CAT SAT"]


def test_letters_of_any_script_survive_greedy_and_beam_decoding(tmp_path):
    """Czech Ř, which the acoustics here confuse with R and the LM restores, and Hindi letters
    whose vowel signs and virama are combining marks, one dictionary symbol with their letter
    (as ``words_to_letters`` writes them): both decoders return those same symbols."""
    sentences = ["ŘEKA TEČE", "RÁNO ŘEKA TEČE", "नमस्ते दुनिया"]
    words = [word for text in sentences for word in text.split()]
    dictionary = Dictionary()
    for symbol in ["|", *dict.fromkeys(s for word in words for s in letter_symbols(word))]:
        dictionary.add_symbol(symbol)
    lm = tmp_path / "lm.arpa"
    lm.write_text(arpa_text(*estimate([s.split() for s in sentences * 3], 2)), encoding="utf-8")

    def spelled(text: str, confusions: dict[int, dict[str, float]]) -> list[dict[str, float]]:
        units = [s for word in text.split() for s in (*letter_symbols(word), "|")]
        return [confusions.get(i, {unit: 0.95}) for i, unit in enumerate(units)]

    model, sample = batch(dictionary, [spelled("ŘEKA TEČE", {0: {"R": 0.5, "Ř": 0.45}}),
                                       spelled("नमस्ते दुनिया", {})])
    greedy = decoded(CtcGreedyDecoder(dictionary), dictionary, model, sample)
    assert greedy == ["REKA TEČE", "नमस्ते दुनिया"]
    beam = CtcBeamDecoder(dictionary, beam=20, lm_path=str(lm), lm_weight=1.0)
    assert decoded(beam, dictionary, model, sample) == ["ŘEKA TEČE", "नमस्ते दुनिया"]
    unknown = dictionary.unk()
    assert all(unknown not in hyps[0]["tokens"] for hyps in beam.generate([model], sample))
