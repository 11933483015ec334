"""LibriSpeech manifests, labels, subsets and concatenations for fairseq.

LibriSpeech is laid out as ``SPLIT/SPEAKER/CHAPTER/SPEAKER-CHAPTER-UTT.flac`` with one
``SPEAKER-CHAPTER.trans.txt`` per chapter (lines ``SPEAKER-CHAPTER-UTT WORDS``).  The audio is
already 16 kHz mono, so manifests point at the original flac files.  Used by
``examples/librispeech/prepare.sh``; each subcommand handles several outputs per call::

    python -m birq_fairseq.data.librispeech manifest --dest DEST SPLIT_DIR [SPLIT_DIR ...]
    python -m birq_fairseq.data.librispeech labels TSV [TSV ...]
    python -m birq_fairseq.data.librispeech subset TSV OUT_PREFIX --hours 10 [--seed 1]
    python -m birq_fairseq.data.librispeech concat OUT_PREFIX --root ROOT PREFIX [PREFIX ...]
    python -m birq_fairseq.data.librispeech dictionary OUT_DICT LTR [LTR ...]

``manifest`` names each output after its folder with ``-`` replaced by ``_``
(``train-clean-100`` -> ``DEST/train_clean_100.tsv``) because fairseq split names are
identifiers.  ``labels`` writes ``PREFIX.wrd``/``PREFIX.ltr`` next to ``PREFIX.tsv`` in the
exact format of fairseq's ``examples/wav2vec/libri_labels.py``.
"""

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from birq_fairseq.data.audio_io import TARGET_SAMPLE_RATE, num_samples
from birq_fairseq.data.manifests import (
    LETTERS_SUFFIX,
    MANIFEST_SUFFIX,
    WORDS_SUFFIX,
    ManifestEntry,
    read_manifest,
    write_labels,
    write_letter_dictionary,
    write_lines_atomically,
    write_manifest,
)
from birq_fairseq.tools import tool_parser

AUDIO_EXTENSION = "flac"
TRANSCRIPT_SUFFIX = ".trans.txt"
SECONDS_PER_HOUR = 3600


def split_name(split_dir: Path) -> str:
    """fairseq split name of a LibriSpeech folder: "train-clean-100" -> "train_clean_100"."""
    return split_dir.name.replace("-", "_")


def build_manifest(split_dir: Path, out_tsv: Path) -> int:
    """Index every flac under ``split_dir``; the root line is its absolute real path.

    Returns the number of utterances.
    """
    root = split_dir.resolve()
    files = sorted(root.rglob(f"*.{AUDIO_EXTENSION}"))
    write_manifest(out_tsv, root, ((path.relative_to(root), num_samples(path)) for path in files))
    return len(files)


def chapter_transcripts(chapter_dir: Path) -> dict[str, str]:
    """Read ``SPEAKER-CHAPTER.trans.txt`` of a chapter folder into ``{utt_id: words}``."""
    speaker, chapter = chapter_dir.parts[-2:]
    transcripts = {}
    with open(chapter_dir / f"{speaker}-{chapter}{TRANSCRIPT_SUFFIX}", encoding="utf-8") as lines:
        for line in lines:
            utt_id, _, words = line.strip().partition(" ")
            if utt_id:
                transcripts[utt_id] = words
    return transcripts


def build_labels(tsv: Path) -> None:
    """Write the ``.wrd``/``.ltr`` labels of a LibriSpeech manifest next to it.

    Words are taken verbatim from the chapter transcripts (upper-case in LibriSpeech), so
    the output is byte-identical to fairseq's ``libri_labels.py``.
    """
    root, entries = read_manifest(tsv)
    cache: dict[Path, dict[str, str]] = {}
    words = []
    for rel_path, _ in entries:
        chapter_dir = root / Path(rel_path).parent
        if chapter_dir not in cache:
            cache[chapter_dir] = chapter_transcripts(chapter_dir)
        utt_id = Path(rel_path).name.split(".")[0]
        if utt_id not in cache[chapter_dir]:
            raise KeyError(f"no transcript for {utt_id} in {chapter_dir}")
        words.append(cache[chapter_dir][utt_id].upper())
    write_labels(tsv.with_suffix(""), words, normalize=False)


