"""Collects the WERs of ``fairseq-generate`` runs into one Markdown table:
``python -m birq_fairseq.results_table RESULTS_DIR``.

Reads every ``RESULTS_DIR/MODEL/DECODER/generate-SPLIT.txt`` (the layout the recipes
write) and prints a row per model and decoder, a column per split.
"""

import re
import sys
from pathlib import Path

import editdistance

from .tools import tool_parser

WER_LINE = re.compile(r"WER: ([\d.]+)")


def scored_wer(path: Path) -> float | None:
    """The WER fairseq-generate printed on the last line of its results file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    match = WER_LINE.search(lines[-1]) if lines else None
    return float(match.group(1)) if match else None


def scored_ler(path: Path) -> float | None:
    """Letter error rate (%) of a fairseq-generate results file: character edit distance of
    each hypothesis (``H-``) to its reference (``T-``), spaces counted as the word boundary
    letter, as fairseq's ``uer``; summed over the split. It still ranks models where the WER
    sits at 100."""
    references, hypotheses = {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        tag, _, rest = line.partition("\t")
        if tag.startswith("T-"):
            references[tag[2:]] = rest
        elif tag.startswith("H-"):
            hypotheses[tag[2:]] = rest.split("\t", 1)[1] if "\t" in rest else ""
    if not references or references.keys() != hypotheses.keys():
        return None
    errors = sum(editdistance.eval(references[i], hypotheses[i]) for i in references)
    return 100.0 * errors / max(1, sum(len(text) for text in references.values()))


def collect(results: Path) -> dict[tuple[str, str], dict[str, float]]:
    table: dict[tuple[str, str], dict[str, float]] = {}
    for path in sorted(results.glob("*/*/generate-*.txt")):
        wer = scored_wer(path)
        if wer is not None:
            row = (path.parent.parent.name, path.parent.name)
            table.setdefault(row, {})[path.stem.removeprefix("generate-")] = wer
    return table


def markdown(table: dict[tuple[str, str], dict[str, float]]) -> str:
    splits = sorted({split for row in table.values() for split in row})
    lines = ["| model | decoder | " + " | ".join(splits) + " |",
             "|---|---|" + "---:|" * len(splits)]
    for (model, decoder), wers in sorted(table.items()):
        cells = [f"{wers[s]:.2f}" if s in wers else "-" for s in splits]
        lines.append(f"| {model} | {decoder} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = tool_parser("birq_fairseq.results_table", __doc__)
    parser.add_argument("results", type=Path, help="folder of MODEL/DECODER/generate-*.txt")
    args = parser.parse_args(argv)
    table = collect(args.results)
    if not table:
        parser.error(f"no scored generate-*.txt under {args.results}/MODEL/DECODER/")
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
