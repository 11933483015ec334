"""Checks of wav2vec manifests, their audio and their label files, before training starts.

fairseq finds most data problems late and obscurely: a malformed manifest line is a bare
``AssertionError`` at load time, a wrong sample rate or an unreadable file kills a data
worker hours into training, a label file one line short shifts every later transcript onto
the wrong audio, and a letter missing from the dictionary silently becomes ``<unk>``.  These
checks find all of them up front and report each as a ``Problem``: the file, the 1-based line,
what is wrong and how to fix it.

Two levels, both on the one manifest parser (``manifests.parse_manifest``, which
``read_manifest`` uses too, so every tool words a bad manifest the same way):

* ``check_manifest_header_and_columns``: manifest syntax only, no audio I/O, cheap enough
  for the pretraining task to run on every ``load_dataset``;
* ``check_split``: everything, opening every audio file (``python -m birq_fairseq.check_data``).

Problem kinds, errors unless marked: ``missing-manifest``, ``encoding``, ``header``,
``blank-line``, ``columns``, ``size``, ``too-short``, ``missing-audio``,
``unreadable-audio``, ``truncated-audio``, ``size-mismatch``, ``sample-rate``,
``multi-channel`` (warning), ``missing-labels``, ``label-count``, ``empty-label`` (warning),
``dictionary``, ``unknown-symbol``.
"""

import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from birq_fairseq.data.manifests import (
    MANIFEST_SUFFIX,
    PREPARE_COMMAND,
    ManifestLine,
    ParsedManifest,
    Problem,
    decoded_lines,
    encoding_problem,
    format_load_error,  # noqa: F401  (the pretraining task imports it from here)
    parse_manifest,
    quoted,
)

