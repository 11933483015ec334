"""A small build of the demo corpus: split hygiene, audio format and manifest consistency."""

import shutil
import time

import numpy as np
import pytest
import soundfile as sf

from birq_fairseq.data import demo_corpus
from birq_fairseq.data.demo_corpus import (
    build_demo_corpus,
    generate_sentences,
    synthetic_utterances,
    voices,
)
from birq_fairseq.data.manifests import read_manifest
from birq_fairseq.data.text_normalization import words_to_letters

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

SYNTH, REAL_LIMIT = 24, 30
TRAIN_VALID = ("pretrain/train", "pretrain/valid", "finetune/train", "finetune/valid")
TESTS = ("finetune/test_synth", "finetune/test_real", "finetune/test")
LABELLED = ("finetune/train", "finetune/valid", *TESTS)
MIN_SPEECH_RMS = 0.005


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    started = time.monotonic()
    summary = build_demo_corpus(base / "audio", base / "manifests", SYNTH, REAL_LIMIT, seed=1)
    return base, summary, time.monotonic() - started


def manifest(base, split):
    return read_manifest(base / "manifests" / f"{split}.tsv")


def audio_of(base, split):
    return {rel for rel, _ in manifest(base, split)[1]}


def words_of(base, split):
    return (base / "manifests" / f"{split}.wrd").read_text().splitlines()


def test_summary_matches_manifests(built):
    base, summary, seconds = built
    assert set(summary) == {*TRAIN_VALID, *TESTS}
    assert seconds < 40
    for split, row in summary.items():
        entries = manifest(base, split)[1]
        assert row["utterances"] == len(entries) == row["real"] + row["synthetic"]
        assert row["hours"] == pytest.approx(sum(n for _, n in entries) / 16000 / 3600)
        assert sum(rel.startswith("synth/") for rel, _ in entries) == row["synthetic"]
    assert summary["finetune/test_synth"]["utterances"] == 2  # sentences 9 and 19 of 24
    assert summary["finetune/test_real"]["utterances"] > 0
    assert summary["finetune/train"]["real"] > 0 and summary["finetune/train"]["synthetic"] > 0


def test_every_wav_is_16k_mono_and_matches_its_manifest(built):
    base, summary, _ = built
    for split in summary:
        root, entries = manifest(base, split)
        assert root.is_absolute() and root == (base / "audio").resolve()
        for rel_path, n_samples in entries:
            info = sf.info(root / rel_path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert info.frames == n_samples
            assert 0.5 <= n_samples / 16000 <= 15.0
            audio, _ = sf.read(root / rel_path)
            assert np.sqrt(np.mean(audio**2)) > MIN_SPEECH_RMS  # speech, not silence


def test_labels_are_aligned_with_manifests(built):
    base, _, _ = built
    for split in LABELLED:
        words = words_of(base, split)
        letters = (base / "manifests" / f"{split}.ltr").read_text().splitlines()
        assert len(manifest(base, split)[1]) == len(words) == len(letters)
        assert letters == [words_to_letters(line) for line in words]
    symbols = dict(
        line.split() for line in (base / "manifests/finetune/dict.ltr.txt").read_text().splitlines()
    )
    assert "|" in symbols and set(symbols) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ'|")


def test_tests_are_disjoint_from_training_in_audio_and_text(built):
    base, _, _ = built
    test_audio = audio_of(base, "finetune/test_synth") | audio_of(base, "finetune/test_real")
    assert audio_of(base, "finetune/test") == test_audio
    assert all(rel.startswith("real/asterisk/") for rel in audio_of(base, "finetune/test_real"))
    assert all(rel.startswith("synth/") for rel in audio_of(base, "finetune/test_synth"))
    for split in TRAIN_VALID:
        assert not audio_of(base, split) & test_audio, split

    test_text = set(words_of(base, "finetune/test"))
    train_text, valid_text = (
        set(words_of(base, "finetune/train")),
        set(words_of(base, "finetune/valid")),
    )
    assert not test_text & (train_text | valid_text)
    assert not train_text & valid_text
    assert audio_of(base, "pretrain/valid") == audio_of(base, "finetune/valid")
    assert audio_of(base, "finetune/train") <= audio_of(base, "pretrain/train")
    assert not audio_of(base, "pretrain/train") & audio_of(base, "pretrain/valid")


def test_held_out_voices_share_no_accent_or_variant_with_training_voices():
    train, test = voices(held_out=False), voices(held_out=True)
    assert train and test and not set(train) & set(test)
    train_parts = {part for voice in train for part in voice.split("+")}
    for voice in test:
        accent, variant = voice.split("+")
        assert accent not in train_parts or variant not in train_parts
    for accent in demo_corpus.HELD_OUT_ACCENTS:
        assert accent not in train_parts

    utterances = synthetic_utterances(40, seed=2, excluded_texts=set())
    assert [u.held_out for u in utterances].count(True) == 4
    for utterance in utterances:
        assert utterance.voice in (test if utterance.held_out else train)


def test_sentences_are_distinct_deterministic_and_prefix_stable():
    sentences = generate_sentences(300, seed=5, excluded_texts=set())
    assert len(set(sentences)) == 300
    assert all(3 <= len(s.split()) <= 8 for s in sentences)
    assert generate_sentences(100, seed=5, excluded_texts=set()) == sentences[:100]
    assert generate_sentences(100, seed=6, excluded_texts=set()) != sentences[:100]


def test_rebuild_reuses_audio_and_reproduces_manifests(built):
    base, summary, _ = built
    wavs = {p: p.stat().st_mtime_ns for p in (base / "audio").rglob("*.wav")}
    tsvs = {p: p.read_text() for p in (base / "manifests").rglob("*.tsv")}

    again = build_demo_corpus(base / "audio", base / "manifests", SYNTH, REAL_LIMIT, seed=1)

    assert again == summary
    assert {p: p.stat().st_mtime_ns for p in (base / "audio").rglob("*.wav")} == wavs
    assert {p: p.read_text() for p in (base / "manifests").rglob("*.tsv")} == tsvs
