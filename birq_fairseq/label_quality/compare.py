"""``python -m birq_fairseq.label_quality.compare A.json B.json ...``: the PNMI of every
label kind and the probe accuracies of several ``label_quality --json`` reports side by
side, one column per report (a pretrained model beside its random-init twin, BiRQ beside
BEST-RQ)."""

import json
import sys
from pathlib import Path

from ..tools import tool_parser

NAME_WIDTH = 40
COLUMN_WIDTH = 14


def column_name(report: dict, path: Path) -> str:
    return f"{Path(report['model']).parent.name or path.stem} ({report['kind']})"


def format_comparison(reports: list[dict], names: list[str]) -> str:
    header = f"{'PNMI (shuffled-label floor)':<{NAME_WIDTH}}" + "".join(
        f"{name[:COLUMN_WIDTH - 1]:>{COLUMN_WIDTH}}" for name in names)
    rows = [f"split {reports[0]['split']}: {reports[0]['frames']} frames, "
            f"{reports[0]['num_phones']} phones", header]
    fullest = max(reports, key=lambda r: len(r["labels"]))
    labels = list(dict.fromkeys([*fullest["labels"], *(n for r in reports for n in r["labels"])]))
    for label in labels:
        cells = []
        for report in reports:
            scores = report["labels"].get(label)
            cells.append("-" if scores is None else
                         f"{scores['pnmi']:.3f} ({scores['pnmi_chance']:.2f})")
        rows.append(f"{label:<{NAME_WIDTH}}" + "".join(f"{c:>{COLUMN_WIDTH}}" for c in cells))
    probes = list(dict.fromkeys(name for r in reports for name in r.get("probe", {})))
    if probes:
        rows.append(f"{'linear phone probe accuracy':<{NAME_WIDTH}}")
        for probe in probes:
            cells = [f"{r['probe'][probe]['accuracy']:.3f}" if probe in r.get("probe", {})
                     else "-" for r in reports]
            rows.append(f"  {probe:<{NAME_WIDTH - 2}}" + "".join(
                f"{c:>{COLUMN_WIDTH}}" for c in cells))
        majority = next(iter(reports[0]["probe"].values()))["majority"]
        rows.append(f"  {'(majority phone)':<{NAME_WIDTH - 2}}{majority:>{COLUMN_WIDTH}.3f}")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = tool_parser("birq_fairseq.label_quality.compare", __doc__)
    parser.add_argument("reports", nargs="+", type=Path, help="label_quality --json outputs")
    parser.add_argument("--names", nargs="*", help="column names (default: checkpoint folder)")
    args = parser.parse_args(argv)
    reports = [json.loads(path.read_text()) for path in args.reports]
    splits = {(r["split"], r["frames"]) for r in reports}
    if len(splits) > 1:
        parser.error(f"the reports measure different frames: {sorted(splits)}")
    names = args.names or [column_name(r, p) for r, p in zip(reports, args.reports)]
    if len(names) != len(reports):
        parser.error(f"{len(names)} --names for {len(reports)} reports")
    print(format_comparison(reports, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
