"""The generic corpus CLI on a tiny folder of generated audio."""

import os
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from birq_fairseq.data.manifests import read_manifest
from birq_fairseq.data.prepare_corpus import main

# utterance id -> (sample rate, seconds, channels, extension, transcript or None)
AUDIO = {
    "spk1/u1": (8000, 0.6, 1, "wav", "Hello world."),
    "spk1/u2": (8000, 0.9, 1, "wav", "I have 2 cats & 3.5 dogs!"),
    "spk1/u3": (8000, 1.2, 1, "wav", "Don't stop"),
    "spk2/u4": (44100, 0.7, 2, "flac", "The 1st prize"),
    "spk2/u5": (44100, 1.1, 1, "flac", "Yes, it's 50% done"),
    "spk2/deep/u6": (44100, 0.8, 1, "wav", None),  # audio without transcript
}
GHOST = "spk3/ghost"  # transcript without audio
SPLIT_NAMES = ("train", "valid", "test")

EXPECTED_WORDS = {
    "spk1/u1": "HELLO WORLD",
    "spk1/u2": "I HAVE TWO CATS AND THREE POINT FIVE DOGS",
    "spk1/u3": "DON'T STOP",
    "spk2/u4": "THE FIRST PRIZE",
    "spk2/u5": "YES IT'S FIFTY PERCENT DONE",
}


def make_corpus(tmp_path, audio: dict, ghost: str | None = None):
    """Writes noise for each ``audio`` entry and a transcript file (plus a transcript for
    ``ghost``, which has no audio); returns the prepare_corpus arguments."""
    audio_dir = tmp_path / "raw"
    rng = np.random.default_rng(0)
    lines = []
    for utt_id, (rate, seconds, channels, ext, text) in audio.items():
        path = audio_dir / f"{utt_id}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal((int(rate * seconds), channels)), rate)
        if text is not None:
            lines.append(f"{utt_id} {text}")
    if ghost is not None:
        lines.append(f"{ghost}\tnothing recorded")
    transcripts = tmp_path / "text.txt"
    transcripts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["--audio-dir", str(audio_dir), "--transcripts", str(transcripts)]
    return args + ["--dest", str(tmp_path / "out"), "--valid-percent", "20", "--test-percent", "20"]


@pytest.fixture()
def corpus(tmp_path):
    return tmp_path, make_corpus(tmp_path, AUDIO, GHOST)


def read_split(dest, name):
    root, entries = read_manifest(dest / f"{name}.tsv")
    words = (dest / f"{name}.wrd").read_text().splitlines()
    letters = (dest / f"{name}.ltr").read_text().splitlines()
    return root, entries, words, letters


