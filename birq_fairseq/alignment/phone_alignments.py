"""Frame-level phone alignments in the layout fairseq HuBERT's
``examples/hubert/measure_teacher_quality.py`` reads: one line per utterance,
``uid<TAB>ph1,ph2,...`` with one phone per 10 ms frame.

``uid`` is the utterance's path in its wav2vec manifest without the audio suffix
(``synth/00012_ab34.wav`` -> ``synth/00012_ab34``), so an alignment file is keyed to the
manifest lines whatever their order. Alignments of LibriSpeech from the Montreal Forced
Aligner (or any aligner) convert to this layout with :func:`segments_to_frames`.
"""

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from birq_fairseq.data.manifests import write_lines_atomically

PHONE_FRAME_MS = 10
# Encoder / label frames hold 4 phone frames (40 ms); a label frame takes the phone of its
# third 10 ms frame, the one that holds the centre of its 25 ms analysis windows.
FRAMES_PER_LABEL = 4
LABEL_FRAME_OFFSET = 2
SILENCE = "SIL"
ALIGNMENT_SUFFIX = ".phn"

Segment = tuple[str, float, float]  # (phone, start seconds, end seconds)


def utterance_id(manifest_path: str) -> str:
    """The alignment key of a manifest entry: its relative path without the suffix."""
    return str(PurePosixPath(manifest_path).with_suffix(""))


def segments_to_frames(segments: Sequence[Segment], num_frames: int) -> list[str]:
    """Phone segments -> one phone per 10 ms frame (frame t covers [t, t + 1) x 10 ms).

    A frame takes the segment that holds its start; frames that no segment covers are
    silence, so leading and trailing pauses need not be listed.
    """
    frames = [SILENCE] * num_frames
    for phone, start, end in segments:
        first = max(0, int(round(start * 1000 / PHONE_FRAME_MS)))
        last = min(num_frames, int(round(end * 1000 / PHONE_FRAME_MS)))
        frames[first:last] = [phone] * max(0, last - first)
    return frames


def num_phone_frames(num_samples: int, sample_rate: int) -> int:
    return int(num_samples * 1000 // (sample_rate * PHONE_FRAME_MS))


def write_alignments(path: str | Path, alignments: Mapping[str, Sequence[str]]) -> None:
    """Write ``uid<TAB>ph1,ph2,...`` lines (atomically; phones must not hold commas)."""

    def lines() -> Iterable[str]:
        for uid, phones in alignments.items():
            bad = [p for p in phones if "," in p or "\t" in p or not p]
            if bad:
                raise ValueError(
                    f"{uid}: phone names cannot be empty or hold ',' or tabs: {bad[:3]}"
                )
            yield f"{uid}\t{','.join(phones)}"

    write_lines_atomically(path, lines())


def read_alignments(path: str | Path) -> dict[str, list[str]]:
    """Read an alignment file; a malformed line is an error that names the file and line."""
    alignments: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            uid, tab, phones = line.partition("\t")
            if not tab or not phones:
                raise ValueError(
                    f"{path}:{number}: expected 'uid<TAB>ph1,ph2,...' (one phone per 10 ms "
                    f"frame); got {line[:60]!r}; fix: write one utterance per line as "
                    "birq_fairseq.alignment.phone_alignments.write_alignments does"
                )
            if uid in alignments:
                raise ValueError(f"{path}:{number}: utterance {uid!r} is aligned twice; fix: "
                                 "keep one line per utterance")
            alignments[uid] = phones.split(",")
    return alignments


class PhoneInventory:
    """Phone names <-> dense ids, sorted so that the ids do not depend on file order."""

    def __init__(self, phones: Iterable[str]):
        self.names = sorted(set(phones))
        self.index = {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def of(cls, alignments: Mapping[str, Sequence[str]]) -> "PhoneInventory":
        return cls(phone for phones in alignments.values() for phone in phones)

    def encode(self, phones: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.index[p] for p in phones), dtype=np.int64, count=len(phones))


def at_label_rate(
    phone_ids: np.ndarray, num_label_frames: int, offset_frames: int = 0
) -> np.ndarray:
    """10 ms phone ids -> one id per 40 ms label frame, starting ``offset_frames`` 10 ms
    frames into the alignment (a crop); -1 where the alignment is too short."""
    positions = offset_frames + LABEL_FRAME_OFFSET + FRAMES_PER_LABEL * np.arange(num_label_frames)
    labels = np.full(num_label_frames, -1, dtype=np.int64)
    inside = positions < len(phone_ids)
    labels[inside] = phone_ids[positions[inside]]
    return labels


def manifest_alignments(
    alignments: Mapping[str, Sequence[str]], manifest_paths: Sequence[str]
) -> list[Sequence[str] | None]:
    """The alignment of each manifest entry (in manifest order), None where it has none."""
    return [alignments.get(utterance_id(path)) for path in manifest_paths]
