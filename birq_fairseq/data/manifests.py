"""Readers and writers for fairseq's audio manifests, label files and letter dictionary.

The formats are exactly those of fairseq's wav2vec recipes, so the outputs work with the
stock ``audio_pretraining`` / ``audio_finetuning`` tasks:

* ``SPLIT.tsv``: first line the root folder, then ``relative/path.wav<TAB>num_samples``
  (``examples/wav2vec/wav2vec_manifest.py``);
* ``SPLIT.wrd`` / ``SPLIT.ltr``: one transcript per manifest line, as words and as letters
  (``examples/wav2vec/libri_labels.py``);
* ``dict.ltr.txt``: ``SYMBOL COUNT`` lines, most frequent first (``fairseq.data.Dictionary``).

Every file is written atomically so restartable pipelines can trust any file that exists.
"""

import os
import random
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from birq_fairseq.data.text_normalization import normalize_transcript, words_to_letters

ManifestEntry = tuple[str, int]  # (path relative to the root, length in samples)

MANIFEST_SUFFIX = ".tsv"
WORDS_SUFFIX = ".wrd"
LETTERS_SUFFIX = ".ltr"
FRACTION_TOLERANCE = 1e-6


def write_lines_atomically(path: str | Path, lines: Iterable[str]) -> None:
    """Write ``lines`` (without newlines) to ``path`` via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            for line in lines:
                tmp.write(line + "\n")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_manifest(path: str | Path, root: str | Path, entries: Iterable[ManifestEntry]) -> None:
    """Write a manifest whose first line is ``root`` and then ``rel_path<TAB>num_samples``."""

    def lines() -> Iterable[str]:
        yield str(root)
        for rel_path, n_samples in entries:
            rel = Path(rel_path).as_posix()
            if "\t" in rel or "\n" in rel:
                raise ValueError(f"manifest paths cannot contain tabs or newlines: {rel!r}")
            yield f"{rel}\t{int(n_samples)}"

    write_lines_atomically(path, lines())


def read_manifest(path: str | Path) -> tuple[Path, list[ManifestEntry]]:
    """Read a manifest into its root folder and its ``(rel_path, num_samples)`` entries."""
    with open(path, encoding="utf-8") as manifest:
        root = Path(next(manifest).strip())
        entries = []
        for line in manifest:
            if line.strip():
                rel_path, n_samples = line.rstrip("\n").split("\t")
                entries.append((rel_path, int(n_samples)))
    return root, entries


def write_labels(prefix: str | Path, transcripts: Iterable[str], normalize: bool = True) -> None:
    """Write ``prefix.wrd`` and ``prefix.ltr``, one line per transcript, in manifest order.

    With ``normalize`` each transcript goes through ``normalize_transcript`` first; pass
    False for corpora whose transcripts are already in the target form (LibriSpeech).
    Empty transcripts raise, because a skipped line would misalign labels and audio.
    """
    words = []
    for index, text in enumerate(transcripts):
        normalized = normalize_transcript(text) if normalize else " ".join(text.split())
        if not normalized:
            raise ValueError(f"transcript {index} ({text!r}) has no speakable words")
        words.append(normalized)
    write_lines_atomically(f"{prefix}{WORDS_SUFFIX}", words)
    write_lines_atomically(f"{prefix}{LETTERS_SUFFIX}", (words_to_letters(w) for w in words))


def count_letters(ltr_files: Iterable[str | Path]) -> Counter[str]:
    """Count the space-separated symbols of ``.ltr`` files."""
    counts: Counter[str] = Counter()
    for ltr_file in ltr_files:
        with open(ltr_file, encoding="utf-8") as letters:
            for line in letters:
                counts.update(line.split())
    return counts


def write_letter_dictionary(path: str | Path, ltr_files: Iterable[str | Path]) -> Counter[str]:
    """Write ``dict.ltr.txt`` from ``.ltr`` files and return the symbol counts.

    Lines are ``SYMBOL COUNT``, sorted by count descending and then by symbol, so the
    symbol-to-index mapping of fairseq's Dictionary is reproducible.
    """
    counts = count_letters(ltr_files)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    write_lines_atomically(path, (f"{symbol} {count}" for symbol, count in ordered))
    return counts


def split_ids(
    ids: Iterable[str], fractions: Mapping[str, float], seed: int
) -> dict[str, list[str]]:
    """Partition ``ids`` into named splits of the given fractions, reproducibly.

    The ids are sorted and then shuffled with ``random.Random(seed)``, so the result depends
    only on the set of ids, the fractions and the seed, never on the input order.  Split
    sizes are the rounded cumulative fractions; each returned list is sorted.
    """
    ordered = sorted(ids)
    if len(set(ordered)) != len(ordered):
        raise ValueError("ids must be unique")
    if any(fraction < 0 for fraction in fractions.values()):
        raise ValueError(f"fractions must be non-negative: {dict(fractions)}")
    if abs(sum(fractions.values()) - 1.0) > FRACTION_TOLERANCE:
        raise ValueError(f"fractions must sum to 1: {dict(fractions)}")
    random.Random(seed).shuffle(ordered)

    splits: dict[str, list[str]] = {}
    cumulative, start = 0.0, 0
    names = list(fractions)
    for name in names:
        cumulative += fractions[name]
        end = len(ordered) if name == names[-1] else round(cumulative * len(ordered))
        splits[name] = sorted(ordered[start:end])
        start = end
    return splits
