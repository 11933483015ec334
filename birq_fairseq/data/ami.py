"""AMI meeting corpus -> segment wavs, manifests and labels for IHM and SDM:
``python -m birq_fairseq.data.ami --audio AMI/amicorpus --annotations ami_public_manual_1.6.2
--dest DEST``.

Standard layouts, as distributed: ``amicorpus/MEETING/audio/MEETING.Headset-N.wav`` (IHM,
one close-talk microphone per speaker) and ``MEETING.Array1-01.wav`` (SDM, the first
microphone of array 1); the NXT manual annotations hold ``words/MEETING.S.words.xml``,
``segments/MEETING.S.segments.xml`` (S = speaker letter A..E) and
``corpusResources/meetings.xml`` (which headset each speaker wore).

Each annotated segment becomes a wav (IHM from its speaker's headset, SDM from the array
microphone) whose transcript is the segment's words, punctuation dropped and text
normalised like every other corpus here. Splits follow the standard full-corpus-ASR
partition (the dev and eval meetings below; every other meeting trains). Writes
``DEST/{train,dev,eval}_{ihm,sdm}.{tsv,wrd,ltr}``, ``DEST/train_ihm_sdm.*`` (both
microphones, the 150 h fine-tuning set) and ``DEST/dict.ltr.txt``; every output that
exists is kept, so a stopped run restarts where it was.
"""

import itertools
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from ..tools import tool_parser
from .audio_io import TARGET_SAMPLE_RATE, write_wav16
from .manifests import (
    LETTERS_SUFFIX,
    MANIFEST_SUFFIX,
    WORDS_SUFFIX,
    write_labels,
    write_letter_dictionary,
    write_manifest,
)
from .text_normalization import normalize_transcript

NITE_ID = "{http://nite.sourceforge.net/}id"
HREF_RANGE = re.compile(r"#id\(([^)]+)\)(?:\.\.id\(([^)]+)\))?")
DEV_MEETINGS = frozenset(
    "ES2011a ES2011b ES2011c ES2011d IB4001 IB4002 IB4003 IB4004 IB4010 IB4011 "
    "IS1008a IS1008b IS1008c IS1008d TS3004a TS3004b TS3004c TS3004d".split()
)
EVAL_MEETINGS = frozenset(
    "EN2002a EN2002b EN2002c EN2002d ES2004a ES2004b ES2004c ES2004d "
    "IS1009a IS1009b IS1009c IS1009d TS3003a TS3003b TS3003c TS3003d".split()
)
SPLITS = ("train", "dev", "eval")
MICROPHONES = ("ihm", "sdm")
SDM_CHANNEL = "Array1-01"
MIN_SECONDS = 0.1


@dataclass(frozen=True)
class Segment:
    meeting: str
    speaker: str   # NXT agent letter
    start: float   # seconds
    end: float
    text: str      # normalised words

    def file_name(self) -> str:
        return f"{self.meeting}_{self.speaker}_{round(self.start * 100):07d}_" \
               f"{round(self.end * 100):07d}.wav"


def split_of(meeting: str) -> str:
    if meeting in DEV_MEETINGS:
        return "dev"
    return "eval" if meeting in EVAL_MEETINGS else "train"


def headset_channels(meetings_xml: Path) -> dict[tuple[str, str], str]:
    """{(meeting, speaker letter): headset channel} from corpusResources/meetings.xml."""
    channels = {}
    for meeting in ET.parse(meetings_xml).getroot().iter("meeting"):
        for speaker in meeting.iter("speaker"):
            channels[(meeting.get("observation"), speaker.get("nxt_agent"))] = \
                speaker.get("channel")
    return channels


def read_words(words_xml: Path) -> tuple[list[str], dict[str, int], list[str]]:
    """The file's elements in order: (ids, id -> position, spoken word or "" for
    punctuation, vocal sounds and other non-word elements)."""
    ids, texts = [], []
    for element in ET.parse(words_xml).getroot():
        ids.append(element.get(NITE_ID))
        spoken = element.tag == "w" and element.get("punc") != "true"
        texts.append((element.text or "").strip() if spoken else "")
    return ids, {element_id: i for i, element_id in enumerate(ids)}, texts


def read_segments(segments_xml: Path, words_xml: Path, meeting: str, speaker: str
                  ) -> list[Segment]:
    _, position, texts = read_words(words_xml)
    segments = []
    for segment in ET.parse(segments_xml).getroot().iter("segment"):
        words = []
        for child in segment:
            match = HREF_RANGE.search(child.get("href", ""))
            if match:
                first = position[match.group(1)]
                last = position[match.group(2) or match.group(1)]
                words += texts[first:last + 1]
        text = normalize_transcript(" ".join(w for w in words if w))
        start = float(segment.get("transcriber_start"))
        end = float(segment.get("transcriber_end"))
        if text and end - start >= MIN_SECONDS:
            segments.append(Segment(meeting, speaker, start, end, text))
    return segments


