"""``python -m birq_fairseq.alignment.align_manifest DATA SPLIT``: phone alignments of an
English wav2vec manifest from its transcripts, with PocketSphinx.

Reads ``DATA/SPLIT.tsv`` and ``DATA/SPLIT.wrd`` (one transcript per manifest line) and
writes ``DATA/SPLIT.phn`` (or ``--out``): ``uid<TAB>ph1,ph2,...``, one CMU phone (or SIL)
per 10 ms frame, which ``label_quality`` and ``task.phone_alignments`` read. Utterances
that PocketSphinx cannot align (a word outside its dictionary, no path) are left out and
counted, not an error.
"""

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from ..data.manifests import read_manifest
from ..tools import tool_parser
from .phone_alignments import ALIGNMENT_SUFFIX, utterance_id, write_alignments
from .pocketsphinx_align import align_file


def main(argv=None) -> int:
    parser = tool_parser("birq_fairseq.alignment.align_manifest", __doc__,
                         epilog=__doc__.split("\n\n", 1)[1],
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="folder holding SPLIT.tsv and SPLIT.wrd")
    parser.add_argument("split", help="manifest name without .tsv")
    parser.add_argument("--out", type=Path, help=f"output (default DATA/SPLIT{ALIGNMENT_SUFFIX})")
    parser.add_argument("--workers", type=int, default=2, help="aligner processes")
    args = parser.parse_args(argv)
    data = Path(args.data)
    manifest, transcripts = data / f"{args.split}.tsv", data / f"{args.split}.wrd"
    for path in (manifest, transcripts):
        if not path.is_file():
            parser.error(f"{path}: no such file")
    root, entries = read_manifest(manifest)
    words = transcripts.read_text(encoding="utf-8").splitlines()
    if len(words) != len(entries):
        parser.error(f"{transcripts} has {len(words)} lines for the {len(entries)} entries of "
                     f"{manifest}; fix: one transcript per manifest line, in manifest order")
    paths = [str(Path(root) / rel) for rel, _ in entries]
    alignments, failures = {}, []
    with ProcessPoolExecutor(args.workers) as pool:
        results = pool.map(align_file, paths, words, chunksize=8)
        for (rel, _), result in tqdm(zip(entries, results), total=len(entries), unit="utt",
                                     desc=f"aligning {args.split}"):
            if isinstance(result, str):
                failures.append((rel, result))
            else:
                alignments[utterance_id(rel)] = result
    out = args.out or data / f"{args.split}{ALIGNMENT_SUFFIX}"
    write_alignments(out, alignments)
    print(f"{out}: {len(alignments)} of {len(entries)} utterances aligned", file=sys.stderr)
    for rel, reason in failures[:10]:
        print(f"  not aligned: {rel}: {reason}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
