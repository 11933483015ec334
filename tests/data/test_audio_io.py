"""Audio loading, resampling to 16 kHz and 16-bit wav writing."""

import numpy as np
import pytest
import soundfile as sf

from birq_fairseq.data.audio_io import (
    TARGET_SAMPLE_RATE,
    convert_to_wav16,
    is_up_to_date,
    load_mono_16k,
    write_wav16,
)

TONE_HZ = 440.0
AMPLITUDE = 0.5


def tone(rate: int, seconds: float, frequency: float = TONE_HZ) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (AMPLITUDE * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_frequency(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)])


def test_8khz_sine_is_upsampled_with_its_frequency(tmp_path):
    path = tmp_path / "tone8k.wav"
    sf.write(path, tone(8000, 1.0), 8000, subtype="PCM_16")

    audio = load_mono_16k(path)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 2 * 8000
    assert peak_frequency(audio, TARGET_SAMPLE_RATE) == pytest.approx(TONE_HZ, abs=1.0)
    # Away from the edges the resampled tone equals the ideal 16 kHz tone.
    ideal = tone(TARGET_SAMPLE_RATE, 1.0)
    middle = slice(1000, -1000)
    assert np.max(np.abs(audio[middle] - ideal[middle])) < 0.01


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = tone(TARGET_SAMPLE_RATE, 0.5), tone(TARGET_SAMPLE_RATE, 0.5, frequency=1000.0)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), TARGET_SAMPLE_RATE, subtype="FLOAT")

    np.testing.assert_allclose(load_mono_16k(path), (left + right) / 2, atol=1e-6)


def test_flac_at_44k1_is_read_and_downsampled(tmp_path):
    path = tmp_path / "tone.flac"
    sf.write(path, np.stack([tone(44100, 2.0)] * 2, axis=1), 44100)

    audio = load_mono_16k(path)

    assert len(audio) == 2 * TARGET_SAMPLE_RATE
    assert peak_frequency(audio, TARGET_SAMPLE_RATE) == pytest.approx(TONE_HZ, abs=1.0)


def test_write_wav16_format_parents_and_clipping(tmp_path):
    path = tmp_path / "a" / "b" / "out.wav"
    audio = np.array([0.0, 0.5, -0.5, 1.5, -1.5], dtype=np.float32)

    write_wav16(path, audio)

    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        16000,
        1,
        "PCM_16",
        "WAV",
    )
    samples, _ = sf.read(path, dtype="int16")
    assert samples.tolist() == [0, 16384, -16384, 32767, -32768]  # saturated, not wrapped
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]  # no temporary file left


def test_convert_to_wav16_and_freshness(tmp_path):
    source = tmp_path / "in.ogg"
    sf.write(source, tone(22050, 1.0), 22050, format="OGG", subtype="VORBIS")
    target = tmp_path / "out" / "in.wav"
    assert not is_up_to_date(source, target)

    n_samples = convert_to_wav16(source, target)

    assert n_samples == sf.info(target).frames == TARGET_SAMPLE_RATE
    assert is_up_to_date(source, target)
