"""A copy of a manifests folder that can travel where its audio cannot: every file a manifest
names, re-encoded as FLAC (lossless, about 60 % of 16-bit PCM) or Ogg Opus (lossy, 9-30 times
smaller by its level), in numbered part folders of at most ``--part-mb`` each, with the
manifests rewritten to it and every label file beside them copied as it is.

Made for a machine that has no network and takes only so much at a time (an offline GPU
node): copy ``manifests/`` and the parts over, in as many goes as needed, then run
``--relocate`` there, which points the manifests at where the copy landed and names any part
still missing. Sample counts are kept exactly (each encoded file is read back and checked), so
the manifests' lengths, the label files and phone alignments stay valid.

    python -m birq_fairseq.data.pack_corpus data/study/manifests packed --codec opus
    python -m birq_fairseq.data.pack_corpus --relocate packed    # on the far side
"""

import json
import os
import shutil
import sys
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from ..tools import tool_parser
from .manifests import (
    MANIFEST_SUFFIX,
    ManifestError,
    ManifestLine,
    format_load_error,
    parse_manifest,
    write_lines_atomically,
    write_manifest,
)

MODULE = "birq_fairseq.data.pack_corpus"
MANIFESTS = "manifests"
PACK_INFO = "pack.json"
STAGING = ".staging"
STAGING_SETTINGS = "settings.json"
PART_NAME = "part-{:03d}"
PART_GLOB = "part-*"
# soundfile format and file suffix of each codec
CODECS = {"flac": ("FLAC", ".flac"), "opus": ("OGG", ".ogg")}
# The integer sample formats FLAC holds exactly; a float source would be rounded.
FLAC_LOSSLESS_SUBTYPES = ("PCM_S8", "PCM_16", "PCM_24")
# Opus's libsndfile setting: 0.9 gave 29.5 kbps (11.5 % of 16-bit PCM) on the study corpus,
# 1.0 gave 8.7 kbps (3.4 %); FLAC's level only trades time for a few per cent of size.
DEFAULT_LEVELS = {"opus": 0.9, "flac": 0.5}


@dataclass(frozen=True)
class AudioFile:
    """One audio file that some manifest names: where it is, where its copy goes (relative
    to the pack, before a part folder is chosen), its length, and the first manifest line
    naming it (for error messages)."""

    source: Path
    packed: Path
    num_samples: int
    named_at: str


def manifest_paths(manifests: Path) -> list[Path]:
    """Every manifest below ``manifests``, in a fixed order (parts are filled in it)."""
    return sorted(manifests.rglob("*" + MANIFEST_SUFFIX))


def read_entries(path: Path, root_may_be_gone: bool = False) -> tuple[str, list[ManifestLine]]:
    """A manifest's root line and entries, refusing one with any problem, except (with
    ``root_may_be_gone``) a root that does not exist here: a pack's manifests still name the
    folder they were written in until ``--relocate`` rewrites it."""
    parsed = parse_manifest(path)
    problems = [problem for problem in parsed.problems
                if not (root_may_be_gone and problem.line == 1 and parsed.header
                        and "\t" not in parsed.header)]
    if problems:
        raise ManifestError(format_load_error(path.parent, path.stem, problems))
    return parsed.header, parsed.entries


