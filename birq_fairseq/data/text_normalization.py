"""Transcript normalisation to the letter vocabulary of CTC fine-tuning.

Fine-tuning targets are characters plus the word boundary ``|``, so every transcript is
reduced to upper-case words over one alphabet (``ALPHABETS``):

* ``ascii``: A-Z and the apostrophe, the letters of fairseq's LibriSpeech recipes.  Accents
  are folded ("CAFÉ" -> "CAFE") and letters of other scripts dropped: right for English,
  wrong for most other languages (Czech Ř and R would become one label, Russian nothing).
* ``keep``: the letters of every script as the text writes them: Unicode NFC, upper case,
  each combining mark kept with the letter it follows, so a language keeps its alphabet.

In both, punctuation becomes a word break, only word-internal apostrophes survive, and text
that is only a bracketed annotation such as ``[ascending tones]`` describes non-speech audio
and normalises to the empty string.

Reading a number aloud needs its language, so digits are spelled out only for a known
``lang``: ``en`` with the speller below (the LibriSpeech convention: "1205" -> "ONE THOUSAND
TWO HUNDRED FIVE", "21st", "3.5", "%" and "&" too), any other language of the ``num2words``
package for plain integers.  Otherwise numbers (and "%", "&") stay as written, and
``unspelled`` finds them so that the user can spell them in the transcripts.
"""

import functools
import re
import unicodedata
from collections.abc import Callable

ALPHABETS = ("ascii", "keep")
ENGLISH = "en"
# Languages written without spaces between words: a spelled number stays joined to its
# neighbours instead of becoming a word of its own.
UNSPACED_LANGUAGES = frozenset({"ja", "th"})

ONES = (
    "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN "
    "FOURTEEN FIFTEEN SIXTEEN SEVENTEEN EIGHTEEN NINETEEN"
).split()
TENS = "_ _ TWENTY THIRTY FORTY FIFTY SIXTY SEVENTY EIGHTY NINETY".split()
HUNDRED = "HUNDRED"
SCALES = ((1_000_000, "MILLION"), (1_000, "THOUSAND"))
MAX_SPELLED_INTEGER = 999_999_999  # larger integers are read digit by digit

IRREGULAR_ORDINALS = {
    "ONE": "FIRST",
    "TWO": "SECOND",
    "THREE": "THIRD",
    "FIVE": "FIFTH",
    "EIGHT": "EIGHTH",
    "NINE": "NINTH",
    "TWELVE": "TWELFTH",
}

SPOKEN_SYMBOLS = {"%": " PERCENT ", "&": " AND "}

# An integer (optionally with thousands separators), then a decimal part or an ordinal suffix.
NUMBER_RE = re.compile(r"(\d+(?:,\d{3})*)(?:\.(\d+)|(st|nd|rd|th)\b)?", re.IGNORECASE)
BRACKETED_RE = re.compile(r"\[[^\]]*\]")
# The ascii alphabet, plus the numbers and symbols that no language was given to spell.
NOT_IN_ASCII_ALPHABET_RE = re.compile(f"[^A-Z'0-9{re.escape(''.join(SPOKEN_SYMBOLS))}]+")
# A number as written: digits, maybe joined by separators whose meaning depends on the language
# ("3,5" and "1.000" are 3.5 and 1000 in Dutch).
NUMBER_TOKEN_RE = re.compile(r"\d+(?:[.,:/]\d+)*")
NON_INTERNAL_APOSTROPHE_RE = re.compile(r"(?<![A-Z])'|'(?![A-Z])")
TYPOGRAPHIC_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})

WORD_BOUNDARY = "|"


def _below_thousand(n: int) -> list[str]:
    """Words for 1 <= n <= 999, American style (no "AND")."""
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [ONES[hundreds], HUNDRED]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(TENS[tens])
        if ones:
            words.append(ONES[ones])
    elif rest:
        words.append(ONES[rest])
    return words


