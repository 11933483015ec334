"""Forced phone alignment of English speech with PocketSphinx (PyPI ``pocketsphinx`` 5.x,
which ships its en-us acoustic model and CMU dictionary: nothing is downloaded).

Two passes over the audio: the first with the transcript as the only allowed word sequence
finds the words, the second (``set_alignment``) their phones, in 10 ms frames. Cepstral
mean normalisation runs over each whole utterance (``cmn=batch``) and the feature state is
reset before every pass: the decoder otherwise carries it from one utterance into the
next, and an alignment would depend on which utterances a worker happened to see before.
"""

from dataclasses import dataclass

import numpy as np
import soundfile as sf

from .phone_alignments import (
    PHONE_FRAME_MS,
    SILENCE,
    Segment,
    num_phone_frames,
    segments_to_frames,
)

SAMPLE_RATE = 16000
# PocketSphinx's silence and filler units, all of which are silence for a phone reference.
SILENCE_UNITS = {"SIL", "+SPN+", "+NSN+", "+BREATH+", "+COUGH+", "+UM+", "+UH+", "+SMACK+"}


class AlignmentError(ValueError):
    """The aligner could not align this utterance (unknown word, no path through it)."""


@dataclass
class Alignment:
    words: list[Segment]  # (word, start s, end s), fillers and silences included
    phones: list[Segment]  # (phone, start s, end s); silences and fillers are SILENCE


class PocketsphinxAligner:
    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError as error:
            raise RuntimeError(
                "phone alignment of real speech needs PocketSphinx: pip install 'pocketsphinx>=5'"
            ) from error
        self._decoder = Decoder(lm=None, cmn="batch", loglevel="FATAL")

    def _pass(self, pcm: bytes) -> None:
        self._decoder.reinit_feat()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()

    def align(self, audio: np.ndarray, words: str) -> Alignment:
        """Word and phone segments of 16 kHz ``audio`` (float in [-1, 1]) spoken as
        ``words``; raises :class:`AlignmentError` when it cannot be aligned."""
        text = words.lower().strip()
        if not text:
            raise AlignmentError("empty transcript")
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        try:
            self._decoder.set_align_text(text)
            self._pass(pcm)
            self._decoder.set_alignment()
            self._pass(pcm)
            alignment = self._decoder.get_alignment()
        except (RuntimeError, KeyError, ValueError) as error:
            raise AlignmentError(str(error)) from error
        if alignment is None:
            raise AlignmentError("no alignment found")
        seconds = PHONE_FRAME_MS / 1000
        word_segments, phone_segments = [], []
        for word in alignment:
            start = word.start * seconds
            word_segments.append((word.name, start, start + word.duration * seconds))
            for phone in word:
                name = SILENCE if phone.name in SILENCE_UNITS else phone.name
                start = phone.start * seconds
                phone_segments.append((name, start, start + phone.duration * seconds))
        if not any(name != SILENCE for name, _, _ in phone_segments):
            raise AlignmentError("alignment holds silence only")
        return Alignment(word_segments, phone_segments)


_aligner: PocketsphinxAligner | None = None


def align_file(audio_path: str, words: str) -> list[str] | str:
    """One recording's phones per 10 ms frame, or the reason it could not be aligned; one
    aligner per process (worker pools call this)."""
    global _aligner
    if _aligner is None:
        _aligner = PocketsphinxAligner()
    audio, rate = sf.read(audio_path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        return f"{rate} Hz audio (PocketSphinx's model is for {SAMPLE_RATE} Hz)"
    audio = audio.mean(axis=1)
    try:
        segments = _aligner.align(audio, words).phones
    except AlignmentError as error:
        return str(error)
    return segments_to_frames(segments, num_phone_frames(len(audio), rate))