def collect_audio(manifests: Path, suffix: str) -> tuple[list[AudioFile], dict]:
    """Every audio file the manifests under ``manifests`` name, once each, and each
    manifest's entries as (source path, length). Packed names keep each file's path below
    the common folder of all of them (paths are normalised, links not followed), so files
    of different manifests never collide; two that would (``a.wav`` beside ``a.flac``) are
    refused."""
    read = {path: read_entries(path) for path in manifest_paths(manifests)}
    if not read:
        raise FileNotFoundError(f"{manifests}: no {MANIFEST_SUFFIX} manifests below it; give "
                                "the folder that holds the splits' manifests")
    sources = {path: [(entry, Path(os.path.normpath(os.path.abspath(root) + "/"
                                                     + entry.rel_path)))
                      for entry in lines]
               for path, (root, lines) in read.items()}
    every_source = [str(source) for pairs in sources.values() for _, source in pairs]
    common = Path(os.path.commonpath(every_source)) if every_source else manifests
    if len(set(every_source)) == 1:
        common = common.parent
    audio: dict[Path, AudioFile] = {}
    packed_by: dict[Path, AudioFile] = {}
    entries = {}
    for path, pairs in sources.items():
        entries[path] = []
        for entry, source in pairs:
            where = f"{path}:{entry.line}"
            entries[path].append((source, entry.num_samples))
            if source in audio:
                if audio[source].num_samples != entry.num_samples:
                    raise ValueError(f"{where}: {entry.num_samples} samples, but "
                                     f"{audio[source].named_at} gives "
                                     f"{audio[source].num_samples} for the same file {source}; "
                                     "fix: rerun check_data on both")
                continue
            packed = source.relative_to(common).with_suffix(suffix)
            if packed in packed_by:
                raise ValueError(f"{where}: {source} and {packed_by[packed].source} (named at "
                                 f"{packed_by[packed].named_at}) would both be packed as "
                                 f"{packed}; fix: rename one of them")
            audio[source] = packed_by[packed] = AudioFile(source, packed, entry.num_samples,
                                                          where)
    return sorted(audio.values(), key=lambda item: str(item.packed)), entries


def encode(item: AudioFile, destination: Path, codec: str, level: float) -> int:
    """Writes ``item`` to ``destination`` in ``codec`` (FLAC in the source's own integer
    sample format, so that it is lossless), reads the copy's length back and returns its
    size in bytes; a file that cannot be read or copied exactly raises naming the manifest
    line."""
    file_format, _ = CODECS[codec]
    try:
        with sf.SoundFile(str(item.source)) as source:
            subtype, rate = source.subtype, source.samplerate
            audio = source.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise ValueError(f"{item.named_at}: cannot read {item.source}: {error}; fix: run "
                         f"python -m birq_fairseq.check_data on that manifest") from error
    if len(audio) != item.num_samples:
        raise ValueError(f"{item.named_at}: {item.source} has {len(audio)} samples, the "
                         f"manifest says {item.num_samples}; fix: run check_data on it")
    if codec == "flac":
        subtype = {"PCM_U8": "PCM_S8"}.get(subtype, subtype)  # FLAC has signed 8-bit only
        if subtype not in FLAC_LOSSLESS_SUBTYPES:
            raise ValueError(f"{item.named_at}: {item.source} holds {subtype} samples, which "
                             "FLAC cannot keep exactly; fix: convert it to 16-bit PCM, or "
                             "use --codec opus")
    else:
        subtype = "OPUS"
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".tmp")
    try:
        sf.write(str(temporary), audio, rate, format=file_format, subtype=subtype,
                 compression_level=level)
        copied = sf.info(str(temporary)).frames
    except (sf.LibsndfileError, RuntimeError) as error:
        temporary.unlink(missing_ok=True)
        raise ValueError(f"{item.named_at}: cannot write {item.source} as {codec} at "
                         f"{rate} Hz: {error}; fix: use --codec flac (Opus takes 8, 12, 16, "
                         "24 and 48 kHz)") from error
    if copied != item.num_samples:
        temporary.unlink(missing_ok=True)
        raise ValueError(f"{item.named_at}: the {codec} copy of {item.source} has {copied} "
                         f"samples, not {item.num_samples}; fix: use --codec flac")
    os.replace(temporary, destination)
    return destination.stat().st_size


def encode_all(jobs: list[tuple[AudioFile, Path, str, float]], workers: int) -> None:
    """Encodes on ``workers`` processes and stops at the first failure, cancelling what has
    not started, so that its message comes at once rather than after the whole corpus."""
    with ProcessPoolExecutor(max(1, workers)) as pool:
        futures = [pool.submit(encode, *job) for job in jobs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future for future in done if future.exception() is not None]
        if failed:
            for future in pending:
                future.cancel()
            raise failed[0].exception()


