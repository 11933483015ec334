"""Synthetic speech with the phoneme segments libespeak-ng reports while it speaks."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from birq_fairseq.alignment.espeak_synth import phoneme_segments, synthesize
from birq_fairseq.alignment.phone_alignments import SILENCE

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


@pytest.fixture(scope="module")
def speech():
    return synthesize("the old station is near the river", "en-us+m3", 160, 40)


def test_segments_cover_the_audio_without_gaps_or_overlaps(speech):
    starts = np.array([start for _, start, _ in speech.segments])
    ends = np.array([end for _, _, end in speech.segments])
    duration = len(speech.audio) / speech.sample_rate
    assert starts[0] < 0.05
    assert ends[-1] == pytest.approx(duration)
    assert np.allclose(starts[1:], ends[:-1])
    assert (np.diff(starts) > 0).all(), "phone onsets strictly increase"


def test_segments_spell_the_words_phonemes(speech):
    phones = [name for name, _, _ in speech.segments if name != SILENCE]
    assert len(phones) >= 20  # 7 words, about 25 phonemes
    assert phones[0] == "D"  # "the"
    assert "s" in phones and "t" in phones  # "station"


def test_audio_is_speech_at_the_library_rate(speech):
    assert speech.sample_rate == 22050
    assert speech.audio.dtype == np.float32
    assert np.sqrt(np.mean(speech.audio**2)) > 0.01


def test_same_request_gives_same_audio_and_segments_whatever_was_spoken_before(speech):
    synthesize("a much longer sentence spoken first", "en-gb-scotland+f2", 190, 70)
    again = synthesize("the old station is near the river", "en-us+m3", 160, 40)
    assert np.array_equal(again.audio, speech.audio)
    assert again.segments == speech.segments


def test_audio_equals_the_command_line_output(tmp_path):
    speech = synthesize("a red boat", "en-us+m3", 150, 45)
    subprocess.run(["espeak-ng", "-v", "en-us+m3", "-s", "150", "-p", "45", "-w",
                    str(tmp_path / "cli.wav"), "a red boat"], check=True)
    cli, rate = sf.read(str(tmp_path / "cli.wav"), dtype="int16")
    assert rate == speech.sample_rate
    assert np.array_equal(cli, np.round(speech.audio * 32768).astype(np.int16))


def test_speed_changes_the_duration():
    slow = synthesize("a red boat", "en", 110, 50)
    fast = synthesize("a red boat", "en", 220, 50)
    assert len(fast.audio) < 0.75 * len(slow.audio)


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(ValueError, match="no voice 'xx-nonsense'"):
        synthesize("hello", "xx-nonsense", 150, 50)


def test_pause_phonemes_become_silence_and_markers_vanish():
    segments = phoneme_segments([("h", 100), (";", 200), ("@", 200), ("_:", 300)], 400, 1000)
    assert segments == [("h", 0.1, 0.2), ("@", 0.2, 0.3), (SILENCE, 0.3, 0.4)]
