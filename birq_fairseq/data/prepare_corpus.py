"""Turn a folder of audio plus a transcript file into fairseq train/valid/test data.

Usage::

    python -m birq_fairseq.data.prepare_corpus --audio-dir DIR --transcripts FILE --dest DIR \\
        [--alphabet ascii|keep] [--lang en|LANG|none] [--audio-out DIR] [--valid-percent 5] \\
        [--test-percent 5] [--seed 1] [--ext wav,flac,ogg,mp3] [--workers 1] [--force]

Transcript file: one utterance per line, ``UTT_ID<whitespace>TEXT``, where ``UTT_ID`` is the
audio path relative to ``--audio-dir`` without its extension, e.g. ``spk1/utt_003 Hello there``
for ``DIR/spk1/utt_003.flac``.  Text is normalised with ``normalize_transcript``:
``--alphabet ascii`` (the default, English: A-Z and the apostrophe) or ``keep`` (the letters
of any script, NFC upper case, for every other language); numbers are spelled in ``--lang``
(``en`` by default with ascii; any num2words language; ``none``, the default with keep,
leaves them as written and lists the lines that hold them).

Outputs (the formats of fairseq's wav2vec recipes):

* ``--audio-out`` (default ``DEST/audio``): every matched file as 16 kHz mono PCM_16 wav,
  at ``UTT_ID.wav``;
* ``DEST/{train,valid,test}.{tsv,wrd,ltr}``: manifests (root = the absolute audio-out path)
  and line-aligned word / letter labels, split reproducibly from ``--seed``;
* ``DEST/dict.ltr.txt``: the letter dictionary, counted on train; a symbol that only valid or
  test use is listed with count 0 (and reported), so that it is never ``<unk>``.

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
    count_letters,
    split_ids,
    write_labels,
    write_letter_dictionary,
    write_manifest,
)
from birq_fairseq.data.text_normalization import (
    ALPHABETS,
    ENGLISH,
    check_language,
    letters_outside_ascii,
    normalize_transcript,
    unspelled,
)
from birq_fairseq.tools import tool_parser

DEFAULT_EXTENSIONS = "wav,flac,ogg,mp3,opus,aiff,au"
SPLITS = ("train", "valid", "test")
DICTIONARY_NAME = "dict.ltr.txt"
CONVERTED_SUFFIX = ".wav"
PROGRESS_EVERY = 100  # files between progress lines
MAX_EXAMPLES = 5  # transcript lines quoted per kind of warning
NO_LANGUAGE = "none"
# --lang when not given: the ascii alphabet is the English recipes', keep is for the others.
DEFAULT_LANGUAGE = {"ascii": ENGLISH, "keep": NO_LANGUAGE}


@dataclass(frozen=True)
class TranscriptLine:
    """Where a transcript came from, for warnings that quote it."""

    path: Path
    line: int
    utt_id: str
    text: str

    def quote(self) -> str:
        return f"{self.path}:{self.line}: {self.utt_id} {self.text!r}"


@dataclass
class Report:
    """Problems met along the way, summarised at the end instead of aborting the run."""

    untranscribed_audio: list[str] = field(default_factory=list)
    transcripts_without_audio: list[str] = field(default_factory=list)
    non_speech_transcripts: list[str] = field(default_factory=list)
    unreadable_audio: list[str] = field(default_factory=list)
    # transcripts whose numbers or symbols stay as written (no --lang to read them)
    unspelled_numbers: list[TranscriptLine] = field(default_factory=list)
    # transcripts with letters beyond A-Z that --alphabet ascii folded or dropped
    folded_letters: list[TranscriptLine] = field(default_factory=list)
    # dictionary symbols that only valid or test use (listed with count 0)
    untrained_symbols: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        return [
            f"{len(self.untranscribed_audio)} audio files without transcript",
            f"{len(self.transcripts_without_audio)} transcripts without audio",
            f"{len(self.non_speech_transcripts)} transcripts with no speakable words",
            f"{len(self.unreadable_audio)} audio files that could not be converted",
            f"{len(self.unspelled_numbers)} transcripts with numbers left as written",
            f"{len(self.folded_letters)} transcripts with letters outside A-Z folded or dropped",
            f"{len(self.untrained_symbols)} letters only in valid/test",
        ]


def warn_with_examples(what: str, lines: Sequence[TranscriptLine], fix: str) -> None:
    """One warning for many transcripts: how many, the first few, and how to fix them."""
    if not lines:
        return
    print(f"warning: {len(lines)} {what}, e.g.:")
    for line in lines[:MAX_EXAMPLES]:
        print(f"  {line.quote()}")
    print(f"  fix: {fix}")


def read_transcripts(
    path: Path, report: Report, alphabet: str = "ascii", lang: str | None = ENGLISH
) -> dict[str, str]:
    """Read ``UTT_ID TEXT`` lines into transcripts normalised to ``alphabet``, keyed by id;
    numbers are spelled in ``lang`` (None: left as written, and reported)."""
    transcripts: dict[str, str] = {}
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            utt_id, text = parts[0], parts[1] if len(parts) > 1 else ""
            if utt_id in transcripts:
                print(f"warning: {path}:{line_number}: duplicate id {utt_id!r}, keeping the last")
            source = TranscriptLine(path, line_number, utt_id, text)
            words = normalize_transcript(text, alphabet, lang)
            folded = alphabet == "ascii" and letters_outside_ascii(text)
            if folded:
                report.folded_letters.append(source)
            if not words:
                hint = " in A-Z (try --alphabet keep)" if folded else ""
                print(f"skip {utt_id!r}: transcript {text!r} has no speakable words{hint}")
                report.non_speech_transcripts.append(utt_id)
                transcripts.pop(utt_id, None)
                continue
            if unspelled(words):
                report.unspelled_numbers.append(source)
            transcripts[utt_id] = words
    return transcripts


def warn_about_text(report: Report, lang: str | None) -> None:
    """The transcript warnings that need the user: numbers nobody spelled, letters lost."""
    spell = "pass --lang LANG (en, or a num2words language such as nl, cs, ru, fr, ja)"
    if lang == ENGLISH:
        spell = "write them as words"
    elif lang is not None:
        spell = f"write them as words ({lang} is spelled for plain integers only, not 3,5 or 10:30)"
    warn_with_examples(
        "transcripts keep numbers or symbols as written: they become symbols of the CTC "
        "dictionary",
        report.unspelled_numbers,
        f"spell them out in the transcript file, or {spell}",
    )
    letters = "".join(
        dict.fromkeys(c for line in report.folded_letters for c in letters_outside_ascii(line.text))
    )
    warn_with_examples(
        f"transcripts have letters outside A-Z ({letters[:40]}) that --alphabet ascii folds "
        "(Ř -> R) or drops (Ж)",
        report.folded_letters,
        "pass --alphabet keep to keep the letters of the language (and --force to redo the "
        "labels); ascii is right for English only",
    )


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


def write_dictionary(dest: Path, report: Report) -> None:
    """``dict.ltr.txt`` with the train counts; symbols that only valid or test use get count
    0, so that their labels keep their letter instead of becoming ``<unk>``."""
    held_out = count_letters(dest / f"{split}{LETTERS_SUFFIX}" for split in SPLITS[1:])
    counts = write_letter_dictionary(
        dest / DICTIONARY_NAME, [dest / f"train{LETTERS_SUFFIX}"], extra_symbols=held_out
    )
    report.untrained_symbols = sorted(held_out.keys() - counts.keys())
    symbols = sorted(counts.keys() | held_out.keys())
    print(f"  {len(symbols)} symbols: {' '.join(symbols)}")
    if report.untrained_symbols:
        print(
            f"warning: {' '.join(report.untrained_symbols)} only in valid/test: listed with "
            "count 0, the model will not learn them; fix: move utterances that use them to train"
        )


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
    alphabet: str = "ascii",
    lang: str | None = ENGLISH,
) -> Report:
    """Run all stages (see the module docstring) and return the report of skipped items.

    ``alphabet`` and ``lang`` are those of ``normalize_transcript``; the defaults are the
    English recipes' normalisation.
    """
    check_language(lang)
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
    transcripts = read_transcripts(transcripts_file, report, alphabet, lang)
    warn_about_text(report, lang)
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
        write_dictionary(dest, report)

    print("summary: " + "; ".join(report.summary_lines()))
    return report


def language(text: str) -> str:
    """``--lang`` value: a language that spells numbers, or ``none``."""
    try:
        check_language(None if text == NO_LANGUAGE else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(
        "birq_fairseq.data.prepare_corpus",
        __doc__,
        epilog=(
            "Transcript file format: one 'UTT_ID TEXT' per line, UTT_ID being the audio path "
            "relative to --audio-dir without extension (e.g. 'spk1/utt_003 Hello there')."
        ),
    )
    parser.add_argument("--audio-dir", type=Path, required=True, help="folder of source audio")
    parser.add_argument(
        "--transcripts", type=Path, required=True, help="UTF-8 file of 'UTT_ID TEXT' lines"
    )
    parser.add_argument("--dest", type=Path, required=True, help="folder for manifests/labels")
    parser.add_argument(
        "--alphabet",
        choices=ALPHABETS,
        default="ascii",
        help="letters of the labels: ascii (default; A-Z and ', accents folded: English) or "
        "keep (every script's letters as written, NFC upper case: any other language)",
    )
    parser.add_argument(
        "--lang",
        type=language,
        help="language to spell numbers in: en (built in), a num2words code (nl, cs, ru, fr, "
        "ja, de, ...), or none to leave them as written and list the lines that have them "
        f"(default: {ENGLISH} with --alphabet ascii, {NO_LANGUAGE} with keep)",
    )
    parser.add_argument("--audio-out", type=Path, help="folder for 16 kHz wavs (DEST/audio)")
    parser.add_argument(
        "--valid-percent",
        type=float,
        default=5.0,
        help="share of the utterances for the valid split, in %% (default %(default)s)",
    )
    parser.add_argument(
        "--test-percent",
        type=float,
        default=5.0,
        help="share of the utterances for the test split, in %% (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the train/valid/test split")
    parser.add_argument("--ext", default=DEFAULT_EXTENSIONS, help="audio extensions, by priority")
    parser.add_argument("--workers", type=int, default=1, help="parallel conversion processes")
    parser.add_argument("--force", action="store_true", help="redo stages whose outputs exist")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    lang = args.lang or DEFAULT_LANGUAGE[args.alphabet]
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
        alphabet=args.alphabet,
        lang=None if lang == NO_LANGUAGE else lang,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