DEFAULT_SAMPLE_RATE = 16_000
# LogMelFrontend().min_samples() at 16 kHz: a 400-sample window plus 3 hops of 160 make the
# 4 frames of one 40 ms label frame (kept as a constant so checking data never imports torch).
DEFAULT_MIN_SAMPLES = 880
DEFAULT_LABELS = ("ltr", "wrd")
DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)  # I/O bound: more threads than cores
TAIL_FRAMES = 16  # frames read at the end of each file to catch truncation
PROGRESS_MIN_FILES = 1000  # smaller sets finish before a progress bar would help
CHUNK_FILES = 1024  # files in flight at once, so a huge manifest does not queue a future per line
# fairseq's Dictionary adds these itself; label files may use them without listing them.
SPECIAL_SYMBOLS = frozenset({"<s>", "<pad>", "</s>", "<unk>"})
DICTIONARY_OVERWRITE_FLAG = "#fairseq:overwrite"
# libsndfile logs "data : DECLARED (should be ACTUAL)" when a chunk's header size exceeds the
# bytes left in the file.
DECLARED_VS_ACTUAL = re.compile(r"^(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
# Declared sizes from here up are placeholders that writers streaming to a pipe leave, as they
# cannot seek back to fill in the size (sox writes exactly this), not signs of truncation.
STREAMING_PLACEHOLDER_BYTES = 0x7FFFF000


@dataclass
class CheckReport:
    """Errors (training would fail or learn from wrong data) and warnings (it works, but
    probably not as intended), in a deterministic order, and how many of each kind."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    utterances: int = 0  # well-formed manifest entries

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_errors(self, problems: Sequence[Problem]) -> None:
        self.errors.extend(problems)
        self.counts.update(problem.kind for problem in problems)

    def add_warnings(self, problems: Sequence[Problem]) -> None:
        self.warnings.extend(problems)
        self.counts.update(problem.kind for problem in problems)

    def merge(self, other: "CheckReport") -> None:
        self.add_errors(other.errors)
        self.add_warnings(other.warnings)
        self.utterances += other.utterances


def check_manifest_header_and_columns(path: str | Path) -> list[Problem]:
    """Errors in the manifest's header, columns and size syntax, without any audio I/O.

    Meant for load time: one pass over the text, about a second per million lines, and it
    turns fairseq's bare ``AssertionError`` on the first bad line into a list of fixes.
    """
    return parse_manifest(path).problems


def too_short(path: str, entry: ManifestLine, sample_rate: int, min_samples: int) -> Problem:
    milliseconds = 1000 * entry.num_samples / sample_rate
    return Problem(
        path,
        entry.line,
        "too-short",
        f"{entry.rel_path} has {entry.num_samples} samples ({milliseconds:.0f} ms), fewer than "
        f"the {min_samples} that one label frame of the model needs",
        f"raise task.min_sample_size to {min_samples} to skip it, or remove the line",
    )


def truncation(audio: str, frames: int, extra_info: str) -> str | None:
    """Why ``audio`` looks truncated, or None.

    ``frames`` and ``extra_info`` come from ``soundfile.info``.  Two signs: for WAV / AIFF,
    libsndfile logs a data chunk declaring more bytes than the file holds (and then quietly
    reports only the frames present); for compressed formats, whose frame count comes from the
    header, decoding the last frames fails or comes short.
    """
    for declared, actual in DECLARED_VS_ACTUAL.findall(extra_info):
        if int(actual) < int(declared) < STREAMING_PLACEHOLDER_BYTES:
            return f"its header declares {declared} bytes of audio but only {actual} are there"
    if frames <= 0:
        return None
    start = max(frames - TAIL_FRAMES, 0)
    try:
        tail, _ = sf.read(audio, start=start, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as error:
        return f"decoding its last frames failed ({error})"
    if len(tail) < frames - start:
        return f"its header declares {frames} frames but decoding stops at {start + len(tail)}"
    return None


def check_audio_file(
    path: str, root: str, sample_rate: int, entry: ManifestLine
) -> tuple[list[Problem], list[Problem]]:
    """Errors and warnings of one entry's audio file: that fairseq can open and fully read
    it, at the model's rate, with the length the manifest claims (fairseq batches by it)."""

    def problem(kind: str, message: str, fix: str) -> Problem:
        return Problem(path, entry.line, kind, message, fix)

    audio = os.path.join(root, entry.rel_path)
    if not os.path.isfile(audio):
        return [
            problem(
                "missing-audio",
                f"audio file {audio} does not exist",
                "correct the path (relative to the root on line 1) or remove the line",
            )
        ], []
    try:
        info = sf.info(audio)
    except (RuntimeError, OSError) as error:
        return [
            problem(
                "unreadable-audio",
                f"cannot open {audio} as audio: {error}",
                "check its permissions; if it is corrupt, convert it again from the source "
                f"({PREPARE_COMMAND}) or remove the line",
            )
        ], []
    errors, warnings = [], []
    broken = truncation(audio, info.frames, info.extra_info)
    if broken is not None:
        errors.append(
            problem(
                "truncated-audio",
                f"{audio} is truncated: {broken}",
                f"copy or convert it again from the source ({PREPARE_COMMAND}), or remove the line",
            )
        )
    elif info.frames != entry.num_samples:
        errors.append(
            problem(
                "size-mismatch",
                f"the manifest says {entry.num_samples} samples but {audio} has {info.frames}",
                f"set the size to {info.frames}, or regenerate the manifest with {PREPARE_COMMAND}",
            )
        )
    if info.samplerate != sample_rate:
        errors.append(
            problem(
                "sample-rate",
                f"{audio} is sampled at {info.samplerate} Hz but the model expects {sample_rate} Hz"
                " (fairseq does not resample; it stops with an error)",
                f"resample the corpus with {PREPARE_COMMAND} (writes {DEFAULT_SAMPLE_RATE} Hz "
                f"mono wavs and new manifests), or one file with `sox IN -r {sample_rate} -c 1 "
                "-b 16 OUT.wav` and update the size on this line",
            )
        )
    if info.channels > 1:
        warnings.append(
            problem(
                "multi-channel",
                f"{audio} has {info.channels} channels; the pipeline averages them to mono",
                "nothing is needed; to save disk and I/O, downmix once with `sox IN -c 1 OUT.wav`",
            )
        )
    return errors, warnings


def check_audio_files(
    path: str,
    root: str,
    entries: Sequence[ManifestLine],
    sample_rate: int,
    workers: int,
    progress: bool,
) -> tuple[list[Problem], list[Problem]]:
    """``check_audio_file`` on every entry in a thread pool (the work is file I/O, so threads
    overlap it despite the GIL), collecting results in manifest order whatever finishes first.
    """
    check = partial(check_audio_file, path, root, sample_rate)
    errors: list[Problem] = []
    warnings: list[Problem] = []
    show = progress and len(entries) >= PROGRESS_MIN_FILES
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(
            total=len(entries),
            desc=f"audio of {path}",
            unit="file",
            disable=None if show else True,  # None: only on a terminal
        ) as bar,
    ):
        for start in range(0, len(entries), CHUNK_FILES):
            for file_errors, file_warnings in pool.map(check, entries[start : start + CHUNK_FILES]):
                errors.extend(file_errors)
                warnings.extend(file_warnings)
                bar.update()
    return errors, warnings


