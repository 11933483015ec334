"""Builds a small word n-gram LM in ARPA format from transcripts: ``python -m
birq_fairseq.lm.build_arpa --order 3 --out lm.arpa train.wrd [more.wrd ...]``.

For the demo corpus and tests, where KenLM's ``lmplz`` (a C++ build with Boost that
pip's ``kenlm`` module does not ship) is not at hand. For LibriSpeech use the official
4-gram (see examples/librispeech/README.md) or ``lmplz``.

The estimate is interpolated absolute discounting, which ARPA's back-off form holds
exactly: a seen n-gram is listed with its interpolated probability and a history ``h``
carries the back-off weight ``D * N1+(h .) / c(h)`` (the mass its discounts freed), so
an unseen word costs that weight times the lower-order probability, as the
interpolation says. The discount per order is Ney's ``n1 / (n1 + 2 n2)``.
"""

import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

from ..tools import tool_parser

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
DEFAULT_DISCOUNT = 0.5
LOG10_OF_ZERO = -99.0  # ARPA's convention for <s>, which is never predicted


def ngram_counts(sentences, order: int) -> list[Counter]:
    """counts[k][ngram] for k = 1..order (index 0 unused); <s> is never predicted."""
    counts = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        tokens = [BOS, *sentence, EOS]
        for k in range(1, order + 1):
            for start in range(len(tokens) - k + 1):
                ngram = tuple(tokens[start:start + k])
                if ngram[-1] != BOS:
                    counts[k][ngram] += 1
    return counts


def ney_discount(counts: Counter) -> float:
    once = sum(1 for c in counts.values() if c == 1)
    twice = sum(1 for c in counts.values() if c == 2)
    if once == 0 or twice == 0:
        return DEFAULT_DISCOUNT
    return once / (once + 2 * twice)


def estimate(sentences, order: int) -> tuple[list[dict], list[dict]]:
    """Returns ``probs[k][ngram]`` and ``backoffs[k][history]`` (natural probabilities and
    weights, not logs) for every listed n-gram."""
    counts = ngram_counts(sentences, order)
    probs: list[dict] = [{} for _ in range(order + 1)]
    backoffs: list[dict] = [{} for _ in range(order + 1)]

    discount = ney_discount(counts[1])
    total = sum(counts[1].values())
    vocab = len(counts[1]) + 1  # + <unk>
    floor = discount * len(counts[1]) / total / vocab
    for (word,), count in counts[1].items():
        probs[1][(word,)] = (count - discount) / total + floor
    probs[1][(UNK,)] = floor
    probs[1][(BOS,)] = 0.0

    for k in range(2, order + 1):
        discount = ney_discount(counts[k])
        context_total: dict = defaultdict(int)
        context_types: dict = defaultdict(int)
        for ngram, count in counts[k].items():
            context_total[ngram[:-1]] += count
            context_types[ngram[:-1]] += 1
        for history, seen in context_total.items():
            backoffs[k - 1][history] = discount * context_types[history] / seen
        for ngram, count in counts[k].items():
            history = ngram[:-1]
            lower = probs[k - 1][ngram[1:]]
            probs[k][ngram] = (count - discount) / context_total[history] + (
                backoffs[k - 1][history] * lower
            )
    return probs, backoffs


def arpa_text(probs: list[dict], backoffs: list[dict]) -> str:
    order = len(probs) - 1
    lines = ["\\data\\"]
    lines += [f"ngram {k}={len(probs[k])}" for k in range(1, order + 1)]
    for k in range(1, order + 1):
        lines += ["", f"\\{k}-grams:"]
        for ngram in sorted(probs[k]):
            p = probs[k][ngram]
            log_p = math.log10(p) if p > 0 else LOG10_OF_ZERO
            line = f"{log_p:.6f}\t{' '.join(ngram)}"
            if k < order:
                line += f"\t{math.log10(backoffs[k].get(ngram, 1.0)):.6f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def read_sentences(paths) -> list[list[str]]:
    sentences = []
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            sentences += [line.split() for line in lines if line.strip()]
    return sentences


def main(argv=None) -> int:
    parser = tool_parser("birq_fairseq.lm.build_arpa", __doc__)
    parser.add_argument("text", nargs="+", help="transcript files, one sentence per line (.wrd)")
    parser.add_argument("--order", type=int, default=3, help="n-gram order")
    parser.add_argument("--out", required=True, help="ARPA file to write")
    args = parser.parse_args(argv)
    if args.order < 1:
        parser.error("--order must be at least 1")
    for path in args.text:
        if not Path(path).is_file():
            parser.error(f"{path}: no such file")
    sentences = read_sentences(args.text)
    if not sentences:
        parser.error(f"no sentences in {' '.join(args.text)}")
    probs, backoffs = estimate(sentences, args.order)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(arpa_text(probs, backoffs), encoding="utf-8")
    sizes = ", ".join(f"{len(probs[k])} {k}-grams" for k in range(1, args.order + 1))
    print(f"{args.out}: {len(sentences)} sentences, {sizes}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