def assign_parts(sizes: Iterable[tuple[AudioFile, int]], part_bytes: int) -> dict[Path, str]:
    """Packed name -> part folder, filling parts in name order up to ``part_bytes`` each (a
    file larger than that gets a part of its own)."""
    parts, part, filled = {}, 0, 0
    for item, size in sizes:
        if filled and filled + size > part_bytes:
            part, filled = part + 1, 0
        parts[item.packed] = PART_NAME.format(part)
        filled += size
    return parts


def prepare_staging(out: Path, codec: str, level: float) -> Path:
    """The folder of encoded files before they are split into parts. An interrupted run's
    files are kept only when they were made with the same codec and level; an ``out`` that
    already holds a finished pack is refused rather than mixed into the new one."""
    finished = [path.name for path in (out / MANIFESTS, out / PACK_INFO) if path.exists()]
    finished += sorted(path.name for path in out.glob(PART_GLOB))
    if finished:
        raise FileExistsError(f"{out} already holds a pack ({', '.join(finished[:4])}); fix: "
                              "remove it, or choose another OUT")
    staging = out / STAGING
    settings = {"codec": codec, "level": level}
    recorded = staging / STAGING_SETTINGS
    if staging.exists() and (not recorded.exists()
                             or json.loads(recorded.read_text()) != settings):
        shutil.rmtree(staging)  # encoded otherwise: start over
    staging.mkdir(parents=True, exist_ok=True)
    write_lines_atomically(recorded, [json.dumps(settings)])
    return staging


def pack(manifests: Path, out: Path, codec: str, level: float, part_mb: float,
         workers: int) -> dict:
    """Encodes, splits into parts and writes ``out/manifests`` and ``out/pack.json``."""
    manifests, out = manifests.resolve(), out.resolve()
    audio, entries = collect_audio(manifests, CODECS[codec][1])
    staging = prepare_staging(out, codec, level)
    encode_all([(item, staging / item.packed, codec, level) for item in audio
                if not (staging / item.packed).exists()], workers)
    sizes = [(item, (staging / item.packed).stat().st_size) for item in audio]
    part_bytes = int(part_mb * 2**20)
    oversized = [item.named_at for item, size in sizes if size > part_bytes]
    if oversized:
        print(f"pack_corpus: {len(oversized)} files are larger than --part-mb {part_mb} alone "
              f"(first named at {oversized[0]}); each gets a part of its own", file=sys.stderr)
    parts = assign_parts(sizes, part_bytes)
    for item in audio:
        destination = out / parts[item.packed] / item.packed
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / item.packed, destination)
    shutil.rmtree(staging)
    packed_name = {item.source: Path(parts[item.packed]) / item.packed for item in audio}
    for manifest in manifest_paths(manifests):
        target = out / MANIFESTS / manifest.relative_to(manifests)
        write_manifest(target, out, ((packed_name[source], num_samples)
                                     for source, num_samples in entries[manifest]))
    for label in manifests.rglob("*"):  # transcripts, alignments, dictionaries
        if label.is_file() and label.suffix != MANIFEST_SUFFIX:
            target = out / MANIFESTS / label.relative_to(manifests)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(label, target)
    part_info: dict[str, dict] = {}
    for item, size in sizes:
        meta = part_info.setdefault(parts[item.packed], {"files": 0, "bytes": 0})
        meta["files"] += 1
        meta["bytes"] += size
    info = {"codec": codec, "level": level, "source": str(manifests), "files": len(audio),
            "source_bytes": sum(item.source.stat().st_size for item in audio),
            "parts": dict(sorted(part_info.items()))}
    write_lines_atomically(out / PACK_INFO, [json.dumps(info, indent=1)])
    return info


