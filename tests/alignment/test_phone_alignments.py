"""The alignment file format and the 10 ms -> 40 ms phone lookup."""

import numpy as np
import pytest

from birq_fairseq.alignment.phone_alignments import (
    SILENCE,
    PhoneInventory,
    at_label_rate,
    read_alignments,
    segments_to_frames,
    utterance_id,
    write_alignments,
)


def test_utterance_id_is_the_manifest_path_without_suffix():
    assert utterance_id("synth/00012_ab.wav") == "synth/00012_ab"
    assert utterance_id("a/b.c/d.flac") == "a/b.c/d"


def test_segments_to_frames_fills_gaps_with_silence():
    frames = segments_to_frames([("AH", 0.02, 0.05), ("T", 0.05, 0.07)], 9)
    assert frames == [SILENCE, SILENCE, "AH", "AH", "AH", "T", "T", SILENCE, SILENCE]


def test_segments_past_the_audio_are_cut():
    assert segments_to_frames([("S", 0.0, 1.0)], 3) == ["S", "S", "S"]


def test_write_then_read_round_trips(tmp_path):
    alignments = {"x/a": ["SIL", "AH", "AH"], "b": ["T"]}
    write_alignments(tmp_path / "s.phn", alignments)
    assert (tmp_path / "s.phn").read_text() == "x/a\tSIL,AH,AH\nb\tT\n"
    assert read_alignments(tmp_path / "s.phn") == alignments


def test_a_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.phn"
    path.write_text("a\tSIL,AH\nno-tab-here\n")
    with pytest.raises(ValueError, match=r"bad\.phn:2: expected 'uid<TAB>"):
        read_alignments(path)


def test_an_utterance_aligned_twice_is_an_error(tmp_path):
    path = tmp_path / "twice.phn"
    path.write_text("a\tSIL\na\tAH\n")
    with pytest.raises(ValueError, match=r"twice\.phn:2: utterance 'a' is aligned twice"):
        read_alignments(path)


def test_phone_names_with_commas_are_refused(tmp_path):
    with pytest.raises(ValueError, match="phone names"):
        write_alignments(tmp_path / "x.phn", {"a": ["A,B"]})


def test_inventory_ids_are_sorted_and_independent_of_order():
    first = PhoneInventory.of({"a": ["T", "AH"], "b": ["SIL"]})
    second = PhoneInventory.of({"b": ["SIL", "T"], "a": ["AH"]})
    assert first.names == second.names == ["AH", "SIL", "T"]
    assert first.encode(["T", "AH"]).tolist() == [2, 0]


def test_label_frames_take_the_third_10ms_frame_of_each_40ms_frame():
    phone_ids = np.arange(10)  # frame t has id t
    assert at_label_rate(phone_ids, 3).tolist() == [2, 6, -1]
    assert at_label_rate(phone_ids, 2, offset_frames=3).tolist() == [5, 9]