def annotated_segments(annotations: Path) -> list[Segment]:
    segments = []
    for segments_xml in sorted((annotations / "segments").glob("*.segments.xml")):
        meeting, speaker = segments_xml.name.split(".")[:2]
        words_xml = annotations / "words" / f"{meeting}.{speaker}.words.xml"
        if not words_xml.exists():
            raise FileNotFoundError(f"{segments_xml}: its words file {words_xml} is missing")
        segments += read_segments(segments_xml, words_xml, meeting, speaker)
    return sorted(segments, key=lambda s: (s.meeting, s.start, s.speaker))


def cut(source: Path, segments: Iterable[Segment], out_dir: Path) -> dict[Segment, int]:
    """Writes each segment of one recording as a 16 kHz wav (kept when it exists);
    returns {segment: samples}."""
    lengths = {}
    with sf.SoundFile(str(source)) as audio:
        if audio.samplerate != TARGET_SAMPLE_RATE:
            raise ValueError(f"{source}: {audio.samplerate} Hz; AMI is distributed at "
                             f"{TARGET_SAMPLE_RATE} Hz: is this the right file?")
        for segment in segments:
            start = round(segment.start * TARGET_SAMPLE_RATE)
            stop = min(round(segment.end * TARGET_SAMPLE_RATE), audio.frames)
            target = out_dir / segment.file_name()
            if not target.exists():
                audio.seek(start)
                samples = audio.read(stop - start, dtype="float32", always_2d=True)
                write_wav16(target, samples.mean(axis=1))
            lengths[segment] = stop - start
    return lengths


def prepare(audio_root: Path, annotations: Path, dest: Path) -> dict[str, int]:
    """Writes every output; returns {split_mic: utterances}."""
    channels = headset_channels(annotations / "corpusResources" / "meetings.xml")
    segments = annotated_segments(annotations)
    wav_root = dest / "audio"
    rows: dict[str, list[tuple[str, int, str]]] = {
        f"{split}_{mic}": [] for split in SPLITS for mic in MICROPHONES
    }
    for meeting, grouped in itertools.groupby(segments, key=lambda s: s.meeting):
        of_meeting = list(grouped)  # annotated_segments sorts by meeting
        audio_dir = audio_root / meeting / "audio"
        if not audio_dir.is_dir():
            print(f"ami: skip {meeting}: no audio folder {audio_dir}", file=sys.stderr)
            continue
        split = split_of(meeting)
        sdm = audio_dir / f"{meeting}.{SDM_CHANNEL}.wav"
        if sdm.exists():
            for segment, n in cut(sdm, of_meeting, wav_root / "sdm" / meeting).items():
                rows[f"{split}_sdm"].append((f"sdm/{meeting}/{segment.file_name()}", n,
                                             segment.text))
        for speaker in sorted({s.speaker for s in of_meeting}):
            channel = channels.get((meeting, speaker))
            headset = audio_dir / f"{meeting}.Headset-{channel}.wav"
            if channel is None or not headset.exists():
                print(f"ami: skip IHM of {meeting} speaker {speaker}: no {headset.name}",
                      file=sys.stderr)
                continue
            spoken = [s for s in of_meeting if s.speaker == speaker]
            for segment, n in cut(headset, spoken, wav_root / "ihm" / meeting).items():
                rows[f"{split}_ihm"].append((f"ihm/{meeting}/{segment.file_name()}", n,
                                             segment.text))
    rows["train_ihm_sdm"] = rows["train_ihm"] + rows["train_sdm"]
    for name, entries in rows.items():
        if not entries:
            continue
        entries.sort()
        write_manifest(dest / f"{name}{MANIFEST_SUFFIX}", wav_root.resolve(),
                       ((path, n) for path, n, _ in entries))
        write_labels(dest / name, (text for _, _, text in entries), normalize=False)
    train_letters = [dest / f"train_{mic}{LETTERS_SUFFIX}" for mic in MICROPHONES
                     if rows[f"train_{mic}"]]
    if not train_letters:
        raise ValueError(f"no training meeting with audio under {audio_root}")
    write_letter_dictionary(dest / "dict.ltr.txt", train_letters)
    return {name: len(entries) for name, entries in rows.items() if entries}


def main(argv=None) -> int:
    parser = tool_parser("birq_fairseq.data.ami", __doc__)
    parser.add_argument("--audio", type=Path, required=True,
                        help="the amicorpus folder (MEETING/audio/*.wav)")
    parser.add_argument("--annotations", type=Path, required=True,
                        help="the NXT manual annotations (words/, segments/, corpusResources/)")
    parser.add_argument("--dest", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    for folder in (args.annotations / "words", args.annotations / "segments"):
        if not folder.is_dir():
            parser.error(f"{folder}: not found; --annotations must be the unpacked "
                         "ami_public_manual_1.6.2 folder")
    if not (args.annotations / "corpusResources" / "meetings.xml").is_file():
        parser.error(f"{args.annotations}/corpusResources/meetings.xml: not found")
    if not args.audio.is_dir():
        parser.error(f"{args.audio}: not found; --audio is the amicorpus folder")
    counts = prepare(args.audio, args.annotations, args.dest)
    for name, count in counts.items():
        print(f"{args.dest / name}{{{MANIFEST_SUFFIX},{WORDS_SUFFIX},{LETTERS_SUFFIX}}}: "
              f"{count} utterances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
