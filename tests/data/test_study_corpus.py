"""A tiny build of the study corpus: audio format, held-out texts and voices, labelled
subsets, phone alignments, the summary, restartable stages and reproducible rebuilds."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from birq_fairseq.alignment.phone_alignments import (
    num_phone_frames,
    read_alignments,
    utterance_id,
)
from birq_fairseq.data.audio_io import convert_to_wav16
from birq_fairseq.data.demo_corpus import ASTERISK_SOUNDS, HELD_OUT_ACCENTS
from birq_fairseq.data.manifests import read_manifest
from birq_fairseq.data.study_corpus import (
    AUGMENTED,
    LAST_STAGE,
    MAX_PIECE_SECONDS,
    StudyOptions,
    StudyUtterance,
    build_study_corpus,
    convert_piece,
    pieces_of,
    produce_pieces,
    read_plan,
    study_voices,
    synthetic_plan,
    voice_pools,
)
from birq_fairseq.data.text_normalization import words_to_letters

NEEDS = {"espeak-ng": shutil.which("espeak-ng"), "sox": shutil.which("sox"),
         "asterisk-core-sounds-en-wav": ASTERISK_SOUNDS.is_dir()}
pytestmark = pytest.mark.skipif(not all(NEEDS.values()),
                                reason=f"needs {', '.join(k for k, v in NEEDS.items() if not v)}")

TINY = StudyOptions(hours_synthetic=0.04, real_limit=12, languages=("fr",),
                    augment_fraction=0.3, seed=1)
LABELLED = ("finetune_10min", "finetune_1h")
HELD_OUT = ("valid", "test_synth", "test_real")
AUDIO_STAGES = (2, 3, 4, 5)  # stages that make files
TRAINING = ["pretrain/train", *(f"{folder}/train" for folder in LABELLED)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "corpus"
    build_study_corpus(out, TINY)
    return out


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def entries(out: Path, split: str) -> list[tuple[str, int]]:
    return read_manifest(out / "manifests" / f"{split}.tsv")[1]


def paths(out: Path, split: str) -> set[str]:
    return {rel for rel, _ in entries(out, split)}


def planned(out: Path) -> dict[str, StudyUtterance]:
    return {u.rel_path: u for u in read_plan(out / "plan.jsonl")[1]}


def file_bytes(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob(pattern))}


@pytest.mark.slow
def test_every_wav_is_16k_mono_and_matches_its_manifest(built):
    for split in summary_of(built):
        root, rows = read_manifest(built / "manifests" / f"{split}.tsv")
        assert root == (built / "audio").resolve()
        for rel_path, n_samples in rows:
            info = sf.info(root / rel_path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert info.frames == n_samples and 0.5 <= n_samples / 16000 <= 15.0


@pytest.mark.slow
def test_summary_equals_what_the_manifests_say(built):
    summary = summary_of(built)
    plan = planned(built)
    assert set(summary) == {"pretrain/train", "pretrain/valid",
                            *(f"{f}/{s}" for f in LABELLED for s in ("train", *HELD_OUT))}
    for split, row in summary.items():
        rows = entries(built, split)
        members = [plan[rel] for rel, _ in rows]
        assert row["utterances"] == len(rows)
        assert row["hours"] == pytest.approx(sum(n for _, n in rows) / 16000 / 3600)
        for origin, prefix in (("real", "real/"), ("synthetic", "synth/"), (AUGMENTED, "aug/")):
            of_origin = [n for rel, n in rows if rel.startswith(prefix)]
            assert row[origin]["utterances"] == len(of_origin)
            assert row[origin]["hours"] == pytest.approx(sum(of_origin) / 16000 / 3600)
        assert row["voices"] == len({u.voice for u in members if u.voice})
        assert row["speakers"] == len({u.speaker for u in members if not u.voice})
        assert row["languages"] == sorted({u.language for u in members})
    pretrain = summary["pretrain/train"]
    assert all(pretrain[origin]["utterances"] > 0 for origin in ("real", "synthetic", AUGMENTED))
    assert pretrain["languages"] == ["en", "fr"]
    for split in ("pretrain/valid", "finetune_1h/test_synth", "finetune_1h/test_real"):
        assert summary[split]["utterances"] > 0, split


@pytest.mark.slow
def test_test_and_valid_sets_share_no_text_and_no_voice_with_training(built):
    plan = planned(built)

    def texts(splits):
        return {plan[rel].text for split in splits for rel in paths(built, split)}

    def voices(splits):
        return {plan[rel].speaker for split in splits for rel in paths(built, split)}

    train = TRAINING
    for folder in LABELLED:
        tests = [f"{folder}/test_synth", f"{folder}/test_real"]
        valid = [f"{folder}/valid"]
        assert not texts(tests) & texts(train + valid)
        assert not texts(valid) & texts(train)
        synthetic_test_voices = voices([f"{folder}/test_synth"])
        assert not synthetic_test_voices & voices(train + valid)
        assert not voices(valid) - {"Allison"} & voices(train)  # real prompts: one speaker
        for voice in synthetic_test_voices:
            assert voice in study_voices(held_out=True)
        assert not paths(built, f"{folder}/test_real") & paths(built, "pretrain/train")
    assert paths(built, "pretrain/valid") == paths(built, "finetune_1h/valid")
    assert all(rel.startswith("real/librivox/") or rel.startswith("real/asterisk/")
               for rel in paths(built, "finetune_1h/test_real"))


@pytest.mark.slow
def test_labelled_sets_are_nested_subsets_of_pretraining_sources(built):
    pretrain = paths(built, "pretrain/train")
    ten_minutes, one_hour = (paths(built, f"{f}/train") for f in LABELLED)
    assert ten_minutes <= one_hour <= pretrain
    assert not any(rel.startswith("aug/") for rel in one_hour)
    plan = planned(built)
    assert {plan[rel].origin for rel in one_hour} == {"real", "synthetic"}
    assert {plan[rel].language for rel in one_hour} == {"en"}
    assert not any(plan[rel].is_piece for rel in one_hour)
    for copy in (u for u in plan.values() if u.origin == AUGMENTED):
        if copy.rel_path in pretrain:
            assert f"{copy.base}.wav" in pretrain
    for folder in LABELLED:
        dictionary = (built / "manifests" / folder / "dict.ltr.txt").read_text()
        assert dictionary == (built / "manifests/finetune_1h/dict.ltr.txt").read_text()
        symbols = {line.split()[0] for line in dictionary.splitlines()}
        for split in ("train", *HELD_OUT):
            prefix = built / "manifests" / folder / split
            words = prefix.with_suffix(".wrd").read_text().splitlines()
            letters = prefix.with_suffix(".ltr").read_text().splitlines()
            assert len(words) == len(letters) == len(entries(built, f"{folder}/{split}"))
            assert letters == [words_to_letters(line) for line in words]
            assert {s for line in letters for s in line.split()} <= symbols


@pytest.mark.slow
def test_phone_alignments_cover_their_splits_with_skips_counted(built):
    summary = summary_of(built)
    plan = planned(built)
    aligned_splits = ["pretrain/valid", *(f"{f}/{s}" for f in LABELLED for s in ("train",
                                                                                  *HELD_OUT))]
    for split in aligned_splits:
        rows = dict(entries(built, split))
        alignments = read_alignments(built / "manifests" / f"{split}.phn")
        by_uid = {utterance_id(rel): n for rel, n in rows.items()}
        assert set(alignments) <= set(by_uid)
        assert summary[split]["aligned"] == len(alignments)
        skipped = [rel for rel in rows if utterance_id(rel) not in alignments]
        assert all(plan[rel].origin == "real" for rel in skipped), split  # espeak always aligns
        assert len(skipped) <= len(rows) // 2, split
        for uid, phones in alignments.items():
            assert len(phones) == num_phone_frames(by_uid[uid], 16000)
    assert not (built / "manifests/pretrain/train.phn").exists()


@pytest.mark.slow
def test_rerun_of_each_stage_does_no_work_and_reproduces_the_manifests(built):
    manifests = file_bytes(built / "manifests", "*.*")
    audio = {p: p.stat().st_mtime_ns for p in (built / "audio").rglob("*")}
    summary = (built / "summary.json").read_bytes()

    work = build_study_corpus(built, TINY, stage=1, stop_stage=LAST_STAGE)

    assert all(work[stage] == 0 for stage in (1, *AUDIO_STAGES)), work
    assert {p: p.stat().st_mtime_ns for p in (built / "audio").rglob("*")} == audio
    assert file_bytes(built / "manifests", "*.*") == manifests
    assert (built / "summary.json").read_bytes() == summary


@pytest.mark.slow
def test_later_stages_refuse_options_that_differ_from_the_plan(built):
    other = replace(TINY, seed=2)
    with pytest.raises(ValueError, match="other options|--stage 1"):
        build_study_corpus(built, other, stage=3, stop_stage=3)


@pytest.mark.slow
def test_rebuild_elsewhere_makes_the_same_files(built, tmp_path):
    again = tmp_path / "again"
    build_study_corpus(again, TINY)

    assert file_bytes(again / "audio", "*.wav") == file_bytes(built / "audio", "*.wav")
    assert file_bytes(again / "audio", "*.phn") == file_bytes(built / "audio", "*.phn")
    assert (again / "plan.jsonl").read_bytes() == (built / "plan.jsonl").read_bytes()
    for name, content in file_bytes(built / "manifests", "*.*").items():
        rebuilt = (again / "manifests" / name).read_bytes()
        if name.endswith(".tsv"):  # line 1 is the absolute audio folder
            rebuilt, content = rebuilt.split(b"\n", 1)[1], content.split(b"\n", 1)[1]
        assert rebuilt == content, name


def test_voice_pools_are_disjoint_and_test_voices_use_unseen_accents_or_variants():
    pools = voice_pools(seed=1)
    train, valid, test = (set(pools[role]) for role in ("train", "valid", "test"))
    assert train and valid and test
    assert not train & valid and not (train | valid) & test
    seen = {part for voice in train | valid for part in voice.split("+")}
    for voice in test:
        accent, variant = voice.split("+")
        assert accent not in seen or variant not in seen
    assert all(accent not in seen for accent in HELD_OUT_ACCENTS)
    assert len(train) > 100  # widened beyond the demo's 36 training voices


def test_synthetic_plan_is_deterministic_and_extends_with_more_hours():
    roles = {"HELLO THERE MY FRIEND": "test", "PLEASE HOLD THE LINE": "train"}
    short = synthetic_plan(0.02, seed=3, text_roles=roles)
    longer = synthetic_plan(0.05, seed=3, text_roles=roles)
    assert short == synthetic_plan(0.02, seed=3, text_roles=roles)
    assert longer[: len(short)] == short and len(longer) > len(short)
    assert len({u.text for u in longer}) == len(longer)
    pools = voice_pools(seed=3)
    for utterance in longer:
        assert utterance.voice in pools[utterance.role]
        if utterance.text in roles:
            assert utterance.role == roles[utterance.text]
        assert 3 <= len(utterance.text.split()) <= 20


def test_a_long_pretraining_recording_is_cut_into_pieces_that_cover_it(tmp_path):
    source = ASTERISK_SOUNDS / "demo-instruct.wav"  # 73 s
    recording = StudyUtterance("real/asterisk/demo-instruct", "SOME WORDS", "real", source)
    pieces = pieces_of(recording)
    assert len(pieces) > 1 and all(p.is_piece and p.text == "" for p in pieces)
    audio = []
    for piece in pieces:
        target = tmp_path / piece.rel_path
        assert convert_piece(source, target, piece.start, piece.stop) == sf.info(target).frames
        assert sf.info(target).frames <= MAX_PIECE_SECONDS * 16000
        audio.append(sf.read(target, dtype="int16")[0])
    whole = tmp_path / "whole.wav"
    convert_to_wav16(source, whole)
    assert np.array_equal(np.concatenate(audio), sf.read(whole, dtype="int16")[0])
    assert pieces_of(replace(recording, role="test")) == [replace(recording, role="test")]
    assert produce_pieces(pieces, tmp_path) == 0  # all made above, none older than the source
