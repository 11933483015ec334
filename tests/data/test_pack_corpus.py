"""pack_corpus: a lossless (FLAC) pack decodes to the original samples, a lossy (Opus) one
keeps every length and most of the signal, parts respect their size cap, labels travel as
they are, and after a move ``--relocate`` lets fairseq's own audio dataset read the pack;
missing parts, missing audio and wrong lengths are named with their fix."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from fairseq.data import FileAudioDataset

from birq_fairseq.data.manifests import read_manifest, write_manifest
from birq_fairseq.data.pack_corpus import assign_parts, main

RATE = 16000


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """A voiced-like signal (harmonics of a wandering pitch under a syllable envelope) plus
    a little noise: what a speech codec is built to keep."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * envelope * voiced + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def corpus(tmp_path):
    """Two splits' manifests in two folders, one audio file named by both, labels beside."""
    audio = tmp_path / "audio"
    lengths = {}
    for index, name in enumerate(["synth/a.wav", "synth/b.wav", "real/c.wav", "real/d.wav"]):
        (audio / name).parent.mkdir(parents=True, exist_ok=True)
        signal = speech_like(1.0 + 0.37 * index, index)
        sf.write(audio / name, signal, RATE, subtype="PCM_16")
        lengths[name] = len(signal)
    manifests = tmp_path / "manifests"
    write_manifest(manifests / "pretrain" / "train.tsv", audio,
                   [(name, lengths[name]) for name in ["synth/a.wav", "synth/b.wav", "real/c.wav"]])
    write_manifest(manifests / "finetune" / "test.tsv", audio,
                   [(name, lengths[name]) for name in ["real/c.wav", "real/d.wav"]])
    (manifests / "finetune" / "test.ltr").write_text("A B |\nC D |\n")
    (manifests / "finetune" / "test.phn").write_text("0 10 AA\n0 12 B\n")
    (manifests / "finetune" / "dict.ltr.txt").write_text("| 4\nA 1\nB 1\nC 1\nD 1\n")
    return audio, manifests, lengths


def packed_audio(pack, manifest):
    root, entries = read_manifest(pack / "manifests" / manifest)
    return root, entries, [sf.read(root / rel, dtype="float32")[0] for rel, _ in entries]


def test_flac_pack_is_lossless_split_in_parts_and_carries_the_labels(corpus, tmp_path):
    audio, manifests, lengths = corpus
    pack = tmp_path / "pack"
    # A cap below two files' size: every part holds one file.
    assert main([str(manifests), str(pack), "--codec", "flac", "--part-mb", "0.02",
                 "--workers", "2"]) == 0
    info = json.loads((pack / "pack.json").read_text())
    assert info["files"] == 4 and len(info["parts"]) == 4
    assert all(part["files"] == 1 for part in info["parts"].values())
    for manifest, names in (("pretrain/train.tsv", ["synth/a.wav", "synth/b.wav", "real/c.wav"]),
                            ("finetune/test.tsv", ["real/c.wav", "real/d.wav"])):
        root, entries, copies = packed_audio(pack, manifest)
        assert root == pack.resolve()
        assert [n for _, n in entries] == [lengths[name] for name in names]
        assert all(rel.startswith("part-") and rel.endswith(".flac") for rel, _ in entries)
        for name, copy in zip(names, copies):
            original, _ = sf.read(audio / name, dtype="int16")
            np.testing.assert_array_equal(np.round(copy * 32768).astype(np.int16), original)
    for label in ("test.ltr", "test.phn", "dict.ltr.txt"):
        assert ((pack / "manifests" / "finetune" / label).read_bytes()
                == (manifests / "finetune" / label).read_bytes())
    assert not (pack / ".staging").exists()


