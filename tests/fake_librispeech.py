"""A small LibriSpeech tree in the distributed layout
(SPLIT/SPEAKER/CHAPTER/SPEAKER-CHAPTER-UTT.flac + SPEAKER-CHAPTER.trans.txt), noise for audio."""

from pathlib import Path

import numpy as np
import soundfile as sf

WORDS = "THE QUICK BROWN FOX JUMPS OVER A LAZY DOG WHILE IT'S RAINING".split()


def make_librispeech(root: Path, layout: dict[str, dict[str, str]], per_chapter: int,
                     samples: tuple[int, int] = (4000, 12000)) -> dict[str, str]:
    """Writes ``layout`` ({split: {speaker: chapter}}); returns {utterance id: transcript}."""
    rng = np.random.default_rng(0)
    transcripts = {}
    for split, chapters in layout.items():
        for speaker, chapter in chapters.items():
            folder = root / split / speaker / chapter
            folder.mkdir(parents=True)
            lines = []
            for index in range(per_chapter):
                utt_id = f"{speaker}-{chapter}-{index:04d}"
                n_samples = int(rng.integers(*samples))
                sf.write(folder / f"{utt_id}.flac", 0.1 * rng.standard_normal(n_samples), 16000)
                text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 6))))
                transcripts[utt_id] = text
                lines.append(f"{utt_id} {text}")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return transcripts
