"""A small AMI corpus in the distributed layout (amicorpus/ audio and NXT annotations),
with noise for audio: enough for the preparation and the recipe to run for real."""

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
SECONDS = 12
# meeting -> {speaker letter: headset channel}; one train, one dev, one eval meeting.
MEETINGS = {"ES2002a": {"A": "0", "B": "1"}, "ES2011a": {"A": "1", "B": "0"},
            "ES2004a": {"A": "0", "B": "1"}}
# Per speaker: segments of (start, end, [(word, kind)]) with kind w, punc or vocalsound.
SEGMENTS = {
    "A": [(0.5, 2.0, [("okay", "w"), (".", "punc"), ("so", "w"), ("we'll", "w")]),
          (3.0, 4.5, [("", "vocalsound")]),                      # nothing to say: dropped
          (5.0, 7.25, [("the", "w"), ("remote", "w"), ("costs", "w"), ("25", "w")])],
    "B": [(2.0, 3.5, [("yeah", "w"), (",", "punc"), ("right", "w")]),
          (8.0, 10.0, [("Mm-hmm", "w"), ("fine", "w")])],
}
EXPECTED_TEXT = {"A": ["OKAY SO WE'LL", "THE REMOTE COSTS TWENTY FIVE"],
                 "B": ["YEAH RIGHT", "MM HMM FINE"]}


def write_words_and_segments(annotations: Path, meeting: str, speaker: str) -> None:
    words, segments, index = [], [], 0
    for number, (start, end, tokens) in enumerate(SEGMENTS[speaker]):
        first = index
        for token, kind in tokens:
            word_id = f"{meeting}.{speaker}.words{index}"
            if kind == "vocalsound":
                words.append(f'<vocalsound nite:id="{word_id}" starttime="{start}" '
                             f'endtime="{end}" type="laugh"/>')
            else:
                punc = ' punc="true"' if kind == "punc" else ""
                words.append(f'<w nite:id="{word_id}" starttime="{start}" endtime="{end}"'
                             f"{punc}>{token}</w>")
            index += 1
        last = index - 1
        href = f"{meeting}.{speaker}.words.xml#id({meeting}.{speaker}.words{first})"
        if last > first:
            href += f"..id({meeting}.{speaker}.words{last})"
        segments.append(f'<segment nite:id="{meeting}.sync.{speaker}{number}" '
                        f'transcriber_start="{start}" transcriber_end="{end}">'
                        f'<nite:child href="{href}"/></segment>')
    nite = 'xmlns:nite="http://nite.sourceforge.net/"'
    (annotations / "words" / f"{meeting}.{speaker}.words.xml").write_text(
        f'<nite:root nite:id="{meeting}.{speaker}.words" {nite}>{"".join(words)}</nite:root>')
    (annotations / "segments" / f"{meeting}.{speaker}.segments.xml").write_text(
        f'<nite:root nite:id="{meeting}.{speaker}.seg" {nite}>{"".join(segments)}</nite:root>')


def make_ami(root: Path) -> tuple[Path, Path]:
    """Writes ROOT/amicorpus and ROOT/ami_public_manual_1.6.2; returns both paths."""
    audio, annotations = root / "amicorpus", root / "ami_public_manual_1.6.2"
    for folder in ("words", "segments", "corpusResources"):
        (annotations / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    meetings_xml = []
    for meeting, channels in MEETINGS.items():
        (audio / meeting / "audio").mkdir(parents=True)
        for mic in [f"Headset-{c}" for c in channels.values()] + ["Array1-01"]:
            noise = (0.1 * rng.standard_normal(SECONDS * RATE)).astype(np.float32)
            sf.write(audio / meeting / "audio" / f"{meeting}.{mic}.wav", noise, RATE,
                     subtype="PCM_16")
        speakers = "".join(f'<speaker nxt_agent="{s}" channel="{c}" global_name="X{s}"/>'
                           for s, c in channels.items())
        meetings_xml.append(f'<meeting observation="{meeting}">{speakers}</meeting>')
        for speaker in channels:
            write_words_and_segments(annotations, meeting, speaker)
    (annotations / "corpusResources" / "meetings.xml").write_text(
        f"<meetings>{''.join(meetings_xml)}</meetings>")
    return audio, annotations
