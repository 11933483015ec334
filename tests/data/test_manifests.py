"""fairseq manifest, label and dictionary files, the one manifest reader, and the
deterministic split helper."""

from collections import Counter

import pytest
from fairseq.data import Dictionary
from hypothesis import given
from hypothesis import strategies as st

from birq_fairseq.data.manifest_checks import check_manifest_header_and_columns
from birq_fairseq.data.manifests import (
    ManifestError,
    parse_manifest,
    read_manifest,
    split_ids,
    write_labels,
    write_letter_dictionary,
    write_manifest,
)


def test_manifest_round_trip_and_exact_format(tmp_path):
    entries = [("spk1/a.wav", 16000), ("spk2/sub/b.wav", 123)]
    path = tmp_path / "out" / "train.tsv"
    write_manifest(path, tmp_path, entries)

    assert path.read_text() == f"{tmp_path}\nspk1/a.wav\t16000\nspk2/sub/b.wav\t123\n"
    root, read_back = read_manifest(path)
    assert root == tmp_path
    assert read_back == entries


@pytest.mark.parametrize(
    "lines, line, words",
    [
        (["{root}", "a.wav\t16000", "", "b.wav\t8000"], 3, "blank line"),
        (["{root}", "a.wav 16000"], 2, "columns separated by spaces"),
        (["{root}", "a.wav\t1.5"], 2, "not a positive integer"),
        (["{root}/missing", "a.wav\t16000"], 1, "not an existing directory"),
        (["a.wav\t16000"], 1, "must be the audio root directory"),
    ],
)
def test_reading_a_bad_manifest_names_its_line_and_the_fix(tmp_path, lines, line, words):
    """read_manifest, check_data and the pretraining task share one parser and its words."""
    path = tmp_path / "train.tsv"
    path.write_text("\n".join(lines).format(root=tmp_path) + "\n")

    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    message = str(error.value)
    reported = [p.format("error") for p in check_manifest_header_and_columns(path)]
    assert [p.format("error") for p in parse_manifest(path).problems] == reported
    assert len(reported) == 1 and reported[0] in message.splitlines()
    assert reported[0].startswith(f"{path}:{line}: error: ") and words in reported[0]
    assert "; fix: " in reported[0]
    assert f"python -m birq_fairseq.check_data {tmp_path} --split train" in message


def test_empty_manifest_has_only_the_root(tmp_path):
    write_manifest(tmp_path / "empty.tsv", tmp_path, [])
    assert read_manifest(tmp_path / "empty.tsv") == (tmp_path, [])


def test_manifest_rejects_tabs_in_paths(tmp_path):
    with pytest.raises(ValueError):
        write_manifest(tmp_path / "bad.tsv", tmp_path, [("a\tb.wav", 1)])
    assert not (tmp_path / "bad.tsv").exists()


def test_labels_are_normalised_and_aligned(tmp_path):
    write_labels(tmp_path / "train", ["Hello, world!", "I have 2 cats."])
    assert (tmp_path / "train.wrd").read_text().splitlines() == ["HELLO WORLD", "I HAVE TWO CATS"]
    assert (tmp_path / "train.ltr").read_text().splitlines() == [
        "H E L L O | W O R L D |",
        "I | H A V E | T W O | C A T S |",
    ]


def test_labels_without_normalisation_are_verbatim(tmp_path):
    write_labels(tmp_path / "dev", ["'TWAS  A DOG'S LIFE"], normalize=False)
    assert (tmp_path / "dev.wrd").read_text() == "'TWAS A DOG'S LIFE\n"
    assert (tmp_path / "dev.ltr").read_text() == "' T W A S | A | D O G ' S | L I F E |\n"


def test_empty_transcript_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="transcript 1"):
        write_labels(tmp_path / "train", ["fine", "[noise]"])


def test_letter_dictionary_counts_and_order(tmp_path):
    sentences = ["ABBA CAB", "BE", "Z"]
    write_labels(tmp_path / "a", sentences[:2])
    write_labels(tmp_path / "b", sentences[2:])
    write_letter_dictionary(tmp_path / "dict.ltr.txt", [tmp_path / "a.ltr", tmp_path / "b.ltr"])

    expected = Counter("".join(s.replace(" ", "") for s in sentences))
    expected["|"] = sum(len(s.split()) for s in sentences)
    lines = (tmp_path / "dict.ltr.txt").read_text().splitlines()
    assert lines == [
        f"{symbol} {count}"
        for symbol, count in sorted(expected.items(), key=lambda item: (-item[1], item[0]))
    ]
    assert lines[:3] == ["B 4", "| 4", "A 3"]  # count ties are ordered by symbol ("B" < "|")

    dictionary = Dictionary.load(str(tmp_path / "dict.ltr.txt"))
    for symbol, count in expected.items():
        assert dictionary.count[dictionary.index(symbol)] == count
    assert dictionary.index("B") < dictionary.index("|") < dictionary.index("A")


def test_letter_dictionary_lists_extra_symbols_last_with_count_0(tmp_path):
    write_labels(tmp_path / "train", ["ŘEKA"], normalize=False)
    write_letter_dictionary(tmp_path / "dict.ltr.txt", [tmp_path / "train.ltr"],
                            extra_symbols=["Ů", "Ř", "Č"])
    lines = (tmp_path / "dict.ltr.txt").read_text(encoding="utf-8").splitlines()
    assert lines == ["A 1", "E 1", "K 1", "| 1", "Ř 1", "Č 0", "Ů 0"]
    dictionary = Dictionary.load(str(tmp_path / "dict.ltr.txt"))
    assert dictionary.index("Ů") != dictionary.unk()


def test_split_ids_is_deterministic_disjoint_and_sized():
    ids = [f"utt{i:03d}" for i in range(200)]
    fractions = {"train": 0.8, "valid": 0.1, "test": 0.1}
    splits = split_ids(ids, fractions, seed=3)

    assert {name: len(members) for name, members in splits.items()} == {
        "train": 160,
        "valid": 20,
        "test": 20,
    }
    assert sorted(sum(splits.values(), [])) == ids
    assert split_ids(list(reversed(ids)), fractions, seed=3) == splits
    assert split_ids(ids, fractions, seed=4) != splits
    assert all(members == sorted(members) for members in splits.values())


@pytest.mark.parametrize(
    "ids, fractions",
    [
        (["a", "b"], {"train": 0.5, "valid": 0.4}),
        (["a", "a"], {"train": 1.0}),
        (["a", "b"], {"train": 1.2, "valid": -0.2}),
    ],
)
def test_split_ids_rejects_bad_input(ids, fractions):
    with pytest.raises(ValueError):
        split_ids(ids, fractions, seed=0)


@given(
    ids=st.sets(st.text(min_size=1, max_size=6), max_size=60),
    weights=st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=4).filter(any),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_split_ids_property(ids, weights, seed):
    fractions = {f"split{i}": w / sum(weights) for i, w in enumerate(weights)}
    splits = split_ids(ids, fractions, seed)

    members = [x for split in splits.values() for x in split]
    assert len(members) == len(set(members))  # disjoint
    assert set(members) == ids  # complete
    assert list(splits) == list(fractions)
    cumulative = 0
    for name, fraction in fractions.items():  # each size is within rounding of its share
        assert abs(len(splits[name]) - fraction * len(ids)) <= 1
        cumulative += len(splits[name])
    assert cumulative == len(ids)
    assert split_ids(sorted(ids, reverse=True), fractions, seed) == splits  # order-free