def _label_files(prefix: Path) -> tuple[Path, Path]:
    return Path(f"{prefix}{WORDS_SUFFIX}"), Path(f"{prefix}{LETTERS_SUFFIX}")


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def build_subset(tsv: Path, out_prefix: Path, hours: float, seed: int) -> float:
    """Pick utterances of ``tsv`` in a seeded random order until ``hours`` of audio.

    The selection keeps the manifest order and copies the matching ``.wrd``/``.ltr`` lines
    when they exist.  Returns the selected duration in hours.
    """
    root, entries = read_manifest(tsv)
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    budget = hours * SECONDS_PER_HOUR * TARGET_SAMPLE_RATE  # in samples
    chosen, total = [], 0
    for index in order:
        if total >= budget:
            break
        chosen.append(index)
        total += entries[index][1]
    chosen.sort()
    write_manifest(f"{out_prefix}{MANIFEST_SUFFIX}", root, (entries[i] for i in chosen))
    for source, target in zip(_label_files(tsv.with_suffix("")), _label_files(out_prefix)):
        if source.exists():
            lines = _read_lines(source)
            write_lines_atomically(target, (lines[i] for i in chosen))
    return total / TARGET_SAMPLE_RATE / SECONDS_PER_HOUR


def concatenate(out_prefix: Path, root: Path, prefixes: Sequence[Path]) -> int:
    """Join manifests (and their labels, if all have them) under one common ``root``.

    Each input root must lie inside ``root``; paths are rewritten relative to it, e.g.
    ``train-clean-100/19/198/19-198-0001.flac``.  Returns the number of utterances.
    """
    root = root.resolve()
    entries: list[ManifestEntry] = []
    for prefix in prefixes:
        source_root, source_entries = read_manifest(f"{prefix}{MANIFEST_SUFFIX}")
        offset = source_root.resolve().relative_to(root)  # raises if outside root
        entries += [((offset / rel).as_posix(), n) for rel, n in source_entries]
    write_manifest(f"{out_prefix}{MANIFEST_SUFFIX}", root, entries)

    sources = [_label_files(prefix) for prefix in prefixes]
    if all(path.exists() for pair in sources for path in pair):
        for kind, target in enumerate(_label_files(out_prefix)):
            lines = [line for pair in sources for line in _read_lines(pair[kind])]
            write_lines_atomically(target, lines)
    else:
        print(f"warning: not every input has labels, {out_prefix} gets a manifest only")
    return len(entries)


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser("birq_fairseq.data.librispeech", __doc__)
    commands = parser.add_subparsers(dest="command", required=True, help="what to write")

    manifest = commands.add_parser("manifest", help="DEST/<split_name>.tsv for each folder")
    manifest.add_argument("--dest", type=Path, required=True, help="folder for the manifests")
    manifest.add_argument(
        "split_dirs", type=Path, nargs="+", help="LibriSpeech split folders (train-clean-100)"
    )

    labels = commands.add_parser("labels", help="PREFIX.wrd and PREFIX.ltr for PREFIX.tsv")
    labels.add_argument("tsvs", type=Path, nargs="+", help="manifests written by 'manifest'")

    subset = commands.add_parser("subset", help="seeded random subset of a given duration")
    subset.add_argument("tsv", type=Path, help="manifest to pick from (with its labels)")
    subset.add_argument("out_prefix", type=Path, help="writes OUT_PREFIX.{tsv,wrd,ltr}")
    subset.add_argument("--hours", type=float, required=True, help="duration to select")
    subset.add_argument("--seed", type=int, default=1, help="seed of the random order")

    concat = commands.add_parser("concat", help="join manifests and labels under one root")
    concat.add_argument("out_prefix", type=Path, help="writes OUT_PREFIX.{tsv,wrd,ltr}")
    concat.add_argument(
        "--root", type=Path, required=True, help="common folder of every input's audio root"
    )
    concat.add_argument("prefixes", type=Path, nargs="+", help="inputs PREFIX.{tsv,wrd,ltr}")

    dictionary = commands.add_parser("dictionary", help="dict.ltr.txt from .ltr files")
    dictionary.add_argument("out_dict", type=Path, help="dictionary file to write")
    dictionary.add_argument("ltr_files", type=Path, nargs="+", help="letter labels to count")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "manifest":
        for split_dir in args.split_dirs:
            out_tsv = args.dest / f"{split_name(split_dir)}{MANIFEST_SUFFIX}"
            print(f"{out_tsv}: {build_manifest(split_dir, out_tsv)} utterances")
    elif args.command == "labels":
        for tsv in args.tsvs:
            build_labels(tsv)
            print(f"{tsv.with_suffix('')}{{{WORDS_SUFFIX},{LETTERS_SUFFIX}}} written")
    elif args.command == "subset":
        selected_hours = build_subset(args.tsv, args.out_prefix, args.hours, args.seed)
        print(f"{args.out_prefix}: {selected_hours:.2f} h selected from {args.tsv}")
    elif args.command == "concat":
        count = concatenate(args.out_prefix, args.root, args.prefixes)
        print(f"{args.out_prefix}: {count} utterances")
    else:
        counts = write_letter_dictionary(args.out_dict, args.ltr_files)
        print(f"{args.out_dict}: {len(counts)} symbols")
    return 0


if __name__ == "__main__":
    sys.exit(main())
