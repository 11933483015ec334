"""Readers and writers for fairseq's audio manifests, label files and letter dictionary.

The formats are exactly those of fairseq's wav2vec recipes, so the outputs work with the
stock ``audio_pretraining`` / ``audio_finetuning`` tasks:

* ``SPLIT.tsv``: first line the root folder, then ``relative/path.wav<TAB>num_samples``
  (``examples/wav2vec/wav2vec_manifest.py``);
* ``SPLIT.wrd`` / ``SPLIT.ltr``: one transcript per manifest line, as words and as letters
  (``examples/wav2vec/libri_labels.py``);
* ``dict.ltr.txt``: ``SYMBOL COUNT`` lines, most frequent first (``fairseq.data.Dictionary``).

Every file is written atomically so restartable pipelines can trust any file that exists.

A manifest is read by one parser, ``parse_manifest``: data preparation (``read_manifest``),
``python -m birq_fairseq.check_data`` and the pretraining task all report a bad manifest with
the same ``FILE:LINE: error: WHAT; fix: HOW`` lines.
"""

import os
import random
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from birq_fairseq.data.text_normalization import normalize_transcript, words_to_letters

ManifestEntry = tuple[str, int]  # (path relative to the root, length in samples)

MANIFEST_SUFFIX = ".tsv"
WORDS_SUFFIX = ".wrd"
LETTERS_SUFFIX = ".ltr"
FRACTION_TOLERANCE = 1e-6
MAX_QUOTED_CHARS = 80
MAX_LISTED_PROBLEMS = 10  # problems an error message lists before counting the rest
PREPARE_COMMAND = "python -m birq_fairseq.data.prepare_corpus"
CHECK_COMMAND = "python -m birq_fairseq.check_data"
ENTRY_FORMAT = "'relative/path.wav<TAB>num_samples'"


@dataclass(frozen=True)
class Problem:
    """One finding at ``path:line`` (1-based; None when it concerns the whole file), with a
    short ``kind`` that the summary counts, what is wrong and how to fix it."""

    path: str
    line: int | None
    kind: str
    message: str
    fix: str

    def format(self, severity: str) -> str:
        """``path:line: severity: message; fix: fix``, the compiler style editors can jump to."""
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {severity}: {self.message}; fix: {self.fix}"


@dataclass(frozen=True)
class ManifestLine:
    """A well-formed manifest entry and the line it came from."""

    line: int
    rel_path: str
    num_samples: int


@dataclass
class ParsedManifest:
    """What fairseq's ``FileAudioDataset`` would read from a manifest, plus its problems.

    ``header`` is line 1 stripped (None for an empty file); ``root`` is that header when it
    names an existing directory, else None.  ``num_lines`` counts every line after the
    header, well-formed or not: label files must have exactly that many lines.
    """

    header: str | None
    root: str | None
    entries: list[ManifestLine]
    num_lines: int
    problems: list[Problem]


def quoted(text: str) -> str:
    """``repr`` of ``text``, shortened so one huge bad line cannot flood the report."""
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS] + "..."
    return repr(text)


def decoded_lines(path: str | Path) -> Iterator[tuple[int, str | None]]:
    """``(line_number, text)`` for each line of a UTF-8 file, text None where it is not
    UTF-8; lines split on newlines only, so numbers match what editors show."""
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None


def encoding_problem(path: str, line: int) -> Problem:
    return Problem(
        path, line, "encoding", "line is not valid UTF-8", "re-save the file as UTF-8 text"
    )


def check_header(path: str, header: str) -> Problem | None:
    """Line 1 must be the folder the audio paths are relative to, as fairseq joins them."""
    if not header:
        return Problem(
            path,
            1,
            "header",
            "line 1 is blank instead of the audio root directory",
            "put the absolute path of the folder the audio paths are relative to on line 1",
        )
    if "\t" in header:
        return Problem(
            path,
            1,
            "header",
            f"line 1 is {quoted(header)}, an entry, but line 1 must be the audio root directory",
            "insert the absolute path of the folder the audio paths are relative to as a new "
            "first line",
        )
    if not os.path.isdir(header):
        where = (
            "" if os.path.isabs(header) else f" (relative to the current directory {os.getcwd()})"
        )
        return Problem(
            path,
            1,
            "header",
            f"audio root {header!r} on line 1 is not an existing directory{where}",
            "make line 1 the absolute path of the folder the audio paths are relative to",
        )
    return None


