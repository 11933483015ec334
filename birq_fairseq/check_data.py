"""Check wav2vec manifests, their audio and their labels before training.

Usage::

    python -m birq_fairseq.check_data DATA --split SPLIT [--split SPLIT2 ...] \\
        [--labels ltr,wrd] [--sample-rate 16000] [--min-samples 880] [--no-audio] [--workers N]

Finds in minutes what fairseq would otherwise stop on (or silently learn from) hours into a
run: a malformed manifest, missing / unreadable / truncated audio, a wrong sample rate, sizes
that disagree with the files, utterances too short for one label frame, label files out of
step with the manifest and letters missing from ``dict.ltr.txt``.  Each problem is one line,
``FILE:LINE: error|warning: WHAT; fix: HOW``, and a summary counts each kind.

Exit status: 0 when there is no error (warnings allowed), 1 when there is one, 2 on a usage
error.
"""

import argparse
import os
import re
import sys
from collections.abc import Sequence

from birq_fairseq.data.manifest_checks import (
    DEFAULT_MIN_SAMPLES,
    DEFAULT_SAMPLE_RATE,
    DEFAULT_WORKERS,
    CheckReport,
    Problem,
    check_split,
)
from birq_fairseq.data.manifests import MANIFEST_SUFFIX
from birq_fairseq.tools import tool_parser

LABEL_NAME = re.compile(r"[A-Za-z0-9_]+")


def label_list(text: str) -> tuple[str, ...]:
    """``--labels`` value: comma-separated label extensions; empty checks no labels."""
    labels = tuple(label.strip().lstrip(".") for label in text.split(",") if label.strip())
    for label in labels:
        if not LABEL_NAME.fullmatch(label):
            raise argparse.ArgumentTypeError(f"not a label extension: {label!r}")
    return labels


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(
        "birq_fairseq.check_data",
        __doc__,
        epilog="Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage error.",
    )
    parser.add_argument("data", help="folder of SPLIT.tsv manifests (task.data)")
    parser.add_argument(
        "--split",
        action="append",
        required=True,
        dest="splits",
        help="split to check, e.g. train; repeat for several",
    )
    parser.add_argument(
        "--labels",
        type=label_list,
        help="label files SPLIT.EXT to check, e.g. ltr,wrd (default: those of ltr, wrd that "
        "exist; '' for none); named ones must exist",
    )
    parser.add_argument(
        "--sample-rate",
        type=positive_int,
        default=DEFAULT_SAMPLE_RATE,
        help="rate the model expects, Hz (default %(default)s)",
    )
    parser.add_argument(
        "--min-samples",
        type=non_negative_int,
        default=DEFAULT_MIN_SAMPLES,
        help="shortest usable utterance, in samples (default %(default)s: one 40 ms label "
        "frame of the 4x subsampled log-mel frontend at 16 kHz)",
    )
    parser.add_argument(
        "--no-audio",
        action="store_false",
        dest="audio",
        help="check manifests and labels only, without opening the audio files",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT_WORKERS,
        help="threads reading audio headers (default %(default)s)",
    )
    return parser


def describe(noun: str, problems: Sequence[Problem], report: CheckReport) -> str:
    """``3 errors (sample-rate 2, size 1)``: the total and the count of each kind."""
    text = f"{len(problems)} {noun}{'' if len(problems) == 1 else 's'}"
    kinds = sorted({problem.kind for problem in problems})
    if kinds:
        text += " (" + ", ".join(f"{kind} {report.counts[kind]}" for kind in kinds) + ")"
    return text


def summary(manifest: str, report: CheckReport) -> str:
    errors = describe("error", report.errors, report)
    warnings = describe("warning", report.warnings, report)
    return f"{manifest}: {report.utterances} utterances, {errors}, {warnings}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        parser.error(f"DATA {args.data!r} is not a directory")
    total = CheckReport()
    summaries = []
    for split in args.splits:
        report = check_split(
            args.data,
            split,
            labels=args.labels,
            sample_rate=args.sample_rate,
            min_samples=args.min_samples,
            audio=args.audio,
            workers=args.workers,
            progress=True,
        )
        for problem in report.errors:
            print(problem.format("error"))
        for problem in report.warnings:
            print(problem.format("warning"))
        summaries.append(summary(os.path.join(args.data, split + MANIFEST_SUFFIX), report))
        total.merge(report)
    print("summary:")
    for line in summaries:
        print(f"  {line}")
    if total.ok:
        print(f"OK: no errors in {len(args.splits)} split(s), {len(total.warnings)} warning(s)")
        return 0
    print(
        f"FAILED: {len(total.errors)} error(s) in {len(args.splits)} split(s); fix them and "
        "run this check again before training"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
