"""Transcript normalisation: number spelling, punctuation, non-speech and the .ltr format."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from birq_fairseq.data.text_normalization import (
    MAX_SPELLED_INTEGER,
    integer_to_words,
    normalize_transcript,
    ordinal_to_words,
    words_to_letters,
)

# Reference spellings written out by hand.
KNOWN_INTEGERS = {
    0: "ZERO",
    7: "SEVEN",
    13: "THIRTEEN",
    20: "TWENTY",
    21: "TWENTY ONE",
    99: "NINETY NINE",
    100: "ONE HUNDRED",
    101: "ONE HUNDRED ONE",
    115: "ONE HUNDRED FIFTEEN",
    999: "NINE HUNDRED NINETY NINE",
    1000: "ONE THOUSAND",
    1205: "ONE THOUSAND TWO HUNDRED FIVE",
    40_010: "FORTY THOUSAND TEN",
    100_000: "ONE HUNDRED THOUSAND",
    1_000_001: "ONE MILLION ONE",
    123_456_789: (
        "ONE HUNDRED TWENTY THREE MILLION FOUR HUNDRED FIFTY SIX THOUSAND SEVEN HUNDRED EIGHTY NINE"
    ),
}

WORD_VALUES = {
    word: value
    for value, word in enumerate(
        "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN "
        "FOURTEEN FIFTEEN SIXTEEN SEVENTEEN EIGHTEEN NINETEEN".split()
    )
}
WORD_VALUES.update(
    {
        word: 10 * tens
        for tens, word in enumerate(
            "TWENTY THIRTY FORTY FIFTY SIXTY SEVENTY EIGHTY NINETY".split(), start=2
        )
    }
)


def parse_number_words(words: str) -> int:
    """Independent reader of spelled numbers, the inverse of integer_to_words."""
    total, current = 0, 0
    for word in words.split():
        if word == "HUNDRED":
            current *= 100
        elif word in ("THOUSAND", "MILLION"):
            total += current * (1000 if word == "THOUSAND" else 1_000_000)
            current = 0
        else:
            current += WORD_VALUES[word]
    return total + current


@pytest.mark.parametrize("number, words", KNOWN_INTEGERS.items())
def test_integer_to_words_known_values(number, words):
    assert integer_to_words(number) == words


@given(st.integers(min_value=0, max_value=MAX_SPELLED_INTEGER))
def test_integer_to_words_round_trips(number):
    words = integer_to_words(number)
    assert parse_number_words(words) == number
    assert " AND " not in f" {words} "


def test_integer_out_of_range_is_rejected():
    with pytest.raises(ValueError):
        integer_to_words(MAX_SPELLED_INTEGER + 1)
    with pytest.raises(ValueError):
        integer_to_words(-1)


@pytest.mark.parametrize(
    "number, words",
    [
        (1, "FIRST"),
        (2, "SECOND"),
        (3, "THIRD"),
        (4, "FOURTH"),
        (5, "FIFTH"),
        (8, "EIGHTH"),
        (9, "NINTH"),
        (11, "ELEVENTH"),
        (12, "TWELFTH"),
        (20, "TWENTIETH"),
        (21, "TWENTY FIRST"),
        (100, "ONE HUNDREDTH"),
        (1000, "ONE THOUSANDTH"),
    ],
)
def test_ordinals(number, words):
    assert ordinal_to_words(number) == words


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("I have 3 cats", "I HAVE THREE CATS"),
        ("Dial 500 now.", "DIAL FIVE HUNDRED NOW"),
        ("It costs 1,250,000 coins", "IT COSTS ONE MILLION TWO HUNDRED FIFTY THOUSAND COINS"),
        ("pi is 3.14", "PI IS THREE POINT ONE FOUR"),
        ("3.5 apples", "THREE POINT FIVE APPLES"),
        ("50% off", "FIFTY PERCENT OFF"),
        ("salt & pepper", "SALT AND PEPPER"),
        ("the 1st, 2nd, 3rd and 22nd", "THE FIRST SECOND THIRD AND TWENTY SECOND"),
        ("agent 007", "AGENT ZERO ZERO SEVEN"),
        ("3D audio enabled", "THREE D AUDIO ENABLED"),
        ("1234567890", "ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE ZERO"),
    ],
)
def test_numbers_and_symbols(raw, expected):
    assert normalize_transcript(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Hello, world! How's it going?", "HELLO WORLD HOW'S IT GOING"),
        ('"Yes," she said; "no."', "YES SHE SAID NO"),
        ("Call-Forward on No Answer.", "CALL FORWARD ON NO ANSWER"),
        ("  lots \t of\n space  ", "LOTS OF SPACE"),
        ("Press ... for ...", "PRESS FOR"),
        ("café naïve", "CAFE NAIVE"),
        ("Straße", "STRASSE"),
    ],
)
def test_punctuation_and_whitespace(raw, expected):
    assert normalize_transcript(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("don't", "DON'T"),
        ("the party's line", "THE PARTY'S LINE"),
        ("I\u2019m here", "I'M HERE"),
        ("'tis the dogs' bone", "TIS THE DOGS BONE"),
        ("rock 'n' roll", "ROCK N ROLL"),
        ("'quoted'", "QUOTED"),
    ],
)
def test_only_word_internal_apostrophes_survive(raw, expected):
    assert normalize_transcript(raw) == expected


@pytest.mark.parametrize(
    "raw", ["[ascending tones]", "[sound of monkeys screaming]", " [beep] [beep] ", "", "...!"]
)
def test_non_speech_is_empty(raw):
    assert normalize_transcript(raw) == ""


def test_bracketed_annotation_is_removed_from_speech():
    assert normalize_transcript("dot [.]") == "DOT"
    assert normalize_transcript("at [@] home") == "AT HOME"


@given(st.text())
def test_output_alphabet_and_idempotence(raw):
    normalized = normalize_transcript(raw)
    assert re.fullmatch(r"([A-Z]+('[A-Z]+)*( [A-Z]+('[A-Z]+)*)*)?", normalized)
    assert normalize_transcript(normalized) == normalized


def test_words_to_letters_example():
    assert words_to_letters("HELLO WORLD") == "H E L L O | W O R L D |"
    assert words_to_letters("DON'T") == "D O N ' T |"


@given(st.lists(st.from_regex(r"[A-Z']{1,8}", fullmatch=True), min_size=1, max_size=6))
def test_words_to_letters_matches_fairseq_libri_labels(words):
    sentence = " ".join(words)
    # The expression of fairseq's examples/wav2vec/libri_labels.py.
    reference = " ".join(list(sentence.replace(" ", "|"))) + " |"
    assert words_to_letters(sentence) == reference


def test_words_to_letters_rejects_empty():
    with pytest.raises(ValueError):
        words_to_letters("  ")
