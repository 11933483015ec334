"""Dumps one encoder layer's features of a BiRQ / BEST-RQ checkpoint for a manifest:
``python -m birq_fairseq.export_features CHECKPOINT DATA SPLIT OUT_DIR --layer L``.

For probes and k-means: the default output is HuBERT's feature-dump layout
(``{split}_{shard}_{num_shards}.npy`` holding every frame of the shard, float32
(frames, dim), and ``.len`` with each utterance's frame count in manifest order), which
fairseq's ``examples/hubert/simple_kmeans`` scripts read; ``--format per-utterance``
writes one ``.npy`` per utterance instead, named after its audio file. Pretrained
(``birq``) and fine-tuned (``wav2vec_ctc`` on a birq encoder) checkpoints both work.
"""

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from . import plugin  # noqa: F401  (registers the birq model; checkpoint classes)
from .data.manifests import format_load_error, parse_manifest
from .label_quality.loading import load_checkpoint_model
from .models.birq import BirqModel
from .tools import tool_parser

# Utterances are read in windows of manifest order and batched by length inside a window:
# padding stays small and at most one window of features waits to be written in order.
WINDOW = 256


@dataclass
class Encoder:
    model: BirqModel
    normalize: bool  # the task's waveform normalisation, as training saw it


def load_encoder(path: str) -> Encoder:
    """The birq encoder of a pretraining or fine-tuning checkpoint, without its heads."""
    loaded = load_checkpoint_model(Path(path))
    loaded.model.remove_pretraining_modules()
    return Encoder(loaded.model.eval(), loaded.normalize)


def read_audio(path: Path, manifest: str, line: int, sample_rate: int) -> np.ndarray:
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise ValueError(f"{manifest}:{line}: cannot read {path}: {error}") from error
    if rate != sample_rate:
        raise ValueError(
            f"{manifest}:{line}: {path} is {rate} Hz; the model takes {sample_rate} Hz: "
            "resample with python -m birq_fairseq.data.prepare_corpus"
        )
    return audio.mean(axis=1)


def batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped by similar length so padding stays small; each batch holds at most
    ``max_tokens`` padded samples (a longer utterance goes alone)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups, current = [], []
    for index in order:
        if current and lengths[index] * (len(current) + 1) > max_tokens:
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups


@torch.no_grad()
def layer_features(encoder: Encoder, waveforms: list[np.ndarray], layer: int,
                   device: torch.device) -> list[np.ndarray]:
    """``layer`` 0 is the subsampled encoder input, L >= 1 the output of Conformer block L;
    returns (frames, dim) per utterance, padding frames removed."""
    samples = [torch.from_numpy(wave) for wave in waveforms]
    if encoder.normalize:
        samples = [F.layer_norm(wave, wave.shape) for wave in samples]
    source = pad_sequence(samples, batch_first=True)
    lengths = torch.tensor([len(wave) for wave in samples])
    padding = torch.arange(source.size(1))[None, :] >= lengths[:, None]
    out = encoder.model.extract_features(source.to(device), padding.to(device), layer=layer - 1)
    features = out["x"].float().cpu()
    valid = (~out["padding_mask"]).sum(dim=1).tolist()
    return [features[row, :frames].numpy() for row, frames in enumerate(valid)]


class HubertDumpWriter:
    """Streams frames into ``{name}.npy`` (header written last, so a shard of any size is
    never held in memory) and frame counts into ``{name}.len``."""

    def __init__(self, out_dir: Path, name: str):
        self.npy, self.len = out_dir / f"{name}.npy", out_dir / f"{name}.len"
        self.part = out_dir / f"{name}.npy.part"
        self.raw = open(self.part, "wb")
        self.counts: list[int] = []
        self.dim = 0

    def add(self, features: np.ndarray) -> None:
        self.raw.write(np.ascontiguousarray(features, dtype=np.float32).tobytes())
        self.counts.append(len(features))
        self.dim = features.shape[1]

    def close(self) -> None:
        self.raw.close()
        header = {"descr": "<f4", "fortran_order": False, "shape": (sum(self.counts), self.dim)}
        with open(self.npy, "wb") as out, open(self.part, "rb") as raw:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out)
        self.part.unlink()
        self.len.write_text("".join(f"{count}\n" for count in self.counts))


def main(argv=None) -> int:
    parser = tool_parser("birq_fairseq.export_features", __doc__)
    parser.add_argument("checkpoint", help="birq pretraining or wav2vec_ctc fine-tuning .pt")
    parser.add_argument("data", help="folder holding the manifest SPLIT.tsv")
    parser.add_argument("split", help="manifest name without .tsv (train, valid, ...)")
    parser.add_argument("out_dir", help="folder for the features")
    parser.add_argument("--layer", type=int, required=True,
                        help="0: subsampled encoder input; L >= 1: output of Conformer block L")
    parser.add_argument("--format", choices=["hubert", "per-utterance"], default="hubert",
                        help="hubert: one .npy + .len per shard; per-utterance: a .npy each")
    parser.add_argument("--max-tokens", type=int, default=1_600_000,
                        help="padded audio samples per batch")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device to run the encoder on (default %(default)s)")
    parser.add_argument("--shard-id", type=int, default=0, help="this job's shard (0-based)")
    parser.add_argument("--num-shards", type=int, default=1,
                        help="split the manifest into this many contiguous shards")
    args = parser.parse_args(argv)
    if not 0 <= args.shard_id < args.num_shards:
        parser.error("need 0 <= --shard-id < --num-shards")

    manifest = str(Path(args.data) / f"{args.split}.tsv")
    if not Path(manifest).is_file():
        parser.error(f"{manifest}: no such manifest")
    parsed = parse_manifest(manifest)
    if parsed.problems:
        parser.error(format_load_error(args.data, args.split, parsed.problems))
    encoder = load_encoder(args.checkpoint)
    num_layers = len(encoder.model.encoder.layers)
    if not 0 <= args.layer <= num_layers:
        parser.error(f"--layer {args.layer}: this encoder has layers 0..{num_layers}")
    device = torch.device(args.device)
    encoder.model.to(device)

    bounds = np.linspace(0, len(parsed.entries), args.num_shards + 1).round().astype(int)
    entries = parsed.entries[bounds[args.shard_id]:bounds[args.shard_id + 1]]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{args.split}_{args.shard_id}_{args.num_shards}"
    writer = HubertDumpWriter(out_dir, name) if args.format == "hubert" else None
    with tqdm(total=len(entries), desc=f"layer {args.layer} of {name}", unit="utt") as progress:
        for start in range(0, len(entries), WINDOW):
            window = entries[start:start + WINDOW]
            features: dict[int, np.ndarray] = {}
            for group in batches([e.num_samples for e in window], args.max_tokens):
                waves = [read_audio(Path(parsed.root) / window[i].rel_path, manifest,
                                    window[i].line, encoder.model.cfg.sample_rate)
                         for i in group]
                features.update(zip(group, layer_features(encoder, waves, args.layer, device)))
                progress.update(len(group))
            for i, entry in enumerate(window):
                if writer is not None:
                    writer.add(features[i])
                else:
                    target = out_dir / Path(entry.rel_path).with_suffix(".npy")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    np.save(target, features[i])
    if writer is not None:
        writer.close()
        print(f"{writer.npy}: {sum(writer.counts)} frames x {writer.dim}; {writer.len}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