def read_dictionary(path: str) -> tuple[set[str], list[Problem]]:
    """The symbols of a fairseq dictionary (``SYMBOL COUNT [#fairseq:overwrite]`` lines, parsed
    as ``Dictionary.add_from_file`` does) plus the specials it adds, and malformed lines."""
    symbols = set(SPECIAL_SYMBOLS)
    problems = []
    for number, text in decoded_lines(path):
        if text is None:
            problems.append(encoding_problem(path, number))
            continue
        fields = text.rstrip().rsplit(" ", 1)
        if len(fields) == 2 and fields[1] == DICTIONARY_OVERWRITE_FLAG:
            fields = fields[0].rsplit(" ", 1)
        if len(fields) != 2 or not fields[0] or not fields[1].lstrip("-").isdigit():
            problems.append(
                Problem(
                    path,
                    number,
                    "dictionary",
                    f"expected 'SYMBOL COUNT', found {quoted(text.rstrip())}",
                    "fix the line, or rewrite the dictionary with "
                    "birq_fairseq.data.manifests.write_letter_dictionary",
                )
            )
        else:
            symbols.add(fields[0])
    return symbols, problems


def check_labels(
    data_dir: str, split: str, label: str, manifest: ParsedManifest, required: bool
) -> tuple[list[Problem], list[Problem]]:
    """Errors and warnings of ``SPLIT.LABEL``: fairseq pairs its line N with manifest line
    N + 1 and asserts equal counts; it encodes each symbol with ``dict.LABEL.txt`` (required
    for ``ltr``, checked for other labels when present), turning unknown ones into ``<unk>``.
    """
    manifest_path = os.path.join(data_dir, split + MANIFEST_SUFFIX)
    path = os.path.join(data_dir, f"{split}.{label}")
    if not os.path.isfile(path):
        missing = Problem(
            path,
            None,
            "missing-labels",
            f"no {label} labels for {manifest_path}",
            f"write them with the manifest ({PREPARE_COMMAND}), or drop {label} from --labels",
        )
        return ([missing] if required else []), []
    dictionary_path = os.path.join(data_dir, f"dict.{label}.txt")
    errors: list[Problem] = []
    warnings: list[Problem] = []
    symbols: set[str] | None = None
    if os.path.isfile(dictionary_path):
        symbols, dictionary_problems = read_dictionary(dictionary_path)
        errors += dictionary_problems
    elif label == "ltr":
        errors.append(
            Problem(
                dictionary_path,
                None,
                "dictionary",
                f"no letter dictionary for {path}: fine-tuning reads it to encode the labels",
                f"write it from the training letters ({PREPARE_COMMAND}, or "
                "birq_fairseq.data.manifests.write_letter_dictionary)",
            )
        )
    num_lines = 0
    for number, text in decoded_lines(path):
        num_lines = number
        if text is None:
            errors.append(encoding_problem(path, number))
            continue
        tokens = text.split()
        if not tokens:
            warnings.append(
                Problem(
                    path,
                    number,
                    "empty-label",
                    f"empty transcript (for line {number + 1} of {manifest_path})",
                    "give the utterance its transcript, or remove it from the manifest and "
                    "every label file",
                )
            )
        if symbols is not None:
            unknown = list(dict.fromkeys(token for token in tokens if token not in symbols))
            if unknown:
                errors.append(
                    Problem(
                        path,
                        number,
                        "unknown-symbol",
                        f"symbol{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(quoted, unknown))} not in {dictionary_path} "
                        "(fairseq would encode it as <unk>)",
                        "normalise the transcript (birq_fairseq.data.text_normalization), or "
                        "add the symbol to the dictionary",
                    )
                )
    if manifest.header is not None and num_lines != manifest.num_lines:
        shorter = num_lines < manifest.num_lines
        where = "the transcripts from here on are missing" if shorter else "extra lines from here"
        errors.append(
            Problem(
                path,
                (num_lines if shorter else manifest.num_lines) + 1,
                "label-count",
                f"{num_lines} lines but {manifest_path} has {manifest.num_lines} after its header: "
                + where,
                f"regenerate {path} with the manifest so that its line N is the transcript of "
                "manifest line N + 1",
            )
        )
    return errors, warnings


