"""Forced alignment of a real LibriVox recording (pocketsphinx-testdata) with PocketSphinx."""

from pathlib import Path

import pytest
import soundfile as sf

from birq_fairseq.alignment.phone_alignments import SILENCE

pocketsphinx = pytest.importorskip("pocketsphinx")

from birq_fairseq.alignment.pocketsphinx_align import (  # noqa: E402
    AlignmentError,
    PocketsphinxAligner,
)

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
UTTERANCE = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"
WORDS = "HE WAS NOT AN ILL DISPOSED YOUNG MAN"

pytestmark = pytest.mark.skipif(not UTTERANCE.exists(), reason="needs pocketsphinx-testdata")


@pytest.fixture(scope="module")
def aligned():
    audio, rate = sf.read(str(UTTERANCE), dtype="float32")
    assert rate == 16000
    return PocketsphinxAligner().align(audio, WORDS), len(audio) / rate


def test_words_come_in_transcript_order_at_plausible_times(aligned):
    alignment, duration = aligned
    spoken = [(w.split("(")[0], start, end) for w, start, end in alignment.words
              if not w.startswith("<") and w != "<sil>"]
    assert [w for w, _, _ in spoken] == WORDS.lower().split()
    assert spoken[0][1] > 0.05, "a leading pause before 'he'"
    assert spoken[-1][2] <= duration
    assert all(end > start for _, start, end in spoken)
    assert all(a[2] <= b[1] + 1e-9 for a, b in zip(spoken, spoken[1:]))
    # 8 words in 3 s of read speech: each between 50 ms and 1 s long
    assert all(0.05 <= end - start <= 1.0 for _, start, end in spoken)


def test_phones_tile_the_words(aligned):
    alignment, _ = aligned
    phones = [name for name, _, _ in alignment.phones if name != SILENCE]
    assert phones[:2] == ["HH", "IY"]  # "he"
    assert phones[-3:] == ["M", "AE", "N"]  # "man"
    starts = [start for _, start, _ in alignment.phones]
    assert starts == sorted(starts)


def test_a_word_outside_the_dictionary_is_an_alignment_error(aligned):
    audio, _ = sf.read(str(UTTERANCE), dtype="float32")
    with pytest.raises(AlignmentError):
        PocketsphinxAligner().align(audio, "HE WAS QXZZYV")


def test_alignment_does_not_depend_on_what_the_aligner_saw_before(aligned):
    alignment, _ = aligned
    audio, _ = sf.read(str(UTTERANCE), dtype="float32")
    aligner = PocketsphinxAligner()
    other = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"
    other_audio, _ = sf.read(str(other), dtype="float32")
    aligner.align(0.3 * other_audio, "AND MISTER JOHN DASHWOOD HAD THEN LEISURE TO CONSIDER "
                  "HOW MUCH THERE MIGHT BE PRUDENTLY IN HIS POWER TO DO FOR THEM")
    assert aligner.align(audio, WORDS) == alignment
