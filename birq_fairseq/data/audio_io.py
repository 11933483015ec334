"""Reading any audio as 16 kHz mono and writing the 16-bit wavs that fairseq loads.

fairseq's audio datasets expect one channel at the model's sample rate and do not resample,
so every corpus is converted once, up front, with a polyphase filter from scipy.
"""

import os
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

TARGET_SAMPLE_RATE = 16_000  # Hz, the rate of LibriSpeech and of the wav2vec-style models
PCM_SUBTYPE = "PCM_16"
# Largest float that PCM_16 represents without wrapping: 32767 / 32768.
PCM16_MAX = (2**15 - 1) / 2**15


def resample(audio: np.ndarray, rate: int, target_rate: int = TARGET_SAMPLE_RATE) -> np.ndarray:
    """Resample a 1-D float signal from ``rate`` to ``target_rate`` Hz (both integers).

    The length becomes ``ceil(len(audio) * target_rate / rate)`` samples.
    """
    if rate == target_rate:
        return audio.astype(np.float32, copy=False)
    divisor = gcd(rate, target_rate)
    resampled = resample_poly(audio, target_rate // divisor, rate // divisor)
    return resampled.astype(np.float32, copy=False)


def load_mono_16k(path: str | Path) -> np.ndarray:
    """Load any file soundfile reads (wav, flac, ogg, ...) as float32 mono at 16 kHz.

    Returns shape (num_samples,), values in [-1, 1]; channels are averaged.
    """
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (frames, channels)
    return resample(audio.mean(axis=1), rate)


def write_wav16(path: str | Path, audio: np.ndarray) -> None:
    """Write 16 kHz mono float audio of shape (num_samples,) as a PCM_16 wav.

    Parent folders are created.  The file appears atomically (temporary file, then rename)
    so an interrupted run never leaves a truncated wav that a restart would trust.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Resampling can overshoot full scale slightly; clip instead of letting PCM wrap around.
    clipped = np.clip(audio, -1.0, PCM16_MAX)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        sf.write(tmp_name, clipped, TARGET_SAMPLE_RATE, subtype=PCM_SUBTYPE, format="WAV")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def is_up_to_date(source: Path, converted: Path) -> bool:
    """True when ``converted`` exists and is at least as new as ``source``."""
    return converted.exists() and converted.stat().st_mtime >= source.stat().st_mtime


def convert_to_wav16(source: str | Path, destination: str | Path) -> int:
    """Convert one audio file to 16 kHz mono PCM_16 wav; returns its length in samples."""
    audio = load_mono_16k(source)
    write_wav16(destination, audio)
    return len(audio)


def num_samples(path: str | Path) -> int:
    """Length of an audio file in samples (frames), read from the header only."""
    return sf.info(str(path)).frames
