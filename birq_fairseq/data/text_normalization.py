"""Transcript normalisation to the letter vocabulary of fairseq's LibriSpeech recipes.

Fine-tuning targets are characters (A-Z, apostrophe and the word boundary ``|``), so
every transcript is reduced to upper-case words over exactly that alphabet: numbers are
spelled out the way a speaker reads them, symbols with a spoken form become words, and
everything else is dropped.  Text that is only a bracketed annotation such as
``[ascending tones]`` describes non-speech audio and normalises to the empty string.
"""

import re
import unicodedata

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
NOT_IN_ALPHABET_RE = re.compile(r"[^A-Z']+")
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


def normalize_transcript(text: str) -> str:
    """Reduce a raw transcript to space-separated upper-case words over A-Z and "'".

    Returns "" when nothing speakable is left, e.g. for "[ascending tones]", so callers
    can drop non-speech entries.
    """
    # Upper-case before folding to ASCII so that "ß" becomes "SS" rather than nothing.
    text = BRACKETED_RE.sub(" ", _to_ascii(text.upper()))
    text = NUMBER_RE.sub(_spell_number, text)
    for symbol, spoken in SPOKEN_SYMBOLS.items():
        text = text.replace(symbol, spoken)
    text = NOT_IN_ALPHABET_RE.sub(" ", text)
    text = NON_INTERNAL_APOSTROPHE_RE.sub(" ", text)
    return " ".join(text.split())


def words_to_letters(words: str) -> str:
    """Convert words to fairseq's ``.ltr`` format: "HI YOU" -> "H I | Y O U |".

    This is the target format of fairseq's ``examples/wav2vec/libri_labels.py``: one
    space-separated symbol per character and ``|`` after every word.
    """
    tokens = words.split()
    if not tokens:
        raise ValueError("cannot spell an empty transcript")
    return f" {WORD_BOUNDARY} ".join(" ".join(token) for token in tokens) + f" {WORD_BOUNDARY}"