def parse_entry(path: str, line: int, text: str) -> ManifestLine | Problem:
    """Parse one entry line as fairseq does (strip, split on tabs), strictly: the size must
    be a plain positive integer, the form ``prepare_corpus`` and wav2vec_manifest write."""
    stripped = text.strip()
    if not stripped:
        return Problem(
            path,
            line,
            "blank-line",
            "blank line",
            f"delete it: fairseq's loader expects {ENTRY_FORMAT} on every line after the first",
        )
    items = stripped.split("\t")
    if len(items) != 2:
        spaces = " (columns separated by spaces instead of a tab?)" if len(items) == 1 else ""
        return Problem(
            path,
            line,
            "columns",
            f"expected 2 tab-separated columns (path, num_samples), found {len(items)}{spaces}: "
            f"{quoted(stripped)}",
            f"write {ENTRY_FORMAT}; paths cannot contain tabs",
        )
    rel_path, size = items
    if not (size.isascii() and size.isdigit()) or int(size) == 0:
        return Problem(
            path,
            line,
            "size",
            f"size {quoted(size)} is not a positive integer",
            "write the utterance length in samples (soundfile.info(file).frames), or regenerate "
            f"the manifest with {PREPARE_COMMAND}",
        )
    return ManifestLine(line, rel_path, int(size))


def parse_manifest(path: str | Path) -> ParsedManifest:
    """Read a whole manifest, collecting a ``Problem`` per bad line instead of stopping at the
    first, so one run shows everything to fix.  No audio file is touched."""
    name = str(path)
    header: str | None = None
    root: str | None = None
    entries: list[ManifestLine] = []
    problems: list[Problem] = []
    num_lines = 0
    for number, text in decoded_lines(path):
        if number == 1:
            header = (text or "").strip()
            problem = encoding_problem(name, 1) if text is None else check_header(name, header)
            if problem is None:
                root = header
            else:
                problems.append(problem)
            continue
        num_lines += 1
        parsed = encoding_problem(name, number) if text is None else parse_entry(name, number, text)
        (entries if isinstance(parsed, ManifestLine) else problems).append(parsed)
    if header is None:
        problems.append(
            Problem(
                name,
                1,
                "header",
                "the manifest is empty: no audio root directory on line 1",
                f"write the audio root directory on line 1, then one {ENTRY_FORMAT} line per "
                f"utterance ({PREPARE_COMMAND} writes such manifests)",
            )
        )
    return ParsedManifest(header, root, entries, num_lines, problems)


class ManifestError(ValueError):
    """A manifest that fairseq's loader would refuse or misread; the message lists its
    problems as ``FILE:LINE: error: WHAT; fix: HOW`` lines."""


def format_load_error(
    data_dir: str | Path, split: str, problems: Sequence[Problem], limit: int = MAX_LISTED_PROBLEMS
) -> str:
    """The message of a malformed manifest ``DATA/SPLIT.tsv``: the first ``limit`` problems,
    how many more there are, and the command that checks everything."""
    lines = [f"malformed manifest {os.path.join(data_dir, split + MANIFEST_SUFFIX)}:"]
    lines += [problem.format("error") for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    lines.append(
        f"run `{CHECK_COMMAND} {data_dir} --split {split}` to see all problems, including "
        "those of the audio files and labels"
    )
    return "\n".join(lines)


def read_manifest(path: str | Path) -> tuple[Path, list[ManifestEntry]]:
    """Read a manifest into its root folder and its ``(rel_path, num_samples)`` entries.

    Raises ``ManifestError`` listing every problem ``parse_manifest`` finds, so a tool that
    transforms manifests never writes one that training would then refuse.
    """
    parsed = parse_manifest(path)
    if parsed.problems:
        data_dir, name = os.path.split(path)
        split = name.removesuffix(MANIFEST_SUFFIX)
        raise ManifestError(format_load_error(data_dir or ".", split, parsed.problems))
    return Path(parsed.root), [(entry.rel_path, entry.num_samples) for entry in parsed.entries]


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


def write_letter_dictionary(
    path: str | Path, ltr_files: Iterable[str | Path], extra_symbols: Iterable[str] = ()
) -> Counter[str]:
    """Write ``dict.ltr.txt`` from ``.ltr`` files and return their symbol counts.

    Lines are ``SYMBOL COUNT``, sorted by count descending and then by symbol, so the
    symbol-to-index mapping of fairseq's Dictionary is reproducible.  ``extra_symbols`` not
    in the files are listed last with count 0 (letters only held-out splits use).
    """
    counts = count_letters(ltr_files)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ordered += [(symbol, 0) for symbol in sorted(set(extra_symbols) - counts.keys())]
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