def integer_to_words(n: int) -> str:
    """Spell 0 <= n <= 999,999,999 in English: 1205 -> "ONE THOUSAND TWO HUNDRED FIVE"."""
    if not 0 <= n <= MAX_SPELLED_INTEGER:
        raise ValueError(f"can only spell integers in [0, {MAX_SPELLED_INTEGER}], got {n}")
    if n == 0:
        return ONES[0]
    words: list[str] = []
    for scale, name in SCALES:
        count, n = divmod(n, scale)
        if count:
            words += _below_thousand(count) + [name]
    if n:
        words += _below_thousand(n)
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """Spell an ordinal: 21 -> "TWENTY FIRST", 100 -> "ONE HUNDREDTH"."""
    *head, last = integer_to_words(n).split()
    if last in IRREGULAR_ORDINALS:
        last = IRREGULAR_ORDINALS[last]
    elif last.endswith("Y"):
        last = last[:-1] + "IETH"
    else:
        last += "TH"
    return " ".join([*head, last])


def _digits_to_words(digits: str) -> str:
    """Read a digit string one digit at a time, as for codes and decimal parts."""
    return " ".join(ONES[int(d)] for d in digits)


def _spell_integer(digits: str) -> str:
    """Spell an integer token; codes with leading zeros or huge values are read per digit."""
    if (len(digits) > 1 and digits[0] == "0") or int(digits) > MAX_SPELLED_INTEGER:
        return _digits_to_words(digits)
    return integer_to_words(int(digits))


def _spell_number(match: re.Match[str]) -> str:
    integer, decimals, ordinal_suffix = match.groups()
    integer = integer.replace(",", "")
    if ordinal_suffix and int(integer) <= MAX_SPELLED_INTEGER:
        words = ordinal_to_words(int(integer))
    else:
        words = _spell_integer(integer)
        if decimals:
            words += " POINT " + _digits_to_words(decimals)
    # Surrounding spaces split glued tokens such as "3D" into separate words.
    return f" {words} "


def _to_ascii(text: str) -> str:
    """Fold accents ("CAFÉ" -> "CAFE") so that accented letters survive as A-Z."""
    decomposed = unicodedata.normalize("NFKD", text.translate(TYPOGRAPHIC_APOSTROPHES))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def _nfc_upper(text: str) -> str:
    """Upper case, then NFC: upper-casing can decompose ("ǰ" -> "J" + combining caron)."""
    return unicodedata.normalize("NFC", text.upper())


def _ascii_upper(text: str) -> str:
    return _to_ascii(text.upper())


def _english_numbers(text: str) -> str:
    text = NUMBER_RE.sub(_spell_number, text)
    for symbol, spoken in SPOKEN_SYMBOLS.items():
        text = text.replace(symbol, spoken)
    return text


@functools.cache
def _num2words(lang: str) -> Callable[[int], str]:
    """num2words for ``lang``, imported only when a transcript needs a non-English speller."""
    from num2words import CONVERTER_CLASSES, num2words

    if lang not in CONVERTER_CLASSES:
        raise ValueError(
            f"cannot spell numbers in {lang!r}: give one of {', '.join(number_languages())}, "
            "or none to leave numbers as written"
        )
    return functools.partial(num2words, lang=lang)


def _other_language_numbers(text: str, lang: str, fold: Callable[[str], str]) -> str:
    """Spell the plain integers of ``text`` with num2words; numbers with separators are left
    as written, since "3,5" or "1.000" read differently from one language to the next."""
    spell = _num2words(lang)
    pad = "" if lang in UNSPACED_LANGUAGES else " "

    def spelled(match: re.Match[str]) -> str:
        digits = match.group(0)
        if not digits.isdecimal():
            return digits
        try:
            if (len(digits) > 1 and int(digits[0]) == 0) or int(digits) > MAX_SPELLED_INTEGER:
                words = " ".join(spell(int(digit)) for digit in digits)
            else:
                words = spell(int(digits))
        except (NotImplementedError, OverflowError):  # a range the language's speller lacks
            return digits
        return f"{pad}{fold(words)}{pad}"

    return NUMBER_TOKEN_RE.sub(spelled, text)


def _spell_numbers(text: str, lang: str | None, fold: Callable[[str], str]) -> str:
    """Numbers (and "%", "&" in English) as words of ``lang``, cased and folded by ``fold``
    like the rest of the text; None leaves them as written."""
    if lang is None:
        return text
    if lang == ENGLISH:
        return _english_numbers(text)
    return _other_language_numbers(text, lang, fold)