def test_opus_pack_keeps_every_length_and_most_of_the_signal(corpus, tmp_path):
    audio, manifests, lengths = corpus
    pack = tmp_path / "pack"
    assert main([str(manifests), str(pack), "--codec", "opus", "--workers", "1"]) == 0
    info = json.loads((pack / "pack.json").read_text())
    total = sum(part["bytes"] for part in info["parts"].values())
    assert total < info["source_bytes"] / 4  # level 0.9: about a ninth on real speech
    _, entries, copies = packed_audio(pack, "pretrain/train.tsv")
    for (rel, n), copy in zip(entries, copies):
        original, _ = sf.read(audio / rel.split("/", 1)[1].replace(".ogg", ".wav"),
                              dtype="float32")
        assert len(copy) == n == len(original)
        residual = np.sum((copy - original) ** 2) / np.sum(original ** 2)
        assert residual < 0.1, (rel, residual)  # signal-to-error above 10 dB, time-aligned


def test_a_moved_pack_relocates_and_fairseqs_dataset_reads_it(corpus, tmp_path):
    _, manifests, lengths = corpus
    pack = tmp_path / "pack"
    assert main([str(manifests), str(pack), "--codec", "opus", "--part-mb", "0.01"]) == 0
    moved = tmp_path / "elsewhere" / "pack"
    moved.parent.mkdir()
    shutil.move(pack, moved)
    manifest = moved / "manifests" / "finetune" / "test.tsv"
    assert manifest.read_text().splitlines()[0] == str(pack.resolve())  # the old folder
    assert main(["--relocate", str(moved)]) == 0
    assert manifest.read_text().splitlines()[0] == str(moved.resolve())
    dataset = FileAudioDataset(str(manifest), RATE)
    assert [len(dataset[i]["source"]) for i in range(len(dataset))] == [
        lengths["real/c.wav"], lengths["real/d.wav"]]


def test_relocate_names_the_parts_that_have_not_arrived(corpus, tmp_path, capsys):
    _, manifests, _ = corpus
    pack = tmp_path / "pack"
    assert main([str(manifests), str(pack), "--codec", "flac", "--part-mb", "0.02"]) == 0
    shutil.rmtree(pack / "part-002")
    assert main(["--relocate", str(pack)]) == 1
    error = capsys.readouterr().err
    assert "part-002 (0 of 1 files" in error and "fix: copy them there again" in error


def test_missing_audio_and_wrong_lengths_name_the_manifest_line(corpus, tmp_path, capsys):
    audio, manifests, lengths = corpus
    (audio / "real" / "d.wav").unlink()
    assert main([str(manifests), str(tmp_path / "pack"), "--workers", "1"]) == 1
    error = capsys.readouterr().err
    assert f"{manifests / 'finetune' / 'test.tsv'}:3: cannot read" in error
    assert "check_data" in error

    write_manifest(manifests / "finetune" / "test.tsv", audio,
                   [("real/c.wav", lengths["real/c.wav"] + 5)])
    assert main([str(manifests), str(tmp_path / "pack2"), "--workers", "1"]) == 1
    error = capsys.readouterr().err
    assert "same file" in error and "test.tsv:2" in error


def test_parts_fill_in_order_up_to_the_cap():
    items = [type("Item", (), {"packed": name})() for name in "abcde"]
    parts = assign_parts(zip(items, [4, 4, 4, 9, 1]), part_bytes=8)
    assert [parts[name] for name in "abcde"] == [
        "part-000", "part-000", "part-001", "part-002", "part-003"]


