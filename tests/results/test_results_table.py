"""The scores read back from fairseq-generate results files: the WER fairseq printed, and
the letter error rate recomputed from the hypotheses against a plain dynamic-programming
edit distance."""

from pathlib import Path

import pytest

from birq_fairseq.results_table import scored_ler, scored_wer


def levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


PAIRS = {"3": ("PRESS ONE", "PRES ONE"), "7": ("GOOD BYE", ""), "12": ("TO HEAR", "TO HEAR")}


def results_file(tmp_path: Path, pairs=PAIRS, last="Generate test with beam=1: WER: 61.54"):
    lines = []
    for uid, (reference, hypothesis) in pairs.items():
        lines += [f"T-{uid}\t{reference}", f"H-{uid}\t-1.25\t{hypothesis}",
                  f"D-{uid}\t-1.25\t{hypothesis}", f"P-{uid}\t-0.5 -0.7"]
    path = tmp_path / "generate-test.txt"
    path.write_text("\n".join(lines + [last]) + "\n", encoding="utf-8")
    return path


def test_wer_is_the_last_line_score(tmp_path):
    assert scored_wer(results_file(tmp_path)) == pytest.approx(61.54)
    assert scored_wer(results_file(tmp_path, last="interrupted")) is None


def test_letter_error_rate_matches_a_reference_edit_distance(tmp_path):
    errors = sum(levenshtein(r, h) for r, h in PAIRS.values())
    letters = sum(len(r) for r, _ in PAIRS.values())
    assert errors == 1 + 8 and letters == 9 + 8 + 7
    assert scored_ler(results_file(tmp_path)) == pytest.approx(100 * errors / letters)


def test_letter_error_rate_refuses_a_file_missing_hypotheses(tmp_path):
    path = results_file(tmp_path)
    text = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("H-7"))
    path.write_text(text)
    assert scored_ler(path) is None
