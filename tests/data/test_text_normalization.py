"""Transcript normalisation: number spelling, punctuation, non-speech and the .ltr format,
for English (the ascii alphabet) and for the letters of any language (the keep alphabet)."""

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from birq_fairseq.data.text_normalization import (
    MAX_SPELLED_INTEGER,
    check_language,
    integer_to_words,
    letter_symbols,
    letters_outside_ascii,
    normalize_transcript,
    ordinal_to_words,
    unspelled,
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


# Other languages: the keep alphabet, numbers spelled only in a given language.


@pytest.mark.parametrize(
    "raw, lang, expected",
    [
        # Czech: ř, č, ů and the rest stay letters of their own
        ("Příliš žluťoučký kůň úpěl ďábelské ódy.", None, "PŘÍLIŠ ŽLUŤOUČKÝ KŮŇ ÚPĚL ĎÁBELSKÉ ÓDY"),
        ("Mám 3 kočky a 12 psů.", "cs", "MÁM TŘI KOČKY A DVANÁCT PSŮ"),
        # Dutch: digits in Dutch when the language is given, as written when it is not
        ("Ik heb 3 vissen", "nl", "IK HEB DRIE VISSEN"),
        ("Ik heb 3 vissen", None, "IK HEB 3 VISSEN"),
        ("agent 007", "nl", "AGENT NUL NUL ZEVEN"),
        # Russian: Cyrillic, ё included
        (
            "Съешь же ещё этих мягких французских булок, да выпей чаю.",
            None,
            "СЪЕШЬ ЖЕ ЕЩЁ ЭТИХ МЯГКИХ ФРАНЦУЗСКИХ БУЛОК ДА ВЫПЕЙ ЧАЮ",
        ),
        ("У меня 5 кошек", "ru", "У МЕНЯ ПЯТЬ КОШЕК"),
        # French: accents, elisions and guillemets
        (
            "C'est l'été ; aujourd\u2019hui « peut-être » à 21 h.",
            "fr",
            "C'EST L'ÉTÉ AUJOURD'HUI PEUT ÊTRE À VINGT ET UN H",
        ),
        # Japanese: no spaces between words, full-width digits and punctuation
        ("今日は３匹の猫がいます。", "ja", "今日は三匹の猫がいます"),
        ("東京タワー、ちょっと…", None, "東京タワー ちょっと"),
    ],
)
def test_keep_alphabet_keeps_the_letters_of_the_language(raw, lang, expected):
    assert normalize_transcript(raw, "keep", lang) == expected


def test_ascii_alphabet_is_still_the_english_default():
    assert normalize_transcript("Příliš žluťoučký kůň") == "PRILIS ZLUTOUCKY KUN"
    assert normalize_transcript("Ik heb 3 vissen") == "IK HEB THREE VISSEN"
    assert normalize_transcript("Ik heb 3 vissen", "ascii", "nl") == "IK HEB DRIE VISSEN"
    assert normalize_transcript("Съешь же ещё") == ""
    assert normalize_transcript("I have 3 cats", "ascii", None) == "I HAVE 3 CATS"


def test_keep_alphabet_spells_english_numbers_as_the_ascii_one_does():
    raw = "The 1st of 3 cats: 50% & 3.5 dogs"
    assert normalize_transcript(raw, "keep", "en") == normalize_transcript(raw)


def test_decomposed_input_gives_the_precomposed_letters():
    decomposed = unicodedata.normalize("NFD", "Příliš žluťoučký kůň")
    assert normalize_transcript(decomposed, "keep", None) == "PŘÍLIŠ ŽLUŤOUČKÝ KŮŇ"


def test_combining_marks_stay_with_their_letter():
    # Devanagari vowel signs and the virama are combining marks: one symbol with the letter.
    assert words_to_letters(normalize_transcript("नमस्ते दुनिया", "keep")) == "न म स् ते | दु नि या |"
    # J with caron has no precomposed capital: J + U+030C stays one symbol.
    assert letter_symbols(normalize_transcript("ǰ", "keep")) == ["J\u030c"]
    # A mark with no letter before it is dropped.
    assert normalize_transcript("a \u0301b", "keep") == "A B"


def test_invisible_format_characters_do_not_split_words():
    assert normalize_transcript("ko\u00adčka", "keep") == "KOČKA"  # soft hyphen
    assert normalize_transcript("می\u200cخواهم", "keep") == "میخواهم"  # zero-width non-joiner


def test_numbers_whose_reading_depends_on_the_language_are_left_as_written():
    words = normalize_transcript("Het kost 3,5 euro om 10:30", "keep", "nl")
    assert words == "HET KOST 3 5 EURO OM 10 30"
    assert unspelled(words) == ["3", "5", "10", "30"]


def test_unspelled_finds_numbers_and_symbols_left_as_written():
    assert unspelled(normalize_transcript("50% & ３ ½", "keep", None)) == ["50%", "&", "３", "½"]
    assert unspelled(normalize_transcript("50% & 3", "keep", "en")) == []


def test_letters_outside_ascii_are_listed_in_order():
    assert letters_outside_ascii("café Řeka ж, A-Z") == ["É", "Ř", "Ж"]
    assert letters_outside_ascii("Hello, world 3") == []


def test_unknown_language_and_alphabet_are_refused():
    with pytest.raises(ValueError, match="cannot spell numbers in 'xx'.*nl"):
        check_language("xx")
    with pytest.raises(ValueError, match="cannot spell numbers"):
        normalize_transcript("3", "keep", "xx")
    with pytest.raises(ValueError, match="unknown alphabet"):
        normalize_transcript("a", "latin")
    check_language(None)
    check_language("en")


KEPT_CATEGORIES = ("L", "M", "N")


@given(st.text())
def test_keep_output_is_letters_numbers_and_internal_apostrophes_and_idempotent(raw):
    normalized = normalize_transcript(raw, "keep", None)
    assert normalized == " ".join(normalized.split())
    for word in normalized.split():
        assert not word.startswith("'") and not word.endswith("'")
        assert all(
            unicodedata.category(c)[0] in KEPT_CATEGORIES or c in "'%&" for c in word
        ), word
    assert "|" not in normalized
    assert unicodedata.is_normalized("NFC", normalized)
    assert normalize_transcript(normalized, "keep", None) == normalized


@given(st.text())
def test_letter_symbols_of_a_keep_word_join_back_to_it(raw):
    for word in normalize_transcript(raw, "keep", None).split():
        symbols = letter_symbols(word)
        assert "".join(symbols) == word
        assert all(unicodedata.category(s[0])[0] != "M" for s in symbols)