def test_flac_keeps_full_scale_16_and_24_bit_samples_exactly_and_refuses_float(tmp_path,
                                                                              capsys):
    rng = np.random.default_rng(0)
    audio = tmp_path / "audio"
    audio.mkdir()
    full16 = rng.integers(-32768, 32768, RATE, dtype=np.int16)
    full16[:2] = [-32768, 32767]
    sf.write(audio / "a16.wav", full16, RATE, subtype="PCM_16")
    full24 = rng.integers(-2**23, 2**23, RATE).astype(np.int32) * 256  # 24 bits, left-aligned
    sf.write(audio / "b24.wav", full24, RATE, subtype="PCM_24")
    write_manifest(tmp_path / "m" / "train.tsv", audio, [("a16.wav", RATE), ("b24.wav", RATE)])
    assert main([str(tmp_path / "m"), str(tmp_path / "pack"), "--workers", "1"]) == 0
    root, entries = read_manifest(tmp_path / "pack" / "manifests" / "train.tsv")
    np.testing.assert_array_equal(sf.read(root / entries[0][0], dtype="int16")[0], full16)
    np.testing.assert_array_equal(sf.read(root / entries[1][0], dtype="int32")[0], full24)
    assert sf.info(str(root / entries[1][0])).subtype == "PCM_24"

    sf.write(audio / "c.wav", rng.standard_normal(RATE).astype(np.float32) * 0.1, RATE,
             subtype="FLOAT")
    write_manifest(tmp_path / "m2" / "train.tsv", audio, [("c.wav", RATE)])
    assert main([str(tmp_path / "m2"), str(tmp_path / "pack2"), "--workers", "1"]) == 1
    error = capsys.readouterr().err
    assert "train.tsv:2" in error and "FLOAT samples" in error and "--codec opus" in error


def test_an_interrupted_pack_resumes_only_with_the_same_settings(corpus, tmp_path):
    _, manifests, _ = corpus
    pack = tmp_path / "pack"
    staged = pack / ".staging" / "synth" / "a.ogg"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"made with another level")
    (pack / ".staging" / "settings.json").write_text('{"codec": "opus", "level": 1.0}')
    assert main([str(manifests), str(pack), "--codec", "opus", "--workers", "1"]) == 0
    root, entries = read_manifest(pack / "manifests" / "pretrain" / "train.tsv")
    assert sf.info(str(root / entries[0][0])).frames == entries[0][1]  # re-encoded


def test_a_folder_holding_a_pack_is_refused_not_mixed(corpus, tmp_path, capsys):
    _, manifests, _ = corpus
    pack = tmp_path / "pack"
    assert main([str(manifests), str(pack), "--workers", "1"]) == 0
    assert main([str(manifests), str(pack), "--codec", "opus", "--workers", "1"]) == 1
    error = capsys.readouterr().err
    assert f"{pack} already holds a pack" in error and "fix: remove it" in error
    assert not list(pack.rglob("*.ogg"))


def test_two_files_that_would_pack_to_one_name_are_refused(tmp_path, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    for name, file_format in (("a.wav", "WAV"), ("a.flac", "FLAC")):
        sf.write(audio / name, speech_like(0.5, 0), RATE, format=file_format, subtype="PCM_16")
    write_manifest(tmp_path / "m" / "train.tsv", audio,
                   [("a.wav", RATE // 2), ("a.flac", RATE // 2)])
    assert main([str(tmp_path / "m"), str(tmp_path / "pack")]) == 1
    error = capsys.readouterr().err
    assert "train.tsv:3" in error and "would both be packed as a.flac" in error


def test_linked_audio_is_packed_under_its_manifest_path(corpus, tmp_path):
    audio, manifests, lengths = corpus
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(audio / "real" / "d.wav", elsewhere / "d.wav")
    (audio / "real" / "d.wav").symlink_to(elsewhere / "d.wav")
    assert main([str(manifests), str(tmp_path / "pack"), "--workers", "1"]) == 0
    _, entries = read_manifest(tmp_path / "pack" / "manifests" / "finetune" / "test.tsv")
    assert entries[1] == ("part-000/real/d.flac", lengths["real/d.wav"])


def test_relocate_refuses_a_part_that_arrived_cut_short(corpus, tmp_path, capsys):
    _, manifests, _ = corpus
    pack = tmp_path / "pack"
    assert main([str(manifests), str(pack), "--workers", "1"]) == 0
    copy = next((pack / "part-000").rglob("*.flac"))
    copy.write_bytes(copy.read_bytes()[:100])
    assert main(["--relocate", str(pack)]) == 1
    error = capsys.readouterr().err
    assert "part-000 (4 of 4 files" in error and "fix: copy them there again" in error
