"""``python -m birq_fairseq.check_data``: each kind of bad input is reported at its file and
line with a fix, a clean set passes, and the pretraining task refuses a malformed manifest.

Most cases call ``main`` in-process, which is faster; the exit-status tests go through a real
subprocess.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fairseq.tasks import setup_task
from omegaconf import OmegaConf

from birq_fairseq.check_data import main
from birq_fairseq.data.manifest_checks import (
    DEFAULT_MIN_SAMPLES,
    check_manifest_header_and_columns,
    check_split,
)
from birq_fairseq.modules.logmel import LogMelFrontend
from birq_fairseq.tasks.birq_pretraining import BirqPretrainingConfig, BirqPretrainingTask

RATE = 16_000
FRAMES = [16_000, 12_000, 8_000]  # the clean set's utterances
WORDS = ["A CAB", "BAD", "CAB A"]
REPO = Path(__file__).resolve().parents[2]


def write_audio(path: Path, frames: int, rate: int = RATE, channels: int = 1, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    signal = np.random.default_rng(frames).uniform(-0.3, 0.3, (frames, channels))
    sf.write(path, signal.astype(np.float32), rate, **kwargs)


def letters(words: str) -> str:
    return " ".join(" ".join(word) + " |" for word in words.split())


@pytest.fixture
def data(tmp_path) -> Path:
    """A clean set: ``train.tsv`` (line 1 the root, lines 2-4 ``uttN.wav``), aligned
    ``train.ltr`` / ``train.wrd`` and ``dict.ltr.txt``."""
    audio = tmp_path / "audio"
    for i, frames in enumerate(FRAMES):
        write_audio(audio / f"utt{i}.wav", frames)
    data = tmp_path / "data"
    data.mkdir()
    lines = [str(audio)] + [f"utt{i}.wav\t{frames}" for i, frames in enumerate(FRAMES)]
    (data / "train.tsv").write_text("\n".join(lines) + "\n")
    (data / "train.wrd").write_text("\n".join(WORDS) + "\n")
    (data / "train.ltr").write_text("\n".join(map(letters, WORDS)) + "\n")
    (data / "dict.ltr.txt").write_text("| 5\nA 5\nB 3\nC 2\nD 1\n")
    return data


def set_line(path: Path, line: int, text: str) -> None:
    """Replace 1-based ``line`` of ``path``."""
    lines = path.read_text().split("\n")
    lines[line - 1] = text
    path.write_text("\n".join(lines))


def run(capsys, data: Path, *args: str) -> tuple[int, str]:
    """The CLI in-process: exit status and stdout."""
    code = main([str(data), "--split", "train", *args])
    return code, capsys.readouterr().out


def run_subprocess(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "birq_fairseq.check_data", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_reported(output: str, where: str, severity: str, *words: str) -> None:
    """``where: severity: ...; fix: ...`` is a line of ``output`` containing ``words``."""
    lines = [line for line in output.splitlines() if line.startswith(f"{where}: {severity}: ")]
    assert lines, f"nothing reported at {where}:\n{output}"
    assert any("; fix: " in line and all(w in line for w in words) for line in lines), output


# Exit status through a real interpreter.


def test_clean_set_passes_with_status_0(data):
    result = run_subprocess(str(data), "--split", "train", "--labels", "ltr,wrd")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{data / 'train.tsv'}: 3 utterances, 0 errors, 0 warnings" in result.stdout
    assert "OK" in result.stdout


def test_bad_set_fails_with_status_1_naming_file_and_line(data):
    set_line(data / "train.tsv", 3, "utt1.wav\t12000\textra")

    result = run_subprocess(str(data), "--split", "train")

    assert result.returncode == 1
    assert_reported(result.stdout, f"{data / 'train.tsv'}:3", "error", "2 tab-separated columns")
    assert "columns 1" in result.stdout and "FAILED" in result.stdout


def test_usage_error_exits_2(tmp_path):
    result = run_subprocess(str(tmp_path / "no_such_folder"), "--split", "train")

    assert result.returncode == 2
    assert "usage:" in result.stderr and "not a directory" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],  # no --split
        ["--split", "train", "--labels", "ltr,../x"],
        ["--split", "train", "--workers", "0"],
        ["--split", "train", "--sample-rate", "-1"],
        ["--split", "train", "--min-samples", "many"],
    ],
)
def test_bad_options_exit_2(data, args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(data), *args])
    assert exit_info.value.code == 2


# The manifest's text.


def test_empty_manifest_has_no_header(data, capsys):
    (data / "train.tsv").write_text("")

    code, out = run(capsys, data, "--labels", "")

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:1", "error", "empty", "audio root directory")


def test_header_that_is_not_a_directory(data, capsys):
    set_line(data / "train.tsv", 1, str(data / "no_such_folder"))

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:1", "error", "no_such_folder", "not an existing")


def test_header_that_is_an_entry(data, capsys):
    (data / "train.tsv").write_text("utt0.wav\t16000\nutt1.wav\t12000\n")

    code, out = run(capsys, data, "--labels", "")

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:1", "error", "an entry", "insert")


def test_wrong_number_of_columns(data, capsys):
    set_line(data / "train.tsv", 3, "utt1.wav 12000")  # spaces, not a tab

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:3", "error", "found 1", "spaces instead of a tab")


@pytest.mark.parametrize("size", ["abc", "12.5", "0", "-16000", "1e4"])
def test_size_that_is_not_a_positive_integer(data, capsys, size):
    set_line(data / "train.tsv", 4, f"utt2.wav\t{size}")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:4", "error", repr(size), "positive integer")


def test_blank_line(data, capsys):
    tsv = data / "train.tsv"
    tsv.write_text(tsv.read_text() + "\n")  # an empty line 5

    code, out = run(capsys, data, "--labels", "")

    assert code == 1
    assert_reported(out, f"{tsv}:5", "error", "blank line", "delete it")


def test_line_that_is_not_utf8(data, capsys):
    tsv = data / "train.tsv"
    tsv.write_bytes(tsv.read_bytes().replace(b"utt1.wav", b"utt\xff.wav"))

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{tsv}:3", "error", "UTF-8")


def test_utterance_too_short_for_one_label_frame(data, capsys):
    write_audio(data.parent / "audio" / "utt1.wav", DEFAULT_MIN_SAMPLES - 1)
    set_line(data / "train.tsv", 3, f"utt1.wav\t{DEFAULT_MIN_SAMPLES - 1}")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:3", "error", "879 samples", "task.min_sample_size")
    # One sample more is enough.
    write_audio(data.parent / "audio" / "utt1.wav", DEFAULT_MIN_SAMPLES)
    set_line(data / "train.tsv", 3, f"utt1.wav\t{DEFAULT_MIN_SAMPLES}")
    assert run(capsys, data)[0] == 0


def test_default_min_samples_is_one_label_frame_of_the_frontend():
    assert DEFAULT_MIN_SAMPLES == LogMelFrontend(sample_rate=RATE).min_samples()


# The audio files.


def test_size_that_disagrees_with_the_file(data, capsys):
    set_line(data / "train.tsv", 3, "utt1.wav\t12345")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:3", "error", "12345", "set the size to 12000")


def test_missing_audio(data, capsys):
    (data.parent / "audio" / "utt2.wav").unlink()

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:4", "error", "utt2.wav", "does not exist")


def test_corrupt_audio(data, capsys):
    path = data.parent / "audio" / "utt0.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4000))

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:2", "error", "cannot open", str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_audio(data, capsys):
    (data.parent / "audio" / "utt0.wav").chmod(0)

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:2", "error", "cannot open", "permissions")


def test_truncated_wav(data, capsys):
    path = data.parent / "audio" / "utt1.wav"
    path.write_bytes(path.read_bytes()[:-1000])  # the manifest still says 12000 samples

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:3", "error", "truncated", str(path))


def test_streamed_wav_with_a_placeholder_size_is_not_truncated(data, capsys):
    """``sox ... -t wav - | cat > file`` leaves 0x7FFFF000 as the data size: a valid file."""
    path = data.parent / "audio" / "utt1.wav"
    wav = bytearray(path.read_bytes())
    size_at = wav.index(b"data") + 4
    wav[size_at : size_at + 4] = (0x7FFFF000).to_bytes(4, "little")
    path.write_bytes(bytes(wav))

    code, out = run(capsys, data)

    assert code == 0, out


def test_truncated_flac(data, capsys):
    path = data.parent / "audio" / "utt1.flac"
    write_audio(path, 12_000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    set_line(data / "train.tsv", 3, "utt1.flac\t12000")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.tsv'}:3", "error", "truncated", "last frames")


def test_wrong_sample_rate(data, capsys):
    write_audio(data.parent / "audio" / "utt1.wav", 6000, rate=8000)
    set_line(data / "train.tsv", 3, "utt1.wav\t6000")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(
        out, f"{data / 'train.tsv'}:3", "error", "8000 Hz", "16000 Hz", "prepare_corpus", "sox"
    )


def test_multi_channel_audio_is_a_warning(data, capsys):
    write_audio(data.parent / "audio" / "utt0.wav", 16_000, channels=2)

    code, out = run(capsys, data)

    assert code == 0
    assert_reported(out, f"{data / 'train.tsv'}:2", "warning", "2 channels", "averages", "mono")
    assert "1 warning (multi-channel 1)" in out


def test_no_audio_skips_the_audio_files_only(data, capsys):
    (data.parent / "audio" / "utt0.wav").write_bytes(b"not audio")
    set_line(data / "train.tsv", 3, "utt1.wav\tabc")

    code, out = run(capsys, data, "--no-audio")

    assert code == 1
    assert "cannot open" not in out
    assert_reported(out, f"{data / 'train.tsv'}:3", "error", "positive integer")


def test_output_order_does_not_depend_on_the_threads(tmp_path):
    audio = tmp_path / "audio"
    lines = [str(audio)]
    for i in range(60):
        rate = 8000 if i % 3 == 0 else RATE
        write_audio(audio / f"u{i}.wav", 2000 + i, rate=rate, channels=1 + (i % 5 == 0))
        lines.append(f"u{i}.wav\t{2000 + i + (i % 7 == 0)}")
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")

    one = check_split(tmp_path, "train", workers=1)
    many = check_split(tmp_path, "train", workers=16)

    assert one.errors == many.errors and one.warnings == many.warnings
    assert [p.line for p in one.errors] == sorted(p.line for p in one.errors)
    assert one.counts == {"sample-rate": 20, "size-mismatch": 9, "multi-channel": 12}


# The labels.


@pytest.mark.parametrize("label", ["ltr", "wrd"])
def test_label_file_with_a_line_missing(data, capsys, label):
    path = data / f"train.{label}"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{path}:3", "error", "2 lines", "has 3 after its header", "regenerate")


def test_label_file_with_an_extra_line(data, capsys):
    path = data / "train.ltr"
    path.write_text(path.read_text() + "A |\n")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{path}:4", "error", "4 lines", "has 3 after its header")


def test_symbol_missing_from_the_dictionary(data, capsys):
    set_line(data / "train.ltr", 2, "B A É |")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'train.ltr'}:2", "error", "'É'", "dict.ltr.txt", "normalise")


def test_missing_letter_dictionary(data, capsys):
    (data / "dict.ltr.txt").unlink()

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, str(data / "dict.ltr.txt"), "error", "no letter dictionary")


def test_malformed_dictionary_line(data, capsys):
    set_line(data / "dict.ltr.txt", 3, "B")

    code, out = run(capsys, data)

    assert code == 1
    assert_reported(out, f"{data / 'dict.ltr.txt'}:3", "error", "SYMBOL COUNT")


def test_empty_label_line_is_a_warning(data, capsys):
    set_line(data / "train.ltr", 3, "")

    code, out = run(capsys, data)

    assert code == 0
    assert_reported(out, f"{data / 'train.ltr'}:3", "warning", "empty transcript", "line 4")


def test_named_labels_must_exist_and_others_are_optional(data, capsys):
    (data / "train.wrd").unlink()

    assert run(capsys, data)[0] == 0  # pretraining needs no labels
    code, out = run(capsys, data, "--labels", "ltr,wrd")
    assert code == 1
    assert_reported(out, str(data / "train.wrd"), "error", "no wrd labels")


# Several splits, and the summary.


def test_several_splits_are_summarised_separately_and_together(data, capsys):
    (data / "valid.tsv").write_text((data / "train.tsv").read_text())
    set_line(data / "valid.tsv", 2, "utt0.wav\t1")
    set_line(data / "valid.tsv", 3, "utt1.wav\t2")

    code = main([str(data), "--split", "train", "--split", "valid", "--split", "test"])
    out = capsys.readouterr().out

    assert code == 1
    assert f"{data / 'train.tsv'}: 3 utterances, 0 errors, 0 warnings" in out
    assert f"{data / 'valid.tsv'}: 3 utterances, 4 errors (size-mismatch 2, too-short 2)" in out
    assert_reported(out, str(data / "test.tsv"), "error", "no manifest", "train, valid")
    assert "FAILED: 5 error(s) in 3 split(s)" in out


# The pretraining task.


def make_task(data: Path) -> BirqPretrainingTask:
    """The task as ``fairseq-hydra-train`` builds it: from a structured config with its name
    (``seed`` given, as it interpolates ``common.seed`` otherwise)."""
    config = BirqPretrainingConfig(_name="birq_pretraining", data=str(data), seed=1)
    return setup_task(OmegaConf.structured(config))


def test_task_refuses_a_manifest_with_a_bad_header(data):
    set_line(data / "train.tsv", 1, str(data / "no_such_folder"))
    task = make_task(data)

    with pytest.raises(ValueError, match=r"train\.tsv:1: error: .*no_such_folder") as error:
        task.load_dataset("train")
    assert "python -m birq_fairseq.check_data" in str(error.value)


def test_task_lists_ten_problems_and_counts_the_rest(data):
    tsv = data / "train.tsv"
    tsv.write_text(tsv.read_text() + "".join(f"x{i}.wav\tbad\n" for i in range(12)))
    task = make_task(data)

    with pytest.raises(ValueError) as error:
        task.load_dataset("train")
    message = str(error.value)
    assert f"{tsv}:14: error" in message and f"{tsv}:15: error" not in message
    assert "... and 2 more" in message


def test_task_loads_a_clean_manifest_as_before(data):
    assert check_manifest_header_and_columns(data / "train.tsv") == []
    task = make_task(data)

    task.load_dataset("train")

    assert list(task.datasets["train"].sizes) == FRAMES
