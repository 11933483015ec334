"""Turn a folder of audio plus a transcript file into fairseq train/valid/test data.

Usage::

    python -m birq_fairseq.data.prepare_corpus --audio-dir DIR --transcripts FILE --dest DIR \\
        [--audio-out DIR] [--valid-percent 5] [--test-percent 5] [--seed 1] \\
        [--ext wav,flac,ogg,mp3] [--workers 1] [--force]

Transcript file: one utterance per line, ``UTT_ID<whitespace>TEXT``, where ``UTT_ID`` is the
audio path relative to ``--audio-dir`` without its extension, e.g. ``spk1/utt_003 Hello there``
for ``DIR/spk1/utt_003.flac``.  Text is normalised with ``normalize_transcript``.

Outputs (the formats of fairseq's wav2vec recipes):

* ``--audio-out`` (default ``DEST/audio``): every matched file as 16 kHz mono PCM_16 wav,
  at ``UTT_ID.wav``;
* ``DEST/{train,valid,test}.{tsv,wrd,ltr}``: manifests (root = the absolute audio-out path)
  and line-aligned word / letter labels, split reproducibly from ``--seed``;
* ``DEST/dict.ltr.txt``: the letter dictionary, counted on train only.

The run is restartable: a converted wav newer than its source is not redone, and the
manifest and dictionary stages are skipped when their outputs exist, unless ``--force``.
Audio without a transcript and transcripts without audio are reported by id, skipped, and
counted in the final summary.
"""

import argparse
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from birq_fairseq.data.audio_io import convert_to_wav16, is_up_to_date, num_samples
from birq_fairseq.data.manifests import (
    LETTERS_SUFFIX,
    MANIFEST_SUFFIX,
    WORDS_SUFFIX,
    split_ids,
    write_labels,
    write_letter_dictionary,
    write_manifest,
)
from birq_fairseq.data.text_normalization import normalize_transcript

DEFAULT_EXTENSIONS = "wav,flac,ogg,mp3,opus,aiff,au"
SPLITS = ("train", "valid", "test")
DICTIONARY_NAME = "dict.ltr.txt"
CONVERTED_SUFFIX = ".wav"
PROGRESS_EVERY = 100  # files between progress lines


@dataclass
class Report:
    """Problems met along the way, summarised at the end instead of aborting the run."""

    untranscribed_audio: list[str] = field(default_factory=list)
    transcripts_without_audio: list[str] = field(default_factory=list)
    non_speech_transcripts: list[str] = field(default_factory=list)
    unreadable_audio: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        return [
            f"{len(self.untranscribed_audio)} audio files without transcript",
            f"{len(self.transcripts_without_audio)} transcripts without audio",
            f"{len(self.non_speech_transcripts)} transcripts with no speakable words",
            f"{len(self.unreadable_audio)} audio files that could not be converted",
        ]


def read_transcripts(path: Path, report: Report) -> dict[str, str]:
    """Read ``UTT_ID TEXT`` lines into normalised transcripts keyed by id."""
    transcripts: dict[str, str] = {}
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            utt_id, text = parts[0], parts[1] if len(parts) > 1 else ""
            if utt_id in transcripts:
                print(f"warning: {path}:{line_number}: duplicate id {utt_id!r}, keeping the last")
            words = normalize_transcript(text)
            if not words:
                print(f"skip {utt_id!r}: transcript {text!r} has no speakable words")
                report.non_speech_transcripts.append(utt_id)
                transcripts.pop(utt_id, None)
                continue
            transcripts[utt_id] = words
    return transcripts


def find_audio(audio_dir: Path, extensions: Sequence[str]) -> dict[str, Path]:
    """Map utterance ids (relative path without extension) to audio files under ``audio_dir``.

    When one id exists with several extensions, the earliest extension in the list wins.
    """
    found: dict[str, Path] = {}
    for extension in extensions:
        for path in sorted(audio_dir.rglob(f"*.{extension}")):
            utt_id = path.relative_to(audio_dir).with_suffix("").as_posix()
            if utt_id in found:
                print(f"warning: {path} ignored, {found[utt_id]} has the same id {utt_id!r}")
                continue
            found[utt_id] = path
    return found


def match(audio: dict[str, Path], transcripts: dict[str, str], report: Report) -> list[str]:
    """Ids with both audio and transcript; the others are reported by name."""
    for utt_id in sorted(audio.keys() - transcripts.keys()):
        if utt_id not in report.non_speech_transcripts:
            print(f"skip {utt_id!r}: audio {audio[utt_id]} has no transcript")
            report.untranscribed_audio.append(utt_id)
    for utt_id in sorted(transcripts.keys() - audio.keys()):
        print(f"skip {utt_id!r}: transcript has no audio file")
        report.transcripts_without_audio.append(utt_id)
    return sorted(audio.keys() & transcripts.keys())


def _convert_job(job: tuple[Path, Path]) -> str | None:
    """Convert one file in a worker process; returns an error message instead of raising."""
    source, destination = job
    try:
        convert_to_wav16(source, destination)
    except Exception as error:  # one broken file must not stop a long conversion
        return f"{source}: {error}"
    return None