def _is_letter_or_mark(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def _keep_letters(text: str) -> str:
    """The letters of any script in ``text``, each combining mark with the letter it follows,
    numbers and symbols left unspelled, and word-internal apostrophes; everything else becomes
    a space, except invisible format characters (soft hyphen, zero-width (non-)joiner), which
    are removed so that they do not split a word."""
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] in "LN" or char in SPOKEN_SYMBOLS or char == "'":
            kept.append(char)
        elif category[0] == "M":
            if kept and _is_letter_or_mark(kept[-1]):
                kept.append(char)
        elif category != "Cf":
            kept.append(" ")
    for index, char in enumerate(kept):
        if char == "'":
            before = kept[index - 1] if index > 0 else " "
            after = kept[index + 1] if index + 1 < len(kept) else " "
            if not (_is_letter_or_mark(before) and unicodedata.category(after)[0] == "L"):
                kept[index] = " "
    return "".join(kept)


def normalize_transcript(text: str, alphabet: str = "ascii", lang: str | None = ENGLISH) -> str:
    """Reduce a raw transcript to space-separated upper-case words over ``alphabet``.

    ``lang`` is the language numbers are read in: ``en``, a num2words language code, or
    None to leave them as written (see the module docstring).  The defaults are the English
    recipes' normalisation.  Returns "" when nothing speakable is left, e.g. for
    "[ascending tones]", so callers can drop non-speech entries.
    """
    if alphabet == "ascii":
        # Upper-case before folding to ASCII so that "ß" becomes "SS" rather than nothing.
        text = BRACKETED_RE.sub(" ", _ascii_upper(text))
        text = NOT_IN_ASCII_ALPHABET_RE.sub(" ", _spell_numbers(text, lang, _ascii_upper))
        text = NON_INTERNAL_APOSTROPHE_RE.sub(" ", text)
    elif alphabet == "keep":
        text = BRACKETED_RE.sub(" ", _nfc_upper(text).translate(TYPOGRAPHIC_APOSTROPHES))
        text = _keep_letters(_spell_numbers(text, lang, _nfc_upper))
    else:
        raise ValueError(f"unknown alphabet {alphabet!r}: choose one of {', '.join(ALPHABETS)}")
    return " ".join(text.split())


def number_languages() -> list[str]:
    """The ``lang`` codes that spell numbers: ``en`` (built in) and every num2words language."""
    from num2words import CONVERTER_CLASSES

    return sorted({ENGLISH, *CONVERTER_CLASSES})


def check_language(lang: str | None) -> None:
    """Raise ValueError unless numbers can be spelled in ``lang`` (None: not spelled)."""
    if lang is not None and lang != ENGLISH:
        _num2words(lang)


def unspelled(words: str) -> list[str]:
    """The numbers and symbols that a normalised transcript still writes as such, e.g.
    ["3", "%"]: no language was given to read them, or their reading depends on it ("3,5")."""
    marked = "".join(
        char if unicodedata.category(char)[0] == "N" or char in SPOKEN_SYMBOLS else " "
        for char in words
    )
    return marked.split()


def letters_outside_ascii(text: str) -> list[str]:
    """The upper-case letters of ``text`` beyond A-Z, in order of appearance: those that the
    ascii alphabet folds ("É" -> "E") or drops ("Ж")."""
    return list(dict.fromkeys(c for c in _nfc_upper(text) if c.isalpha() and not c.isascii()))


def letter_symbols(word: str) -> list[str]:
    """The CTC symbols of a word: its characters, each with the combining marks that follow
    it, so that a letter whose accent NFC cannot precompose is still one symbol."""
    symbols: list[str] = []
    for char in word:
        if symbols and unicodedata.category(char)[0] == "M":
            symbols[-1] += char
        else:
            symbols.append(char)
    return symbols


def words_to_letters(words: str) -> str:
    """Convert words to fairseq's ``.ltr`` format: "HI YOU" -> "H I | Y O U |".

    This is the target format of fairseq's ``examples/wav2vec/libri_labels.py``: one
    space-separated symbol per character (``letter_symbols``) and ``|`` after every word.
    """
    tokens = words.split()
    if not tokens:
        raise ValueError("cannot spell an empty transcript")
    letters = (" ".join(letter_symbols(token)) for token in tokens)
    return f" {WORD_BOUNDARY} ".join(letters) + f" {WORD_BOUNDARY}"