def relocate(out: Path) -> int:
    """Points every manifest under ``out/manifests`` at ``out`` as it is now, after checking
    that every part arrived whole (its file count and bytes as packed)."""
    out = out.resolve()
    if not (out / PACK_INFO).is_file():
        raise FileNotFoundError(f"{out}: no {PACK_INFO}; give the folder that pack_corpus "
                                "wrote (its manifests/, part-* folders and pack.json)")
    expected = json.loads((out / PACK_INFO).read_text())["parts"]
    problems = []
    for name, meta in expected.items():
        files = [path for path in (out / name).rglob("*") if path.is_file()]
        arrived = (len(files), sum(path.stat().st_size for path in files))
        if arrived != (meta["files"], meta["bytes"]):
            problems.append(f"{name} ({arrived[0]} of {meta['files']} files, {arrived[1]} of "
                            f"{meta['bytes']} bytes)")
    if problems:
        raise FileNotFoundError(f"{out}: parts missing or incomplete: {', '.join(problems)}; "
                                "fix: copy them there again, then run --relocate again")
    count = 0
    for manifest in manifest_paths(out / MANIFESTS):
        _, lines = read_entries(manifest, root_may_be_gone=True)
        absent = [entry for entry in lines if not (out / entry.rel_path).is_file()]
        if absent:
            raise FileNotFoundError(f"{manifest}:{absent[0].line}: {absent[0].rel_path} is "
                                    f"not below {out} ({len(absent)} files of this manifest "
                                    "are missing); fix: copy that part again")
        write_manifest(manifest, out, ((entry.rel_path, entry.num_samples) for entry in lines))
        count += 1
    return count


def main(argv=None) -> int:
    """Packs MANIFESTS into OUT, or with ``--relocate`` checks and repoints a copied pack."""
    parser = tool_parser(MODULE, __doc__)
    parser.add_argument("manifests", nargs="?", type=Path,
                        help="folder of the manifests to pack (searched recursively)")
    parser.add_argument("out", nargs="?", type=Path, help="the pack's folder")
    parser.add_argument("--codec", choices=sorted(CODECS), default="flac",
                        help="flac: lossless, about 60 %% of 16-bit PCM; opus: lossy, see "
                        "--level")
    parser.add_argument("--level", type=float, default=None,
                        help="libsndfile compression level in [0, 1] (default: "
                        f"{DEFAULT_LEVELS['opus']} for opus, {DEFAULT_LEVELS['flac']} for "
                        "flac); for opus higher is smaller and lossier")
    parser.add_argument("--part-mb", type=float, default=40.0,
                        help="most MiB of audio per part folder (default 40)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="encoding processes (default: one per core)")
    parser.add_argument("--relocate", type=Path, metavar="PACK",
                        help="on the far side, instead of packing: point the manifests under "
                        "PACK/manifests at PACK and check that every part arrived")
    args = parser.parse_args(argv)
    try:
        if args.relocate:
            count = relocate(args.relocate)
            print(f"{count} manifests now point at {args.relocate.resolve()}")
            return 0
        if args.out is None:
            parser.error("give MANIFESTS and OUT (or --relocate PACK)")
        level = args.level if args.level is not None else DEFAULT_LEVELS[args.codec]
        if not 0.0 <= level <= 1.0:
            parser.error(f"--level {level}: give a value in [0, 1]")
        if args.part_mb <= 0:
            parser.error(f"--part-mb {args.part_mb}: give a size above 0")
        info = pack(args.manifests, args.out, args.codec, level, args.part_mb, args.workers)
    except (OSError, ValueError) as error:  # ManifestError is a ValueError
        print(f"pack_corpus: {error}", file=sys.stderr)
        return 1
    except BrokenProcessPool as error:
        print(f"pack_corpus: an encoding process died ({error}); fix: run again with fewer "
              "--workers (memory), the files encoded so far are kept", file=sys.stderr)
        return 1
    total = sum(part["bytes"] for part in info["parts"].values())
    print(f"{info['files']} files, {info['source_bytes'] / 2**20:.1f} MiB -> "
          f"{total / 2**20:.1f} MiB of {info['codec']} in {len(info['parts'])} parts under "
          f"{args.out}; manifests in {args.out / MANIFESTS}")
    for name, part in info["parts"].items():
        print(f"  {name}: {part['files']} files, {part['bytes'] / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
