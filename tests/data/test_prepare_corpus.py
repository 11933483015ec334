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


@pytest.fixture()
def corpus(tmp_path):
    audio_dir = tmp_path / "raw"
    rng = np.random.default_rng(0)
    lines = []
    for utt_id, (rate, seconds, channels, ext, text) in AUDIO.items():
        path = audio_dir / f"{utt_id}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal((int(rate * seconds), channels)), rate)
        if text is not None:
            lines.append(f"{utt_id} {text}")
    lines.append(f"{GHOST}\tnothing recorded")
    transcripts = tmp_path / "text.txt"
    transcripts.write_text("\n".join(lines) + "\n")
    args = ["--audio-dir", str(audio_dir), "--transcripts", str(transcripts)]
    args += ["--dest", str(tmp_path / "out"), "--valid-percent", "20", "--test-percent", "20"]
    return tmp_path, args


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

    train_letters = Counter(
        symbol for line in read_split(dest, "train")[3] for symbol in line.split()
    )
    dictionary = dict(line.split() for line in (dest / "dict.ltr.txt").read_text().splitlines())
    assert {symbol: int(count) for symbol, count in dictionary.items()} == train_letters

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
