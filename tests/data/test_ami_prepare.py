"""AMI preparation on a fake corpus in the distributed layout: segments cut from the
right microphone at the right samples, transcripts normalised and aligned, splits by the
standard meeting lists, and a rerun that rewrites no audio."""

import numpy as np
import pytest
import soundfile as sf
from fairseq.data import Dictionary

from birq_fairseq.data.ami import main
from birq_fairseq.data.manifests import read_manifest
from tests.fake_ami import EXPECTED_TEXT, MEETINGS, RATE, SEGMENTS, make_ami


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("ami")
    audio, annotations = make_ami(root)
    dest = root / "manifests"
    assert main(["--audio", str(audio), "--annotations", str(annotations),
                 "--dest", str(dest)]) == 0
    return audio, annotations, dest


def rows(dest, name):
    root, entries = read_manifest(dest / f"{name}.tsv")
    words = (dest / f"{name}.wrd").read_text().splitlines()
    letters = (dest / f"{name}.ltr").read_text().splitlines()
    assert len(entries) == len(words) == len(letters)
    return root, entries, words, letters


@pytest.mark.parametrize("split,meeting", [("train", "ES2002a"), ("dev", "ES2011a"),
                                           ("eval", "ES2004a")])
def test_ihm_segments_come_from_their_speakers_headset(prepared, split, meeting):
    audio, _, dest = prepared
    root, entries, words, letters = rows(dest, f"{split}_ihm")
    expected = {}
    for speaker, channel in MEETINGS[meeting].items():
        spoken = [s for s in SEGMENTS[speaker] if any(k != "vocalsound" for _, k in s[2])]
        for (start, end, _), text in zip(spoken, EXPECTED_TEXT[speaker]):
            expected[(speaker, round(start * RATE), round(end * RATE))] = (channel, text)
    assert len(entries) == len(expected)
    for (rel_path, n_samples), text, ltr in zip(entries, words, letters):
        _, speaker, start_cs, end_cs = rel_path.rsplit("/", 1)[1][:-4].split("_")
        start, end = int(start_cs) * RATE // 100, int(end_cs) * RATE // 100
        channel, expected_text = expected[(speaker, start, end)]
        assert text == expected_text
        assert ltr == " ".join("|" if c == " " else c for c in text) + " |"
        assert n_samples == end - start
        cut, rate = sf.read(root / rel_path, dtype="float32")
        source, _ = sf.read(audio / meeting / "audio" / f"{meeting}.Headset-{channel}.wav",
                            dtype="float32")
        assert rate == RATE
        np.testing.assert_allclose(cut, source[start:end], atol=1 / 32768)


def test_sdm_holds_every_speaker_from_the_array_microphone(prepared):
    audio, _, dest = prepared
    root, entries, words, _ = rows(dest, "eval_sdm")
    assert sorted(words) == sorted(EXPECTED_TEXT["A"] + EXPECTED_TEXT["B"])
    array, _ = sf.read(audio / "ES2004a" / "audio" / "ES2004a.Array1-01.wav", dtype="float32")
    rel_path, n_samples = entries[0]
    start = int(rel_path[:-4].split("_")[-2]) * RATE // 100
    cut, _ = sf.read(root / rel_path, dtype="float32")
    np.testing.assert_allclose(cut, array[start:start + n_samples], atol=1 / 32768)


def test_the_150h_set_joins_both_microphones_and_the_dictionary_loads(prepared):
    _, _, dest = prepared
    _, both, _, _ = rows(dest, "train_ihm_sdm")
    _, ihm, _, _ = rows(dest, "train_ihm")
    _, sdm, _, _ = rows(dest, "train_sdm")
    assert sorted(both) == sorted(ihm + sdm)
    dictionary = Dictionary.load(str(dest / "dict.ltr.txt"))
    assert all(dictionary.index(c) != dictionary.unk() for c in "|OKAYSWE'LTHRMCFIVN")


def test_a_rerun_rewrites_no_audio(prepared):
    audio, annotations, dest = prepared
    wavs = sorted((dest / "audio").rglob("*.wav"))
    before = {path: path.stat().st_mtime_ns for path in wavs}
    main(["--audio", str(audio), "--annotations", str(annotations), "--dest", str(dest)])
    assert {path: path.stat().st_mtime_ns for path in wavs} == before
    assert sorted((dest / "audio").rglob("*.wav")) == wavs


def test_a_wrong_annotation_folder_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--audio", str(tmp_path), "--annotations", str(tmp_path / "nope"),
              "--dest", str(tmp_path / "out")])
    assert "nope/words: not found" in capsys.readouterr().err
