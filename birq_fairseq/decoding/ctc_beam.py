"""CTC prefix beam search with an optional word n-gram LM, through pyctcdecode + KenLM.

Lexicon-free: the beam runs over letters and the LM scores each word as it closes, so
words outside the LM's vocabulary can still be spelt. Both libraries are an optional
extra (``pip install birq-fairseq[lm]``); they are imported only when a beam decoder is
built, and a missing one is reported with the command that installs it.
"""

import importlib
import math

import torch
from fairseq.data import Dictionary

from ..data.text_normalization import letter_symbols
from .ctc_greedy import ctc_log_probs

WORD_SEPARATOR = "|"
INSTALL_HINT = "install the LM decoding extra: pip install 'birq-fairseq[lm]' (pyctcdecode, kenlm)"


def import_optional(module: str, purpose: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the Python module '{module}'; {INSTALL_HINT}"
        ) from error


def arpa_unigrams(path: str) -> list[str]:
    """The words of an ARPA LM's 1-gram section, without <s>, </s> and <unk>: pyctcdecode
    needs them to tell a word being spelt from an unknown one. Its own reader keeps those
    three (they then fail its alphabet check) and skips 1-grams written without a back-off
    weight, which SRILM and order-1 models do."""
    words, inside = [], False
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line.startswith("\\"):
                if inside:
                    break
                inside = line == "\\1-grams:"
            elif inside and line:
                word = line.split()[1]
                if word not in ("<s>", "</s>", "<unk>"):
                    words.append(word)
    return words


def word_list_unigrams(path: str) -> list[str]:
    """The first column of each non-empty line: a word list, or a word-count file."""
    with open(path, encoding="utf-8") as lines:
        return [word for line in lines for word in line.split()[:1]]


class CtcBeamDecoder:
    """Beam search over the CTC output of a letter dictionary whose word separator is "|".

    ``score`` is pyctcdecode's total: acoustic log-probability + ``lm_weight`` x LM
    log-probability (natural log) + ``word_score`` per word. Per-token scores do not exist
    in a beam search that merges paths, so ``positional_scores`` spreads the total evenly
    over the hypothesis' tokens (it keeps fairseq-generate's P- lines summing to the score).
    """

    def __init__(self, tgt_dict: Dictionary, beam: int, lm_path: str | None = None,
                 lm_weight: float = 0.5, word_score: float = 0.0,
                 unigrams: list[str] | None = None):
        pyctcdecode = import_optional("pyctcdecode", "--ctc-decoder beam")
        if lm_path is not None:
            import_optional("kenlm", "--lm-path")
        if WORD_SEPARATOR not in tgt_dict.indices:
            raise ValueError(
                f"--ctc-decoder beam decodes letter dictionaries with '{WORD_SEPARATOR}' as the "
                "word separator (dict.ltr.txt); this dictionary has none"
            )
        self.tgt_dict = tgt_dict
        self.beam = beam
        # Columns the decoder sees: the blank, then the real symbols (fairseq's other
        # specials <pad>, </s>, <unk> are never emitted by a CTC model and are dropped).
        self.columns = [tgt_dict.bos()] + list(range(tgt_dict.nspecial, len(tgt_dict)))
        labels = [""] + [
            " " if tgt_dict[i] == WORD_SEPARATOR else tgt_dict[i] for i in self.columns[1:]
        ]
        if unigrams is None and lm_path is not None and lm_path.endswith(".arpa"):
            unigrams = arpa_unigrams(lm_path)
        self.decoder = pyctcdecode.build_ctcdecoder(
            labels, kenlm_model_path=lm_path, unigrams=unigrams, alpha=lm_weight, beta=word_score
        )
        self.symbols_to_strip_from_output = {tgt_dict.bos(), tgt_dict.eos(), tgt_dict.pad()}

    def text_to_tokens(self, text: str) -> torch.Tensor:
        """"A CAT" -> the ids of A | C A T | (fairseq's letter targets end with "|"); a
        letter and its combining marks are one symbol, as in the ``.ltr`` labels."""
        letters = [
            symbol for word in text.split() for symbol in (*letter_symbols(word), WORD_SEPARATOR)
        ]
        return torch.tensor([self.tgt_dict.index(ch) for ch in letters], dtype=torch.long)

    @torch.no_grad()
    def generate(self, models, sample, **unused):
        log_probs, lengths = ctc_log_probs(models, sample)
        columns = torch.tensor(self.columns, device=log_probs.device)
        log_probs = log_probs.index_select(-1, columns).cpu().numpy()
        hypotheses = []
        for utterance, length in zip(log_probs, lengths.tolist()):
            text, _, _, _, score = self.decoder.decode_beams(
                utterance[:length], beam_width=self.beam
            )[0]
            tokens = self.text_to_tokens(text)
            spread = torch.full((len(tokens),), score / max(len(tokens), 1))
            hypotheses.append(
                [{"tokens": tokens, "score": score if math.isfinite(score) else -math.inf,
                  "alignment": None, "positional_scores": spread}]
            )
        return hypotheses
