"""espeak-ng speech with its exact phone segments, through ``libespeak-ng.so.1`` (ctypes).

The library reports a phoneme event (name, sample position) for every phoneme it
synthesises when initialised with ``espeakINITIALIZE_PHONEME_EVENTS``; a segment runs from
one phoneme's event to the next. The command-line ``espeak-ng --pho`` needs an MBROLA
voice, so the library is the only offline source of exact synthetic alignments. No Python
binding of espeak-ng is packaged for this, hence the hand-written ctypes layer.

The library carries state from one utterance into the next (the same request spoken after
another one comes out a few samples longer and different), so :func:`synthesize` speaks
each utterance in a freshly forked process: the output then depends on the request alone
and equals what ``espeak-ng -v VOICE -s SPEED -p PITCH -w FILE TEXT`` writes.
"""

import ctypes
import os
import pickle
from dataclasses import dataclass

import numpy as np

from .phone_alignments import SILENCE, Segment

LIBRARY = "libespeak-ng.so.1"
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
END_PAUSE = 0x1000
POS_CHARACTER = 1
PARAMETER_RATE, PARAMETER_PITCH = 1, 3
EVENT_LIST_TERMINATED, EVENT_PHONEME = 0, 7
EE_OK = 0
PAUSE_PREFIX = "_"  # espeak-ng's pause phonemes: "_", "_:", "_!", ...


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of ``speak_lib.h``."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class SynthesizedSpeech:
    audio: np.ndarray  # float32 in [-1, 1], mono
    sample_rate: int
    segments: list[Segment]  # (phone, start s, end s); pauses are SILENCE


class EspeakSynthesizer:
    """One per process: the library keeps global state and is not thread-safe."""

    def __init__(self):
        try:
            self._lib = ctypes.CDLL(LIBRARY)
        except OSError as error:
            raise RuntimeError(f"cannot load {LIBRARY}: apt install espeak-ng ({error})") from error
        self.sample_rate = self._lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS
        )
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.sample_rate})")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _CALLBACK(self._collect)  # kept alive: the library holds a pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (num_samples,)).copy())
        index = 0
        while events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == EVENT_PHONEME:
                self._events.append((event.id.string.decode("utf-8", "replace"), event.sample))
            index += 1
        return 0

    def synthesize(self, text: str, voice: str, speed: int, pitch: int) -> SynthesizedSpeech:
        """Speak ``text`` with ``voice`` (e.g. ``en-us+m3``) at ``speed`` words per minute and
        ``pitch`` (0-99), as ``espeak-ng -v VOICE -s SPEED -p PITCH`` would."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise ValueError(f"espeak-ng has no voice {voice!r} (espeak-ng --voices lists them)")
        self._lib.espeak_SetParameter(PARAMETER_RATE, int(speed), 0)
        self._lib.espeak_SetParameter(PARAMETER_PITCH, int(pitch), 0)
        self._chunks, self._events = [], []
        encoded = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(encoded)
        self._lib.espeak_Synth(
            buffer, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8 | END_PAUSE, None, None
        )
        self._lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        segments = phoneme_segments(self._events, len(audio), self.sample_rate)
        return SynthesizedSpeech(audio.astype(np.float32) / 32768.0, self.sample_rate, segments)


def phoneme_segments(
    events: list[tuple[str, int]], num_samples: int, sample_rate: int
) -> list[Segment]:
    """Phoneme onsets (name, sample) -> segments that end at the next onset (the last at
    the end of the audio); empty segments (markers such as stress) are dropped."""
    segments = []
    ends = [sample for _, sample in events[1:]] + [num_samples]
    for (name, start), end in zip(events, ends):
        if end > start:
            phone = SILENCE if name.startswith(PAUSE_PREFIX) else name
            segments.append((phone, start / sample_rate, end / sample_rate))
    return segments


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def synthesize(text: str, voice: str, speed: int, pitch: int) -> SynthesizedSpeech:
    """:meth:`EspeakSynthesizer.synthesize` in a child process forked for this request, with
    a library that has spoken nothing before (see the module docstring)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: speak, send the result (or the error) back, exit at once
        os.close(read_end)
        try:
            result: object = EspeakSynthesizer().synthesize(text, voice, speed, pitch)
        except Exception as error:  # noqa: BLE001 - re-raised in the parent
            result = error
        with os.fdopen(write_end, "wb") as out:
            pickle.dump(result, out)
        os._exit(0)
    os.close(write_end)
    try:
        payload = _read_all(read_end)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError(f"espeak-ng died while speaking {text[:40]!r} with {voice}")
    result = pickle.loads(payload)
    if isinstance(result, Exception):
        raise result
    return result