def test_outputs_are_complete_aligned_and_16k(corpus, capsys):
    tmp_path, args = corpus
    assert main(args) == 0
    dest, out = tmp_path / "out", capsys.readouterr().out

    seen = {}
    for name in SPLIT_NAMES:
        root, entries, words, letters = read_split(dest, name)
        assert root == (dest / "audio").resolve()
        assert len(entries) == len(words) == len(letters)
        for (rel_path, n_samples), word_line, letter_line in zip(entries, words, letters):
            utt_id = rel_path.removesuffix(".wav")
            rate, seconds, *_ = AUDIO[utt_id]
            info = sf.info(root / rel_path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert n_samples == info.frames == int(np.ceil(int(rate * seconds) * 16000 / rate))
            assert word_line == EXPECTED_WORDS[utt_id]
            assert letter_line == " ".join(word_line.replace(" ", "|")) + " |"
            seen[utt_id] = name
    assert set(seen) == set(EXPECTED_WORDS)
    assert Counter(seen.values()) == {"train": 3, "valid": 1, "test": 1}

    letters = {
        name: Counter(symbol for line in read_split(dest, name)[3] for symbol in line.split())
        for name in SPLIT_NAMES
    }
    held_out_only = (letters["valid"] + letters["test"]).keys() - letters["train"].keys()
    assert held_out_only, "the split leaves some letters out of train"
    dictionary = dict(line.split() for line in (dest / "dict.ltr.txt").read_text().splitlines())
    assert {symbol: int(count) for symbol, count in dictionary.items()} == {
        **letters["train"], **dict.fromkeys(held_out_only, 0)
    }
    assert f"warning: {' '.join(sorted(held_out_only))} only in valid/test" in out

    assert "spk2/deep/u6" in out and "no transcript" in out
    assert GHOST in out and "no audio" in out
    assert "1 audio files without transcript" in out
    assert "1 transcripts without audio" in out


def test_rerun_skips_done_work_and_redoes_stale_audio(corpus, capsys):
    tmp_path, args = corpus
    main(args)
    dest = tmp_path / "out"
    outputs = sorted(p for p in dest.rglob("*") if p.is_file())
    mtimes = {p: p.stat().st_mtime_ns for p in outputs}
    capsys.readouterr()

    main(args)
    out = capsys.readouterr().out
    assert "5 up to date, 0 to convert" in out
    assert out.count("skipped: output") == 2
    assert {p: p.stat().st_mtime_ns for p in outputs} == mtimes

    source = tmp_path / "raw" / "spk1" / "u1.wav"
    newer = mtimes[dest / "audio" / "spk1" / "u1.wav"] + 10**9
    os.utime(source, ns=(newer, newer))
    main(args)
    assert "4 up to date, 1 to convert" in capsys.readouterr().out
    assert (dest / "audio/spk1/u1.wav").stat().st_mtime_ns > mtimes[dest / "audio/spk1/u1.wav"]

    main([*args, "--force"])
    out = capsys.readouterr().out
    assert "0 up to date, 5 to convert" in out and "skipped" not in out


def test_split_is_reproducible_and_seed_dependent(corpus):
    tmp_path, args = corpus
    main(args)
    first = {name: read_split(tmp_path / "out", name)[1] for name in SPLIT_NAMES}
    main([*args, "--force"])
    assert {name: read_split(tmp_path / "out", name)[1] for name in SPLIT_NAMES} == first

    layouts = set()
    for seed in range(6):
        main([*args, "--force", "--seed", str(seed)])
        layouts.add(tuple(tuple(read_split(tmp_path / "out", n)[1]) for n in SPLIT_NAMES))
    assert len(layouts) > 1


# Other languages.

# utterance id -> (sample rate, seconds, channels, extension, transcript)
WORLD = {
    "cs/u1": (16000, 0.6, 1, "wav", "Příliš žluťoučký kůň úpěl ďábelské ódy."),
    "nl/u2": (16000, 0.6, 1, "wav", "Ik heb 3 vissen"),
    "ru/u3": (16000, 0.6, 1, "wav", "Съешь же ещё этих мягких французских булок."),
    "fr/u4": (16000, 0.6, 1, "wav", "C'est l'été, à côté du garçon."),
    "ja/u5": (16000, 0.6, 1, "wav", "今日は猫がいます。"),
}
KEPT_WORDS = {
    "cs/u1": "PŘÍLIŠ ŽLUŤOUČKÝ KŮŇ ÚPĚL ĎÁBELSKÉ ÓDY",
    "nl/u2": "IK HEB 3 VISSEN",
    "ru/u3": "СЪЕШЬ ЖЕ ЕЩЁ ЭТИХ МЯГКИХ ФРАНЦУЗСКИХ БУЛОК",
    "fr/u4": "C'EST L'ÉTÉ À CÔTÉ DU GARÇON",
    "ja/u5": "今日は猫がいます",
}


def words_by_id(dest) -> dict[str, str]:
    found = {}
    for name in SPLIT_NAMES:
        _, entries, words, _ = read_split(dest, name)
        found.update({rel.removesuffix(".wav"): w for (rel, _), w in zip(entries, words)})
    return found


def test_keep_alphabet_keeps_every_language_and_lists_unspelled_numbers(tmp_path, capsys):
    args = make_corpus(tmp_path, WORLD)
    assert main([*args, "--alphabet", "keep"]) == 0
    out = capsys.readouterr().out
    dest = tmp_path / "out"

    assert words_by_id(dest) == KEPT_WORDS
    symbols = {line.split()[0] for line in (dest / "dict.ltr.txt").read_text().splitlines()}
    assert {"Ř", "Ů", "Ё", "Щ", "É", "Ç", "猫", "|", "'"} <= symbols
    assert "warning: 1 transcripts keep numbers or symbols as written" in out
    assert f"text.txt:2: nl/u2 {WORLD['nl/u2'][4]!r}" in out
    assert "1 transcripts with numbers left as written" in out


def test_a_language_spells_its_numbers(tmp_path, capsys):
    args = make_corpus(tmp_path, WORLD)
    assert main([*args, "--alphabet", "keep", "--lang", "nl"]) == 0
    assert words_by_id(tmp_path / "out")["nl/u2"] == "IK HEB DRIE VISSEN"
    assert "numbers left as written" in capsys.readouterr().out


def test_ascii_alphabet_names_the_letters_it_loses(tmp_path, capsys):
    args = make_corpus(tmp_path, WORLD)
    assert main(args) == 0
    out = capsys.readouterr().out

    words = words_by_id(tmp_path / "out")
    assert words["cs/u1"] == "PRILIS ZLUTOUCKY KUN UPEL DABELSKE ODY"
    assert words["nl/u2"] == "IK HEB THREE VISSEN"
    assert "ru/u3" not in words and "ja/u5" not in words
    assert "has no speakable words in A-Z (try --alphabet keep)" in out
    assert "warning: 4 transcripts have letters outside A-Z (ŘÍŠ" in out
    assert "fix: pass --alphabet keep" in out


def test_an_unknown_language_is_a_usage_error(tmp_path, capsys):
    args = make_corpus(tmp_path, WORLD)
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--alphabet", "keep", "--lang", "xx"])
    assert exit_info.value.code == 2
    assert "cannot spell numbers in 'xx'" in capsys.readouterr().err

