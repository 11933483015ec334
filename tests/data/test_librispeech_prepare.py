"""examples/librispeech/prepare.sh on a fake LibriSpeech tree, checked against fairseq's tools."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
from fairseq.data import Dictionary

from birq_fairseq.data.librispeech import build_subset
from birq_fairseq.data.manifests import read_manifest
from tests.fake_librispeech import make_librispeech

REPO = Path(__file__).resolve().parents[2]
PREPARE = REPO / "examples" / "librispeech" / "prepare.sh"
LIBRI_LABELS = Path(sys.modules["fairseq"].__file__).parent / "examples/wav2vec/libri_labels.py"

# split -> {speaker: chapter}; train-clean-100 and the dev/test sets have two speakers.
LAYOUT = {
    "train-clean-100": {"19": "198", "26": "495"},
    "train-clean-360": {"100": "121669"},
    "train-other-500": {"20": "205"},
    "dev-clean": {"84": "121123", "174": "50561"},
    "test-clean": {"61": "70968", "121": "121726"},
}
UTTERANCES_PER_CHAPTER = 3
OUTPUTS = [
    f"{name}.{suffix}"
    for name in (
        "train_clean_100",
        "train_clean_360",
        "train_other_500",
        "train_960",
        "train_10h",
        "dev_clean",
        "test_clean",
    )
    for suffix in ("tsv", "wrd", "ltr")
] + ["dict.ltr.txt"]


def run_prepare(root: Path, dest: Path, *extra: str) -> str:
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(PREPARE), str(root), str(dest), *extra],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    base = tmp_path_factory.mktemp("libri")
    transcripts = make_librispeech(base / "LibriSpeech", LAYOUT, UTTERANCES_PER_CHAPTER)
    log = run_prepare(base / "LibriSpeech", base / "out")
    return base / "LibriSpeech", base / "out", transcripts, log


def test_all_outputs_exist_and_missing_splits_are_ignored(prepared):
    _, dest, _, log = prepared
    assert sorted(p.name for p in dest.iterdir()) == sorted(OUTPUTS)
    assert "dev_other" not in log.split("splits found:")[1].splitlines()[0]


def test_manifests_index_every_flac_with_its_length(prepared):
    root, dest, _, _ = prepared
    for split in ("train-clean-100", "dev-clean", "test-clean"):
        manifest_root, entries = read_manifest(dest / f"{split.replace('-', '_')}.tsv")
        assert manifest_root == (root / split).resolve()
        flacs = sorted(
            p.relative_to(manifest_root).as_posix() for p in manifest_root.rglob("*.flac")
        )
        assert sorted(rel for rel, _ in entries) == flacs
        for rel, n_samples in entries:
            assert n_samples == sf.info(manifest_root / rel).frames


def test_labels_equal_fairseq_libri_labels(prepared, tmp_path):
    _, dest, transcripts, _ = prepared
    for name in ("train_clean_100", "dev_clean", "test_clean", "train_960"):
        subprocess.run(
            [
                sys.executable,
                str(LIBRI_LABELS),
                str(dest / f"{name}.tsv"),
                "--output-dir",
                str(tmp_path),
                "--output-name",
                name,
            ],
            check=True,
        )
        for suffix in ("wrd", "ltr"):
            ours = (dest / f"{name}.{suffix}").read_text()
            assert ours == (tmp_path / f"{name}.{suffix}").read_text(), (name, suffix)
        _, entries = read_manifest(dest / f"{name}.tsv")
        words = (dest / f"{name}.wrd").read_text().splitlines()
        assert words == [transcripts[Path(rel).name.split(".")[0]] for rel, _ in entries]


def test_train_960_concatenates_the_train_sets_under_the_common_root(prepared):
    root, dest, _, _ = prepared
    manifest_root, entries = read_manifest(dest / "train_960.tsv")
    assert manifest_root == root.resolve()
    expected = []
    for part in ("train-clean-100", "train-clean-360", "train-other-500"):
        _, part_entries = read_manifest(dest / f"{part.replace('-', '_')}.tsv")
        expected += [(f"{part}/{rel}", n) for rel, n in part_entries]
    assert entries == expected
    for rel, n_samples in entries:
        assert sf.info(manifest_root / rel).frames == n_samples


def test_train_10h_subset(prepared, tmp_path):
    _, dest, _, _ = prepared
    # The fake train-clean-100 is far below 10 h, so the subset is all of it.
    for suffix in ("tsv", "wrd", "ltr"):
        assert (dest / f"train_10h.{suffix}").read_text() == (
            dest / f"train_clean_100.{suffix}"
        ).read_text()

    # With a small budget: utterances in manifest order, labels aligned, just over budget.
    root, entries = read_manifest(dest / "train_clean_100.tsv")
    words = (dest / "train_clean_100.wrd").read_text().splitlines()
    budget_hours = 1.5 / 3600  # 1.5 s
    hours = build_subset(dest / "train_clean_100.tsv", tmp_path / "small", budget_hours, seed=3)
    _, chosen = read_manifest(tmp_path / "small.tsv")
    indices = [entries.index(entry) for entry in chosen]
    assert indices == sorted(indices)
    assert (tmp_path / "small.wrd").read_text().splitlines() == [words[i] for i in indices]
    seconds = sum(n for _, n in chosen) / 16000
    assert seconds == pytest.approx(hours * 3600)
    longest = max(n for _, n in entries) / 16000
    assert 1.5 <= seconds < 1.5 + longest  # stops at the first utterance reaching the budget
    again = build_subset(dest / "train_clean_100.tsv", tmp_path / "again", budget_hours, seed=3)
    assert (
        again == hours
        and (tmp_path / "again.tsv").read_text() == (tmp_path / "small.tsv").read_text()
    )


def test_dictionary_counts_train_clean_100_letters(prepared):
    _, dest, _, _ = prepared
    letters = Counter((dest / "train_clean_100.ltr").read_text().split())
    dictionary = Dictionary.load(str(dest / "dict.ltr.txt"))
    assert {
        dictionary[i]: dictionary.count[i] for i in range(dictionary.nspecial, len(dictionary))
    } == letters
    counts = [dictionary.count[i] for i in range(dictionary.nspecial, len(dictionary))]
    assert counts == sorted(counts, reverse=True)


def test_rerun_skips_every_stage(prepared):
    root, dest, _, _ = prepared
    mtimes = {p: p.stat().st_mtime_ns for p in dest.iterdir()}
    log = run_prepare(root, dest)
    assert {p: p.stat().st_mtime_ns for p in dest.iterdir()} == mtimes
    assert log.count("  skip ") == 3 + 2 * len(LAYOUT)  # 960, 10h, dict + tsv/labels per split


def test_stage_from_reruns_only_later_stages(prepared):
    root, dest, _, _ = prepared
    (dest / "dict.ltr.txt").unlink()
    (dest / "dev_clean.tsv").unlink()
    log = run_prepare(root, dest, "3")
    assert "stage 1" not in log and "stage 3" in log
    assert (dest / "dict.ltr.txt").exists() and not (dest / "dev_clean.tsv").exists()
    run_prepare(root, dest)
    assert (dest / "dev_clean.tsv").exists()


def test_usage_error_without_arguments():
    result = subprocess.run(["bash", str(PREPARE)], capture_output=True, text=True)
    assert result.returncode != 0 and "Usage: prepare.sh" in result.stderr