def check_split(
    data_dir: str | Path,
    split: str,
    *,
    labels: Sequence[str] | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    audio: bool = True,
    workers: int = DEFAULT_WORKERS,
    progress: bool = False,
) -> CheckReport:
    """Check ``DATA/SPLIT.tsv``, its audio files (unless ``audio`` is False) and its labels.

    ``labels`` None checks those of ``DEFAULT_LABELS`` whose files exist (pretraining needs
    none); naming labels makes a missing file an error.  ``progress`` shows a bar on a
    terminal for sets of at least ``PROGRESS_MIN_FILES`` files.  Problems come in manifest
    line order, then label by label, whatever the number of ``workers``.
    """
    data_dir = str(data_dir)
    report = CheckReport()
    path = os.path.join(data_dir, split + MANIFEST_SUFFIX)
    if not os.path.isfile(path):
        available = sorted(p.stem for p in Path(data_dir).glob("*" + MANIFEST_SUFFIX))
        report.add_errors(
            [
                Problem(
                    path,
                    None,
                    "missing-manifest",
                    f"no manifest for split {split!r}",
                    f"choose one of the splits in {data_dir}: {', '.join(available) or 'none'}"
                    f" (or write manifests with {PREPARE_COMMAND})",
                )
            ]
        )
        return report
    manifest = parse_manifest(path)
    report.utterances = len(manifest.entries)
    errors = manifest.problems + [
        too_short(path, entry, sample_rate, min_samples)
        for entry in manifest.entries
        if entry.num_samples < min_samples
    ]
    warnings: list[Problem] = []
    if audio and manifest.root is not None:
        audio_errors, warnings = check_audio_files(
            path, manifest.root, manifest.entries, sample_rate, workers, progress
        )
        errors += audio_errors
    errors.sort(key=lambda problem: problem.line or 0)  # stable: a line's problems keep order
    report.add_errors(errors)
    report.add_warnings(warnings)
    for label in labels if labels is not None else DEFAULT_LABELS:
        label_errors, label_warnings = check_labels(
            data_dir, split, label, manifest, required=labels is not None
        )
        report.add_errors(label_errors)
        report.add_warnings(label_warnings)
    return report
