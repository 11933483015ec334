"""Runs a model over the aligned utterances of a manifest and keeps, for every 40 ms frame
that has a phone, the phone, the model's labels and the features to cluster or probe."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from ..alignment.phone_alignments import PhoneInventory, at_label_rate, utterance_id
from ..data.manifests import read_manifest
from ..export_features import batches, read_audio
from ..modules.subsampling import SUBSAMPLING_FACTOR
from .input_features import mfcc_from_log_mel, stack
from .loading import LoadedModel

LOG_MEL, MFCC = "log-mel", "mfcc"


def layer_name(layer: int) -> str:
    return f"layer {layer}"


@dataclass
class AlignedFrames:
    phones: np.ndarray  # (N,) phone ids
    utterance: np.ndarray  # (N,) index of the utterance each frame belongs to
    labels: dict[str, np.ndarray]  # (N,) codes: "anchor", "enhanced", "gumbel"
    features: dict[str, np.ndarray]  # (N, D): LOG_MEL, MFCC, layer_name(L)
    inventory: PhoneInventory
    utterances: int  # aligned utterances used
    unaligned: int  # manifest entries without an alignment, skipped
    skipped_ids: list[str] = field(default_factory=list)


def _gather(chunks: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


@torch.no_grad()
def extract_aligned_frames(
    loaded: LoadedModel,
    data: str,
    split: str,
    alignments: dict[str, Sequence[str]],
    layers: Sequence[int],
    max_tokens: int,
    seed: int,
    device: torch.device,
) -> AlignedFrames:
    model = loaded.model.to(device).eval()
    manifest = str(Path(data) / f"{split}.tsv")
    root, entries = read_manifest(manifest)
    aligned = [(line, rel, n) for line, (rel, n) in enumerate(entries, start=2)
               if utterance_id(rel) in alignments]
    skipped = [utterance_id(rel) for rel, _ in entries if utterance_id(rel) not in alignments]
    if not aligned:
        raise ValueError(f"{manifest}: none of its {len(entries)} utterances has an alignment; "
                         "are the alignment's uids the manifest paths without suffix?")
    inventory = PhoneInventory.of(alignments)
    labels: dict[str, list] = defaultdict(list)
    features: dict[str, list] = defaultdict(list)
    phones, owners = [], []
    sample_rate = model.cfg.sample_rate
    groups = batches([n for _, _, n in aligned], max_tokens)
    with tqdm(total=len(aligned), desc=f"labels of {split}", unit="utt") as progress:
        for batch_index, group in enumerate(groups):
            waves = [torch.from_numpy(read_audio(Path(root) / aligned[i][1], manifest,
                                                 aligned[i][0], sample_rate)) for i in group]
            if loaded.normalize:
                waves = [F.layer_norm(wave, wave.shape) for wave in waves]
            source = pad_sequence(waves, batch_first=True).to(device)
            lengths = torch.tensor([len(wave) for wave in waves], device=device)
            padding = torch.arange(source.size(1), device=device)[None, :] >= lengths[:, None]
            out = model.frame_labels(source, padding, seed * 100003 + batch_index, True)
            log_mel = model.frontend.log_mel(source).cpu().numpy()
            frames = out["valid"].sum(dim=1).tolist()
            for row, index in enumerate(group):
                count = frames[row]
                ids = at_label_rate(inventory.encode(alignments[utterance_id(aligned[index][1])]),
                                    count)
                keep = ids >= 0
                phones.append(ids[keep])
                owners.append(np.full(int(keep.sum()), index))
                labels["anchor"].append(out["anchor"][row, :count, 0].cpu().numpy()[keep])
                for kind, key in (("enhanced", "enhanced_nearest"), ("gumbel", "enhanced_pick")):
                    if key in out:
                        labels[kind].append(out[key][row, :count].cpu().numpy()[keep])
                feats = out["feats"][row, : SUBSAMPLING_FACTOR * count].cpu().numpy()
                features[LOG_MEL].append(stack(feats, SUBSAMPLING_FACTOR, count)[keep])
                mfcc = mfcc_from_log_mel(log_mel[row, : SUBSAMPLING_FACTOR * count])
                features[MFCC].append(stack(mfcc, SUBSAMPLING_FACTOR, count)[keep])
                for layer in layers:
                    hidden = out["layers"][layer - 1][row, :count].float().cpu().numpy()
                    features[layer_name(layer)].append(hidden[keep])
            progress.update(len(group))
    return AlignedFrames(
        phones=np.concatenate(phones),
        utterance=np.concatenate(owners),
        labels=_gather(labels),
        features=_gather(features),
        inventory=inventory,
        utterances=len(aligned),
        unaligned=len(skipped),
        skipped_ids=skipped,
    )