def _run_jobs(jobs: Sequence[tuple[Path, Path]], workers: int) -> Iterator[str | None]:
    """Yield the conversion results in job order, in parallel when ``workers`` > 1."""
    if workers <= 1:
        yield from map(_convert_job, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(_convert_job, jobs)


def convert_audio(
    ids: Sequence[str],
    audio: dict[str, Path],
    audio_out: Path,
    workers: int,
    force: bool,
    report: Report,
) -> list[str]:
    """Convert the audio of ``ids`` to 16 kHz wavs; returns the ids that now have a wav."""
    targets = {utt_id: audio_out / f"{utt_id}{CONVERTED_SUFFIX}" for utt_id in ids}
    todo = [utt_id for utt_id in ids if force or not is_up_to_date(audio[utt_id], targets[utt_id])]
    print(f"  {len(ids) - len(todo)} up to date, {len(todo)} to convert")
    jobs = [(audio[utt_id], targets[utt_id]) for utt_id in todo]
    failed = set()
    for done, (utt_id, error) in enumerate(zip(todo, _run_jobs(jobs, workers)), start=1):
        if error is not None:
            print(f"skip {utt_id!r}: cannot convert {error}")
            report.unreadable_audio.append(utt_id)
            failed.add(utt_id)
        if done % PROGRESS_EVERY == 0 or done == len(todo):
            print(f"  converted {done}/{len(todo)}")
    return [utt_id for utt_id in ids if utt_id not in failed]


def split_outputs(dest: Path) -> list[Path]:
    return [
        dest / f"{split}{suffix}"
        for split in SPLITS
        for suffix in (MANIFEST_SUFFIX, WORDS_SUFFIX, LETTERS_SUFFIX)
    ]


def write_splits(
    ids: Sequence[str],
    transcripts: dict[str, str],
    audio_out: Path,
    dest: Path,
    fractions: dict[str, float],
    seed: int,
) -> None:
    """Write ``{train,valid,test}.{tsv,wrd,ltr}`` for the converted utterances."""
    root = audio_out.resolve()
    for split, split_ids_ in split_ids(ids, fractions, seed).items():
        rel_paths = [f"{utt_id}{CONVERTED_SUFFIX}" for utt_id in split_ids_]
        entries = [(rel, num_samples(root / rel)) for rel in rel_paths]
        write_manifest(dest / f"{split}{MANIFEST_SUFFIX}", root, entries)
        write_labels(dest / split, [transcripts[utt_id] for utt_id in split_ids_], normalize=False)
        print(f"  {split}: {len(entries)} utterances, {sum(n for _, n in entries)} samples")


def prepare_corpus(
    audio_dir: Path,
    transcripts_file: Path,
    dest: Path,
    audio_out: Path | None = None,
    valid_percent: float = 5.0,
    test_percent: float = 5.0,
    seed: int = 1,
    extensions: Sequence[str] = tuple(DEFAULT_EXTENSIONS.split(",")),
    workers: int = 1,
    force: bool = False,
) -> Report:
    """Run all stages (see the module docstring) and return the report of skipped items."""
    audio_out = audio_out if audio_out is not None else dest / "audio"
    train_percent = 100.0 - valid_percent - test_percent
    if min(valid_percent, test_percent, train_percent) < 0:
        raise ValueError("--valid-percent and --test-percent must be >= 0 and sum to <= 100")
    fractions = {
        "train": train_percent / 100,
        "valid": valid_percent / 100,
        "test": test_percent / 100,
    }
    report = Report()

    print(f"[1/4] reading {transcripts_file} and scanning {audio_dir}")
    transcripts = read_transcripts(transcripts_file, report)
    audio = find_audio(audio_dir, extensions)
    ids = match(audio, transcripts, report)
    print(f"  {len(ids)} utterances with audio and transcript")

    print(f"[2/4] converting audio to 16 kHz mono wav in {audio_out}")
    ids = convert_audio(ids, audio, audio_out, workers, force, report)

    print(f"[3/4] writing manifests and labels in {dest}")
    if not force and all(path.exists() for path in split_outputs(dest)):
        print("  skipped: outputs exist (use --force to rewrite)")
    else:
        write_splits(ids, transcripts, audio_out, dest, fractions, seed)

    print(f"[4/4] writing {dest / DICTIONARY_NAME} from the train letters")
    if not force and (dest / DICTIONARY_NAME).exists():
        print("  skipped: output exists (use --force to rewrite)")
    else:
        counts = write_letter_dictionary(dest / DICTIONARY_NAME, [dest / f"train{LETTERS_SUFFIX}"])
        print(f"  {len(counts)} symbols")

    print("summary: " + "; ".join(report.summary_lines()))
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=(
            "Transcript file format: one 'UTT_ID TEXT' per line, UTT_ID being the audio path "
            "relative to --audio-dir without extension (e.g. 'spk1/utt_003 Hello there')."
        ),
    )
    parser.add_argument("--audio-dir", type=Path, required=True, help="folder of source audio")
    parser.add_argument("--transcripts", type=Path, required=True, help="'UTT_ID TEXT' lines")
    parser.add_argument("--dest", type=Path, required=True, help="folder for manifests/labels")
    parser.add_argument("--audio-out", type=Path, help="folder for 16 kHz wavs (DEST/audio)")
    parser.add_argument("--valid-percent", type=float, default=5.0)
    parser.add_argument("--test-percent", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1, help="seed of the train/valid/test split")
    parser.add_argument("--ext", default=DEFAULT_EXTENSIONS, help="audio extensions, by priority")
    parser.add_argument("--workers", type=int, default=1, help="parallel conversion processes")
    parser.add_argument("--force", action="store_true", help="redo stages whose outputs exist")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_corpus(
        audio_dir=args.audio_dir,
        transcripts_file=args.transcripts,
        dest=args.dest,
        audio_out=args.audio_out,
        valid_percent=args.valid_percent,
        test_percent=args.test_percent,
        seed=args.seed,
        extensions=[ext.strip().lstrip(".") for ext in args.ext.split(",") if ext.strip()],
        workers=args.workers,
        force=args.force,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
